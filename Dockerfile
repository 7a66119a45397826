# syntax=docker/dockerfile:1
# Percolate-TS images: one build, three targets (the same files, another command).
#
#   docker build --target api     -t percolate-api .
#   docker build --target gateway -t percolate-gateway .
#   docker build --target worker  -t percolate-worker .
#
# The build stage compiles the TypeScript to dist/ (`npm run build`, tsconfig.build.json) and keeps the production
# dependencies only; the runtime stage holds package.json, node_modules and dist/, runs `node dist/...` (no tsx, no .ts
# file) as uid 10001, keeps its data in /data and its temporary files in /tmp, and works on a read-only root filesystem
# (in Kubernetes: readOnlyRootFilesystem, an emptyDir at /tmp, a volume at /data). test/production-build.test.ts
# replays this file's COPY lines and runs its CMDs against the compiled output.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
# hnswlib-node is compiled by node-gyp at install; classic-level and onnxruntime-node ship prebuilt binaries
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# onnxruntime-node's install script downloads extra files: skipped, its CPU runtime ships inside the package
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
# node-gyp uses the image's own headers when it has them (no download), else fetches the ones of this Node version
RUN if [ -f /usr/local/include/node/node.h ]; then export npm_config_nodedir=/usr/local; fi \
  && npm ci --no-audit --no-fund \
  && node -e "require('hnswlib-node'); require('classic-level')"
COPY tsconfig.json tsconfig.build.json ./
COPY client client
COPY services services
COPY shared shared
COPY scripts scripts
# onnxruntime-node ships its runtime for five platforms (about 290 MB): the image keeps its own (about 45 MB)
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund \
  && keep="$(node -p 'process.platform + "/" + process.arch')" \
  && for d in node_modules/onnxruntime-node/bin/napi-v6/*/*; do \
    case "$d" in */"$keep") ;; *) rm -rf "$d" ;; esac; \
  done \
  && node -e "require('onnxruntime-node'); require('hnswlib-node'); require('classic-level')"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PERCOLATE_DATA_DIR=/data \
  TMPDIR=/tmp
RUN groupadd --system --gid 10001 percolate \
  && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin percolate \
  && mkdir -p /data \
  && chown 10001:10001 /data \
  && printf '#!/bin/sh\nexec node /app/dist/scripts/percolate.js "$@"\n' > /usr/local/bin/percolate \
  && chmod 755 /usr/local/bin/percolate
WORKDIR /app
# root-owned and read-only for the service user: only /data and /tmp are written
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 10001:10001
VOLUME ["/data"]

FROM runtime AS api
EXPOSE 8080
CMD ["node", "dist/services/api/main.js"]

FROM runtime AS gateway
EXPOSE 8081
CMD ["node", "dist/services/gateway/main.js"]

FROM runtime AS worker
EXPOSE 8082
CMD ["node", "dist/services/worker/main.js"]

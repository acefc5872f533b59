# gradsync's image: Node 20 slim, the native kernels built in the image, run as a non-root user.
# The same path as `npm install gradsync-*.tgz` (test/integration/pack.integration.ts): the build
# stage packs this checkout and installs the tarball, compiling the native kernels there; the
# runtime stage holds only the installed package, without compilers. The kernels select the
# instruction set at run time (docs/kernels.md), so the image runs on any x86-64 node.
#
#   docker build -t gradsync:0.1.0 .
#   docker run --rm gradsync:0.1.0 train          # the embedded default
# On a cluster: deploy/kubernetes/ and docs/cluster.md.

FROM node:20-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.json binding.gyp ./
COPY bin ./bin
COPY src ./src
COPY workers ./workers
COPY scripts ./scripts
COPY native ./native
COPY wasm ./wasm
COPY config ./config
COPY docs ./docs
COPY README.md ./
# npm ci builds dist/ (prepare) and the native kernels (install); the tarball is what npm pack keeps
RUN npm ci --no-audit --no-fund \
 && npm pack --ignore-scripts --pack-destination /tmp
WORKDIR /app
RUN echo '{"name":"gradsync-image","version":"1.0.0","private":true}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /tmp/gradsync-*.tgz \
 && test -f node_modules/gradsync/build/Release/gradsync_kernels.node

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
# the image's own user (uid 1000 in node:20-slim): nothing runs as root
USER node
ENTRYPOINT ["node", "/app/node_modules/gradsync/bin/gradsync.js"]
CMD ["--help"]

# meshnet-ts node image: meshnetd (the daemon the DaemonSet in deploy/ runs) plus the exec shim it
# installs into each node's CNI bin directory. Two stages: build everything with the full Node
# image (npm ci, esbuild bundles, the statically linked C shim), then copy only the assembled
# /meshnet tree (scripts/image-layout.sh: bundles, shim, koffi's native module for this platform)
# onto the slim Node 20 runtime. CI builds it with podman over local stand-ins of the two node
# images and runs it as the DaemonSet does (test/e2e/image-podman.test.ts); test/e2e/image.test.ts
# checks every path the Dockerfile and the DaemonSet name.
#   docker build --build-arg MESHNET_COMMIT=$(git rev-parse HEAD) -t meshnet-ts:dev .
FROM node:20-bookworm AS build
# The commit --version and meshnetd_build_info report (.git is not in the build context).
ARG MESHNET_COMMIT=unknown
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY scripts ./scripts
COPY src ./src
COPY bench ./bench
RUN node scripts/build.mjs && bash scripts/image-layout.sh /out

FROM node:20-bookworm-slim
COPY --from=build /out/meshnet /meshnet
ENV NODE_ENV=production
ENTRYPOINT ["node", "--max-semi-space-size=2", "/meshnet/dist/meshnetd"]

#!/usr/bin/env bash
# Assembles what the container image holds under /meshnet, from a finished build (dist/): the
# bundles, the statically linked exec shim, and the one runtime dependency the bundles load from
# node_modules (koffi, with only this machine's native build). The Dockerfile runs exactly this;
# so does the test that checks every path the DaemonSet and the Dockerfile name.
#   usage: scripts/image-layout.sh OUT    (creates OUT/meshnet)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: image-layout.sh OUT}"
[ -x dist/meshnetd ] && [ -x dist/cni/meshnet ] || { echo "image-layout: run the build first (node scripts/build.mjs)" >&2; exit 1; }
target="$(node -p 'process.platform + "_" + process.arch')"
rm -rf "$out/meshnet"
mkdir -p "$out/meshnet/node_modules/koffi/build/koffi"
# What a node runs: meshnetd, the exec shim and plugins it installs, the plugin's JavaScript build,
# kmesh's installer. Not the lab's tools: meshnetctl (the lab and demo), bench.cjs and the lab's
# sandbox program are most of dist/ by size and have no use on a cluster node.
mkdir -p "$out/meshnet/dist"
cp -r dist/meshnetd dist/kmesh-installer dist/package.json dist/cni dist/lib "$out/meshnet/dist/"
# koffi's JavaScript and its native module for this platform only (the package ships 18).
cp node_modules/koffi/package.json node_modules/koffi/index.js node_modules/koffi/indirect.js node_modules/koffi/LICENSE.txt "$out/meshnet/node_modules/koffi/"
cp -r "node_modules/koffi/build/koffi/$target" "$out/meshnet/node_modules/koffi/build/koffi/$target"
echo "image layout in $out/meshnet ($target)"

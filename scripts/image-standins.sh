#!/usr/bin/env bash
# Local stand-ins for the two images the Dockerfile starts from, for machines that cannot pull
# them (no registry reachable): node:20-bookworm (the build stage: Debian bookworm with a C
# toolchain) and node:20-bookworm-slim (the runtime), each a Debian bookworm root file system made
# by mmdebstrap plus this machine's Node 20 laid out as the official images lay it out
# (/usr/local/bin/node, npm under /usr/local/lib/node_modules). They are stand-ins, not the
# official images: labelled so (org.meshnet-ts.stand-in), tagged with the names the Dockerfile
# uses, and made only when missing. The build stand-in trusts what this machine trusts (its CA
# bundle, as NODE_EXTRA_CA_CERTS): a machine that reaches the npm registry through a proxy with its
# own CA needs that for the Dockerfile's `npm ci` to work unchanged.
#   usage: scripts/image-standins.sh PODMAN_ARGS...   (e.g. --root DIR --runroot DIR)
set -euo pipefail
podman=(podman "$@")
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
[ "$("$node_bin" -p 'process.versions.node.split(".")[0]')" = 20 ] || { echo "image-standins: needs Node 20 on this machine" >&2; exit 1; }
[ -f "$npm_dir/package.json" ] || { echo "image-standins: cannot find npm's directory (looked at $npm_dir)" >&2; exit 1; }

# The official images' Node layout, added to the root file system mmdebstrap made ($1).
hook="mkdir -p \"\$1/usr/local/bin\" \"\$1/usr/local/lib/node_modules\"
cp '$node_bin' \"\$1/usr/local/bin/node\"
cp -a '$npm_dir' \"\$1/usr/local/lib/node_modules/npm\"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\""

make() {
  local tag="$1" include="$2" trust_host_ca="$3"
  if "${podman[@]}" image exists "$tag"; then return 0; fi
  local tmp extra_hook='' extra_env=()
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  local host_ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
  if [ "$trust_host_ca" = yes ] && [ -f "$host_ca" ]; then
    extra_hook="cp '$host_ca' \"\$1/usr/local/share/host-extra-ca.crt\""
    extra_env=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/host-extra-ca.crt')
  fi
  echo "image-standins: building $tag (Debian bookworm from mmdebstrap + Node $("$node_bin" --version) of this machine)" >&2
  mmdebstrap --quiet --variant=minbase --mode=root --format=tar ${include:+--include="$include"} \
    --customize-hook="$hook" ${extra_hook:+--customize-hook="$extra_hook"} bookworm "$tmp/rootfs.tar" >&2
  "${podman[@]}" import --quiet "${extra_env[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    --change "LABEL org.meshnet-ts.stand-in=\"local stand-in for $tag: Debian bookworm (mmdebstrap) + Node $("$node_bin" --version)\"" \
    "$tmp/rootfs.tar" "$tag" >/dev/null
}

make docker.io/library/node:20-bookworm-slim '' no
make docker.io/library/node:20-bookworm 'gcc,libc6-dev,make,git,ca-certificates,python3' yes

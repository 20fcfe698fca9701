#!/usr/bin/env bash
# Installs what the project needs on a bare Debian 12 machine with Node 20, then builds.
# Idempotent and quiet when everything is present; every npm script that runs code calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "meshnet-ts needs root (it creates network namespaces and links): run it with sudo" >&2
  exit 1
fi

need=()
command -v ip >/dev/null       || need+=(iproute2)
command -v ping >/dev/null     || need+=(iputils-ping)
command -v iperf3 >/dev/null   || need+=(iperf3)
command -v socat >/dev/null    || need+=(socat)     # the C relay the grpc-wire bench compares against
command -v tcpdump >/dev/null  || need+=(tcpdump)
command -v nsenter >/dev/null  || need+=(util-linux)
command -v cc >/dev/null       || need+=(gcc libc6-dev)
[ -x /usr/lib/cni/bridge ]     || need+=(containernetworking-plugins)
command -v etcd >/dev/null     || need+=(etcd-server)
command -v etcdctl >/dev/null  || need+=(etcd-client)
command -v iptables >/dev/null || need+=(iptables)
command -v openssl >/dev/null  || need+=(openssl)
command -v kubectl >/dev/null  || need+=(kubernetes-client)
[ -x /usr/lib/frr/ospfd ]      || need+=(frr)
command -v chromium >/dev/null || need+=(chromium)
# A node's container runtime (labs with runtime: containerd, the node-lifecycle tests) and the
# image build (podman with runc; mmdebstrap for the local stand-ins of the base images).
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null     || need+=(runc)
command -v podman >/dev/null   || need+=(podman)
command -v buildah >/dev/null  || need+=(buildah)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
# Container pods in the lab tests run a busybox image made from it (test/helpers/images.ts).
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)  # static: it runs in an image
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # frr and containerd (run inside lab nodes by tests) must not start as services on this host.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

node scripts/build.mjs >/dev/null

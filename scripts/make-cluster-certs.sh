#!/usr/bin/env bash
# Certificates for meshnetd's mTLS between daemons on a cluster (deploy/overlays/*-mtls): one CA,
# one certificate per node naming the node and its InternalIP addresses (the addresses its daemon
# connects from), and the Secret meshnet/meshnet-peer-tls holding the CA certificate and every
# node's certificate and key (never the CA key, which stays in DIR).
#
#   scripts/make-cluster-certs.sh DIR      (kubectl's current context; KUBECONFIG as usual)
#
# Run it again when nodes join: the CA in DIR is reused and the Secret updated; meshnetd reads its
# files at start, so restart the DaemonSet's pods of new or renewed nodes.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: scripts/make-cluster-certs.sh DIR" >&2
  exit 2
fi
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
command -v kubectl >/dev/null || { echo "make-cluster-certs: kubectl is needed" >&2; exit 1; }
nodes=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{range .status.addresses[?(@.type=="InternalIP")]}{" "}{.address}{end}{"\n"}{end}')
if [ -z "$nodes" ]; then
  echo "make-cluster-certs: the cluster lists no nodes" >&2
  exit 1
fi
files=()
while read -r name ips; do
  [ -n "$name" ] || continue
  if [ -z "$ips" ]; then
    echo "make-cluster-certs: node $name has no InternalIP address; its daemon could not be named" >&2
    exit 1
  fi
  # shellcheck disable=SC2086 # one argument per address
  bash "$here/make-certs.sh" "$dir" "$name" $ips
  files+=("--from-file=$name.crt=$dir/$name.crt" "--from-file=$name.key=$dir/$name.key")
done <<< "$nodes"
kubectl create namespace meshnet --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n meshnet create secret generic meshnet-peer-tls "--from-file=ca.crt=$dir/ca.crt" "${files[@]}" --dry-run=client -o yaml > "$dir/meshnet-peer-tls.yaml"
kubectl apply -f "$dir/meshnet-peer-tls.yaml"

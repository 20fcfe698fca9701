#!/usr/bin/env bash
# What the original meshnet's tooling did before the pods started: one etcdctl put per pod of its
# link list, as /<pod>/links. Usage: upload.sh ETCD_ENDPOINT (e.g. http://10.97.209.1:2379).
# (`meshnetctl lab up examples/original-meshnet/lab.yaml` does this itself, against the etcd it starts.)
set -euo pipefail
endpoint=${1:?usage: upload.sh ETCD_ENDPOINT}
cd "$(dirname "$0")/links"
for f in *.json; do
  ETCDCTL_API=3 etcdctl --endpoints="$endpoint" put "/${f%.json}/links" "$(cat "$f")"
done

#!/usr/bin/env bash
# Makes a CA and certificates signed by it, for meshnetd's mTLS between daemons and for etcd over
# TLS (docs/security.md). Each certificate names its holder: CN and a DNS name are NAME,
# and every IP given is an IP SAN (meshnetd checks that a peer's certificate names the node the
# store says it is: its node name or its node IP). Usable for TLS servers and clients alike.
#
#   scripts/make-certs.sh DIR NAME [IP ...]     e.g. scripts/make-certs.sh certs node1 192.0.2.11
#
# DIR/ca.crt and DIR/ca.key are made on first use and reused after; DIR/NAME.crt and DIR/NAME.key
# are (re)made. Keys are EC P-256, mode 0600. Certificates last DAYS days (default 365).
# NO_CN=1 leaves the Common Name out (subject O=meshnet; the DNS name stays): etcd's JSON gateway,
# which meshnet-ts speaks, refuses client certificates that carry a CN when etcd's auth is on.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: scripts/make-certs.sh DIR NAME [IP ...]   (DIR/ca.crt made on first use; DIR/NAME.crt, DIR/NAME.key)" >&2
  exit 2
fi
dir=$1 name=$2
shift 2
case "$name" in
  */*|.*|'') echo "make-certs: NAME must be a plain name, got \"$name\"" >&2; exit 2 ;;
esac
days=${DAYS:-365}
command -v openssl >/dev/null || { echo "make-certs: openssl is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
umask 077
if [ ! -f "$dir/ca.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca.key" -out "$dir/ca.crt" \
    -days "$days" -subj "/CN=meshnet CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
san="DNS:$name"
for ip in "$@"; do san="$san,IP:$ip"; done
ext=$(mktemp)
trap 'rm -f "$ext" "$dir/$name.csr"' EXIT
printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$san" > "$ext"
subject="/CN=$name"
[ "${NO_CN:-}" = 1 ] && subject="/O=meshnet"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "$subject" 2>/dev/null
openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -out "$dir/$name.crt" -days "$days" -extfile "$ext" 2>/dev/null
chmod 0644 "$dir/ca.crt" "$dir/$name.crt"
echo "$dir/$name.crt ($san), signed by $dir/ca.crt"

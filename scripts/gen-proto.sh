#!/usr/bin/env bash
# Regenerates src/grpc/gen/ from proto/ with buf and protoc-gen-es (both from node_modules: the buf
# binary ships in an optional dependency, so no protoc and no install script are needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
buf generate
echo "generated: $(find src/grpc/gen -name '*.ts' | sort | tr '\n' ' ')"

#!/usr/bin/env bash
# Regenerates src/grpc/gen/ from proto/ with buf and protoc-gen-es, fetched on demand by npx at
# pinned versions (the generated code is committed, so builds and tests never need them; buf's
# binary comes in an optional per-platform package, so no protoc and no install script are needed).
# They are not devDependencies: npm 11 writes buf's per-platform optional packages for other
# platforms out of the lock file here, and `npm ci` then refuses the lock on a clean clone.
# protoc-gen-es stays at 2.13.0: 2.14+ needs Node 22.
set -euo pipefail
cd "$(dirname "$0")/.."
npx --yes -p @bufbuild/buf@1.75.0 -p @bufbuild/protoc-gen-es@2.13.0 -- buf generate
echo "generated: $(find src/grpc/gen -name '*.ts' | sort | tr '\n' ' ')"

#!/usr/bin/env bash
# Fuzzes the catalog, reviews and query REST APIs with schemathesis (pinned, installed on first use),
# against the five locus processes started in databases, topics and ports of their own, then checks
# `locus verify` and the dead-letter stores. Exit 1 on any failure. The services must be up
# (`npm run services:up`). Options go to src/cli/fuzz.command.ts: --seed, --max-examples, --only
# catalog,reviews,query, --port-base, --keep.
set -euo pipefail
cd "$(dirname "$0")/../.."
st=$(bash scripts/fuzz/install-schemathesis.sh)
exec node --import tsx/esm --input-type=module \
  -e 'const { main } = await import("./src/cli/fuzz.command.ts"); await main(process.argv.slice(1));' \
  -- --st "$st" "$@"

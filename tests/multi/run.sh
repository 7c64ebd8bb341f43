#!/usr/bin/env bash
# Multi-connection and tool-level tests against the throwaway cluster. Each
# tests/multi/t_*.sh runs in a fresh database and exits non-zero on failure.
# Usage: tests/multi/run.sh [t_name ...] (default: every test).
set -uo pipefail
. "$(dirname "$0")/../../scripts/common.sh"
cd "$(dirname "$0")/../.."
scripts/cluster.sh start >/dev/null
export PGHOST="$WARDEN_SOCKDIR" PGPORT="$WARDEN_PGPORT" PGUSER=postgres
passed=0; failed=0
selected=(tests/multi/t_*.sh)
[ "$#" -gt 0 ] && selected=("${@/#/tests/multi/}") && selected=("${selected[@]/%/.sh}")
for t in "${selected[@]}"; do
  name=$(basename "$t" .sh)
  export PGDATABASE="warden_${name}"
  "$PG_BIN/dropdb" --if-exists "$PGDATABASE" 2>/dev/null && "$PG_BIN/createdb" "$PGDATABASE"
  warden_psql -q -d "$PGDATABASE" -c "CREATE EXTENSION pg_warden; CREATE EXTENSION pgcrypto;" >/dev/null
  if out=$(bash "$t" 2>&1); then
    echo "ok   $name"; passed=$((passed + 1))
  else
    echo "FAIL $name"; echo "$out" | sed 's/^/     /'; failed=$((failed + 1))
  fi
done
echo "multi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# Runs the #[pg_test] suite in a pgrx-managed cluster.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
  # initdb refuses root: run the test cluster as postgres in a fresh data directory.
  PGRX_DATA="$WARDEN_ROOT-pgrx-test"
  rm -rf "$PGRX_DATA"
  cargo pgrx test pg15 --runas postgres --pgdata "$PGRX_DATA"
else
  cargo pgrx test pg15
fi

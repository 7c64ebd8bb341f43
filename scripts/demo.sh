#!/usr/bin/env bash
# Guided walkthrough: creates a fresh demo database with pg_warden and runs
# demo/walkthrough.sql, showing each statement and its result.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."
"$PG_BIN/dropdb" -h "$WARDEN_SOCKDIR" -p "$WARDEN_PGPORT" -U postgres --if-exists warden_demo
"$PG_BIN/createdb" -h "$WARDEN_SOCKDIR" -p "$WARDEN_PGPORT" -U postgres warden_demo
warden_psql -d warden_demo --echo-all -f demo/walkthrough.sql
cat <<MSG

pg_warden demo is running. Connect with:
    psql -h $WARDEN_SOCKDIR -p $WARDEN_PGPORT -U postgres warden_demo
Stop it with:
    make demo-stop
MSG

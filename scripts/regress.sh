#!/usr/bin/env bash
# SQL regression tests (tests/pg_regress) against the throwaway cluster.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cd "$(dirname "$0")/.."
scripts/cluster.sh start
PG_REGRESS="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"
OUT="${WARDEN_ROOT}-regress"
rm -rf "$OUT"; mkdir -p "$OUT"
# --use-existing leaves database creation to us: start from an empty one every run.
"$PG_BIN/dropdb" -h "$WARDEN_SOCKDIR" -p "$WARDEN_PGPORT" -U postgres --if-exists warden_regress
"$PG_BIN/createdb" -h "$WARDEN_SOCKDIR" -p "$WARDEN_PGPORT" -U postgres warden_regress
tests=$(cd tests/pg_regress/sql && ls *.sql | sed 's/\.sql$//' | sort)
# Hostile input must get a proper SQLSTATE, never an internal error or a crashed backend:
# the postmaster must keep its start time and the log written meanwhile must be clean.
. scripts/logcheck.sh
log_require_sqlstate
started=$(postmaster_started)
mark=$(log_mark)
set +e
"$PG_REGRESS" --use-existing --host="$WARDEN_SOCKDIR" --port="$WARDEN_PGPORT" --user=postgres \
  --bindir="$PG_BIN" --inputdir=tests/pg_regress --outputdir="$OUT" \
  --dbname=warden_regress $tests
status=$?
set -e
if ! now=$(postmaster_started) || [ "$now" != "$started" ]; then
  echo "server: the postmaster restarted or is gone (started $started, now ${now:-unreachable})"; status=1
fi
problems=$(log_problems "$mark")
if [ -n "$problems" ]; then
  echo "---- server log: crashes or internal errors during the regression tests ----"; echo "$problems"; status=1
fi
if [ $status -ne 0 ]; then
  echo "---- regression.diffs ----"; cat "$OUT/regression.diffs" 2>/dev/null || true
  echo "---- server log (tail) ----"; tail -n 50 "$WARDEN_LOG" 2>/dev/null || true
fi
exit $status

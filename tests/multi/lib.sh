# Helpers for tests/multi/t_*.sh; sourced.
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"
q() { "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
# Kills the postmaster with SIGKILL and waits until its orphaned backends are gone (until
# then the old shared memory is in use and a new postmaster refuses to start).
crash_postmaster() {
  local postmaster children alive
  postmaster=$(as_postgres head -1 "$WARDEN_PGDATA/postmaster.pid")
  children=$(pgrep -P "$postmaster" | tr '\n' ' ')
  kill -9 "$postmaster"
  for _ in $(seq 60); do
    alive=0
    for pid in $children; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.5
  done
}
# Starts the cluster again (crash recovery) and waits until it accepts connections.
restart_after_crash() {
  "$(dirname "${BASH_SOURCE[0]}")/../../scripts/cluster.sh" start >/dev/null
  for _ in $(seq 30); do "$PG_BIN/pg_isready" -q && return 0; sleep 1; done
}

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
# Retries a command every 0.2 s until it succeeds or `seconds` have passed (then fails).
wait_until() {  # seconds, command...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
# The SQLSTATE a statement fails with ("ok" if it succeeds), for `q`'s arguments.
sqlstate_of() {
  local out
  if out=$("$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate "$@" 2>&1 >/dev/null); then
    echo ok
  else
    echo "$out" | sed -n 's/^.*ERROR: *\([0-9A-Z]\{5\}\).*$/\1/p' | head -1
  fi
}
# Whether the server has a vault master key (the test clusters do unless
# WARDEN_MASTER_KEY=none): keys are then sealed, and dumps carry them.
master_key_configured() { [ "$(q "$@" -c "SELECT warden.vault_status() ->> 'master_key_configured'")" = true ]; }
# The ledger as text, row by row in id order, for comparing two copies exactly.
ledger_text() { q "$@" -c "COPY (SELECT * FROM warden.audit_log ORDER BY id) TO STDOUT"; }
checkpoints_text() { q "$@" -c "COPY (SELECT * FROM warden.audit_checkpoint ORDER BY chain_id, chain_pos) TO STDOUT"; }

# Extra clusters beside the test cluster (a standby, a publisher, a restore target), run
# from the same PG_BIN as the postgres OS user: data in $WARDEN_ROOT-<name>/data, log in
# $WARDEN_ROOT-<name>/server.log, socket in the test cluster's socket directory. Ports
# are WARDEN_EXTRA_PORTS (default: the three after WARDEN_PGPORT); extra_port 1..3.
extra_port() {
  local ports
  read -r -a ports <<< "${WARDEN_EXTRA_PORTS:-$((WARDEN_PGPORT + 1)) $((WARDEN_PGPORT + 2)) $((WARDEN_PGPORT + 3))}"
  echo "${ports[$(($1 - 1))]}"
}
extra_dir() { echo "$WARDEN_ROOT-$1"; }
# Appends the settings every extra cluster needs (its port, the shared socket directory,
# a small footprint), then any given ones, to its postgresql.conf.
extra_configure() {  # name, port, setting...
  local conf
  conf="$(extra_dir "$1")/data/postgresql.conf"
  {
    echo "port = $2"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$WARDEN_SOCKDIR'"
    echo "shared_buffers = 32MB"
    echo "log_line_prefix = '%m [%p] %e %q%u@%d '"
    shift 2
    for setting in "$@"; do echo "$setting"; done
  } | as_postgres tee -a "$conf" >/dev/null
}
extra_cluster_start() {  # name
  local env_args
  mapfile -t env_args < <(server_env)
  as_postgres env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "${env_args[@]}" \
    "$PG_BIN/pg_ctl" -D "$(extra_dir "$1")/data" -l "$(extra_dir "$1")/server.log" -w -t 60 start >/dev/null \
    || { tail -20 "$(extra_dir "$1")/server.log" >&2; fail "cluster $1 did not start"; }
}
extra_cluster_stop() {  # name
  local data
  data="$(extra_dir "$1")/data"
  if [ -s "$data/postmaster.pid" ] && as_postgres "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
}
extra_cluster_remove() {  # name: stops it and deletes its directory
  extra_cluster_stop "$1"
  $SUDO rm -rf "$(extra_dir "$1")"
}
extra_dir_new() {  # name, port: an empty directory for the cluster, its port checked free
  extra_cluster_remove "$1"
  if "$PG_BIN/pg_isready" -q -p "$2"; then fail "port $2 is already in use (set WARDEN_EXTRA_PORTS)"; fi
  $SUDO mkdir -p "$(extra_dir "$1")"
  $SUDO chown postgres:postgres "$(extra_dir "$1")"
}
# A new, empty cluster, started.
extra_cluster_init() {  # name, port, setting...
  local name=$1 port=$2
  shift 2
  extra_dir_new "$name" "$port"
  as_postgres "$PG_BIN/initdb" -D "$(extra_dir "$name")/data" -U postgres -A trust --no-sync >/dev/null \
    || fail "initdb of cluster $name failed"
  extra_configure "$name" "$port" "$@"
  extra_cluster_start "$name"
}
# A hot standby of the test cluster made by pg_basebackup (streaming, standby.signal and
# primary_conninfo written by -R), started.
extra_cluster_standby() {  # name, port, setting...
  local name=$1 port=$2
  shift 2
  extra_dir_new "$name" "$port"
  as_postgres "$PG_BIN/pg_basebackup" -h "$WARDEN_SOCKDIR" -p "$WARDEN_PGPORT" -U postgres \
    -D "$(extra_dir "$name")/data" -R -X stream -c fast --no-sync \
    || fail "pg_basebackup for cluster $name failed"
  extra_configure "$name" "$port" "hot_standby = on" "$@"
  extra_cluster_start "$name"
}
# Waits until a standby has replayed everything the test cluster has written so far.
replayed_to() {  # standby port, lsn
  [ "$(q -p "$1" -d postgres -c "SELECT pg_last_wal_replay_lsn() >= '$2'" 2>/dev/null)" = t ]
}
wait_for_replay() {  # standby port
  wait_until 30 replayed_to "$1" "$(q -p "$WARDEN_PGPORT" -d postgres -c "SELECT pg_current_wal_lsn()")" \
    || fail "the standby on port $1 did not catch up"
}

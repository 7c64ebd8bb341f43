#!/usr/bin/env bash
# Starts, stops or reports the throwaway PostgreSQL cluster used by demo, tests and
# benchmarks. Usage: scripts/cluster.sh start|stop|restart|status
set -euo pipefail
. "$(dirname "$0")/common.sh"

start() {
  $SUDO mkdir -p "$WARDEN_ROOT"
  $SUDO chown postgres:postgres "$WARDEN_ROOT"
  as_postgres mkdir -p "$WARDEN_SOCKDIR"
  if [ ! -s "$WARDEN_PGDATA/PG_VERSION" ]; then
    as_postgres "$PG_BIN/initdb" -D "$WARDEN_PGDATA" -U postgres -A trust --no-sync >/dev/null
    cat <<CONF | as_postgres tee -a "$WARDEN_PGDATA/postgresql.conf" >/dev/null
listen_addresses = ''
unix_socket_directories = '$WARDEN_SOCKDIR'
port = $WARDEN_PGPORT
shared_buffers = 512MB
max_connections = 100
CONF
  fi
  # %e writes each message's SQLSTATE (scripts/regress.sh looks for XX000). A cluster made
  # without it gets the line appended (the last one wins) and, if running, a reload.
  if ! as_postgres grep -q "^log_line_prefix = '[^']*%e" "$WARDEN_PGDATA/postgresql.conf"; then
    echo "log_line_prefix = '%m [%p] %e %q%u@%d '" | as_postgres tee -a "$WARDEN_PGDATA/postgresql.conf" >/dev/null
    if as_postgres "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" status >/dev/null 2>&1; then
      as_postgres "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" reload >/dev/null
    fi
  fi
  if as_postgres "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" status >/dev/null 2>&1; then
    echo "cluster: already running on $WARDEN_SOCKDIR port $WARDEN_PGPORT"
    return
  fi
  # RUST_BACKTRACE in a developer's shell would make pgrx append Rust backtraces to the
  # DETAIL of errors that pass through nested calls; a server never runs with it.
  local env_args
  mapfile -t env_args < <(server_env)
  as_postgres env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "${env_args[@]}" \
    "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" -l "$WARDEN_LOG" -w -t 60 start >/dev/null
  echo "cluster: started on $WARDEN_SOCKDIR port $WARDEN_PGPORT (log: $WARDEN_LOG)"
}

stop() {
  if [ -d "$WARDEN_PGDATA" ] && as_postgres "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" -m fast -w stop >/dev/null
    echo "cluster: stopped"
  else
    echo "cluster: not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) as_postgres "$PG_BIN/pg_ctl" -D "$WARDEN_PGDATA" status ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac

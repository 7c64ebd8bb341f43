# Server log checks for a window of a run: crashes and internal errors; sourced after
# common.sh. The SQLSTATE check needs %e in log_line_prefix (scripts/cluster.sh sets it).

# The byte offset where a window starts: the server log's size now.
log_mark() {
  as_postgres stat -c %s "$WARDEN_LOG"
}

# Prints the log lines written after byte offset $1 that show a crashed or killed server
# process, a PANIC, an assertion failure or an internal error (SQLSTATE XX000); prints
# nothing if there are none.
log_problems() {
  local window status=0
  window=$(as_postgres tail -c "+$(($1 + 1))" "$WARDEN_LOG") || return 2
  grep -E ' XX000 |PANIC:|TRAP:|was terminated by signal|server process .* exited|terminating any other active server processes' \
    <<<"$window" || status=$?
  [ "$status" -le 1 ]  # grep: 0 found, 1 none found, 2 error
}

# Fails unless the running server writes the SQLSTATE in each log line.
log_require_sqlstate() {
  local prefix
  prefix=$(warden_psql -A -t -c "SHOW log_line_prefix")
  case "$prefix" in
    *%e*) ;;
    *) echo "log_line_prefix is '$prefix', without %e: run scripts/cluster.sh start, or restart" >&2; return 1 ;;
  esac
}

# The running postmaster's start time: it changes only if the postmaster itself restarted.
postmaster_started() {
  warden_psql -A -t -c "SELECT pg_postmaster_start_time()"
}

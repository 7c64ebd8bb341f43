# With shared_preload_libraries = 'pg_warden', each server start is a server_start entry
# in every database that has pg_warden and an audit key (and nothing in one without),
# written by a background worker once recovery is done; the ledger verifies. With the
# preload, a session's first command being CREATE ROLE is recorded (audit_ddl on), and
# audit_coverage() says so.
. "$(dirname "$0")/lib.sh"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
port=$(extra_port 1)
cleanup() { extra_cluster_remove starts; }
trap cleanup EXIT
extra_cluster_init starts "$port" "shared_preload_libraries = 'pg_warden'"
qs() { q -p "$port" "$@"; }
for db in with_key without_key without_ext; do qs -d postgres -c "CREATE DATABASE $db" >/dev/null; done
qs -d with_key -c "CREATE EXTENSION pg_warden; SELECT warden.create_key('audit', '\\x$k1')" >/dev/null
qs -d without_key -c "CREATE EXTENSION pg_warden" >/dev/null
starts() { qs -d with_key -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'server_start'"; }
# Whether `starts` is $1 now: for wait_until, which must run the query again each try.
starts_are() { [ "$(starts)" = "$1" ]; }
expect_eq "$(starts)" "0" "no start recorded before the extension existed"

for round in 1 2; do
  extra_cluster_stop starts
  extra_cluster_start starts
  wait_until 30 starts_are "$round" || fail "round $round: expected $round server_start entries, got $(starts)"
  expect_eq "$(qs -d with_key -c "SELECT (details->>'started_at')::timestamptz = pg_postmaster_start_time()
                                    FROM warden.audit_log WHERE event_type = 'server_start' ORDER BY id DESC LIMIT 1")" \
    "t" "round $round: the entry names this start"
done
expect_eq "$(qs -d with_key -c "SELECT count(DISTINCT details->>'started_at') FROM warden.audit_log WHERE event_type = 'server_start'")" \
  "2" "two different starts"
expect_eq "$(qs -d without_key -c "SELECT count(*) FROM warden.audit_log")" "0" "a ledger without an audit key takes no start"
expect_eq "$(qs -d with_key -c "SELECT valid FROM warden.verify_audit()")" "t" "the ledger verifies"

# Preloaded, the utility hook is there from a session's first statement.
qs -d with_key -c "SELECT warden.audit_ddl()" >/dev/null
qs -d with_key -c "CREATE ROLE multi_starts_role PASSWORD 'pw-multi-starts'" >/dev/null
expect_eq "$(qs -d with_key -c "SELECT count(*) FROM warden.audit_log WHERE event_type = 'role' AND action = 'CREATE ROLE'")" \
  "1" "CREATE ROLE as a session's first statement is recorded"
expect_eq "$(qs -d with_key -c "SELECT count(*) FROM warden.audit_log WHERE details::text LIKE '%pw-multi-starts%'")" \
  "0" "no clear password in the ledger"
expect_eq "$(qs -d with_key -c "SELECT string_agg(requirement || '=' || status, ',' ORDER BY requirement, event_class) FROM warden.audit_coverage()
                                  WHERE requirement IN ('10.2.1.2', '10.2.1.6')")" \
  "10.2.1.2=captured,10.2.1.6=partial" "coverage with the preload"
if grep -E " (XX000|PANIC|FATAL) " "$(extra_dir starts)/server.log" | grep -v "terminating connection due to administrator command" >&2; then
  fail "the server log has internal errors"
fi

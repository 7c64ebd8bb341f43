# A hot standby made by pg_basebackup serves auditors: audit_digest(), verify_audit() and
# verify_audit(digest) (the primary's digest and its own) work there for a superuser and
# a non-superuser warden_admin, as does export_audit(); the standby's digest verifies on
# the primary; a parallel verification there has workers and the same report. Every
# write (keys, profiles, purge, ledger entries, capture changes) fails
# with 25006, never XX000, and the standby keeps replaying afterwards.
. "$(dirname "$0")/lib.sh"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
officer=multi_standby_officer
port=$(extra_port 1)
work=$(mktemp -d)
cleanup() {
  extra_cluster_remove standby
  rm -rf "$work"
  q -c "SET client_min_messages = warning; DROP TABLE IF EXISTS public.people; DROP OWNED BY $officer; DROP ROLE $officer" >/dev/null
}
q -c "SET client_min_messages = warning; DROP ROLE IF EXISTS $officer; CREATE ROLE $officer LOGIN IN ROLE warden_admin" >/dev/null
trap cleanup EXIT
q -c "SELECT warden.create_key('audit', '\\x$k1'), warden.create_key('default', '\\x$k1');
      CREATE TABLE public.people (id int PRIMARY KEY, email text);
      GRANT SELECT, UPDATE ON public.people TO $officer;
      SELECT warden.audit_table('public.people');
      INSERT INTO public.people SELECT g, 'p' || g || '@example.com' FROM generate_series(1, 20) g;
      UPDATE public.people SET email = upper(email) WHERE id <= 5;
      SELECT warden.log_event('e' || g, 'A') FROM generate_series(1, 30) g;" >/dev/null
digest=$(q -c "SELECT warden.audit_digest()")
total=$(q -c "SELECT count(*) FROM warden.audit_log")

extra_cluster_standby standby "$port"
wait_for_replay "$port"
expect_eq "$(q -p "$port" -c "SELECT pg_is_in_recovery()")" "t" "the standby is in recovery"
[ "$(ledger_text -p "$port")" = "$(ledger_text)" ] || fail "the standby's ledger differs from the primary's"

# Reads: as a superuser and as a key officer who is not one.
for role in postgres "$officer"; do
  expect_eq "$(sqlstate_of -p "$port" -U "$role" -c "SELECT warden.audit_digest()")" "ok" "$role: audit_digest() on the standby"
  standby_digest=$(q -p "$port" -U "$role" -c "SELECT warden.audit_digest()")
  expect_eq "$(q -p "$port" -U "$role" -c "SELECT valid, total_entries FROM warden.verify_audit()")" "t|$total" \
    "$role: verify_audit() on the standby"
  expect_eq "$(q -p "$port" -U "$role" -c "SELECT valid, total_entries FROM warden.verify_audit('$digest', full => true)")" "t|$total" \
    "$role: verify_audit(the primary's digest) on the standby"
  expect_eq "$(q -p "$port" -U "$role" -c "SELECT valid, total_entries FROM warden.verify_audit('$standby_digest', full => true)")" "t|$total" \
    "$role: verify_audit(its own digest) on the standby"
  expect_eq "$(q -c "SELECT valid FROM warden.verify_audit('$standby_digest', full => true)")" "t" "$role: the standby's digest verifies on the primary"
done
# A parallel verification there: workers join (each participant logs its share at
# DEBUG1), the report is the serial one.
parallel=$(q -p "$port" -U "$officer" -c "SET warden.parallel_verify_min_entries = 0" -c "SET max_parallel_workers_per_gather = 2" \
  -c "SET client_min_messages = debug1" -c "SELECT valid, total_entries FROM warden.verify_audit()" 2>"$work/parallel.err")
expect_eq "$parallel" "t|$total" "a parallel verify_audit() on the standby"
grep -q "parallel verification participant 0 " "$work/parallel.err" || fail "no parallel worker took part on the standby: $(cat "$work/parallel.err")"
expect_eq "$(q -p "$port" -c "SELECT jsonb_array_length(warden.export_audit() -> 'entries')")" "$total" \
  "export_audit() on the standby"

# Writes: 25006 (read-only transaction) for everything that would change something.
profile='{"name": "p", "version": 1, "strategies": {}, "tables": {"public.people": [{"column": "email", "strategy": "email"}]}}'
writes=(
  "SELECT warden.create_key('standby_key')"
  "SELECT warden.create_key('standby_key', '\\x$k1')"
  "SELECT warden.rotate_key('audit')"
  "SELECT warden.create_key_from_env('standby_env', 'WARDEN_DEMO_KEY')"
  "SELECT warden.rotate_key_from_env('default', 'WARDEN_DEMO_KEY')"
  "SELECT * FROM warden.apply_profile('$profile')"
  "SELECT * FROM warden.apply_profile('$profile'::jsonb)"
  "SELECT * FROM warden.apply_profile('p')"
  "SELECT warden.save_profile('$profile')"
  "SELECT warden.drop_profile('p')"
  "SELECT warden.purge_audit('0 seconds')"
  "SELECT warden.log_event('on_standby', 'NOTE')"
  "INSERT INTO warden.audit_log (event_type, action) VALUES ('on_standby', 'NOTE')"
  "SELECT warden.audit_table('public.people')"
  "SELECT warden.unaudit_table('public.people')"
)
for role in postgres "$officer"; do
  for sql in "${writes[@]}"; do
    [ "$role" = postgres ] || case "$sql" in *INSERT*) continue ;; esac  # needs a grant the officer lacks
    expect_eq "$(sqlstate_of -p "$port" -U "$role" -c "$sql")" "25006" "$role on the standby: $sql"
  done
done
if grep " XX000 " "$(extra_dir standby)/server.log"; then fail "the standby logged internal errors"; fi

# The standby still follows the primary, and verifies what came after.
q -c "SELECT warden.log_event('after', 'NOTE')" >/dev/null
wait_for_replay "$port"
expect_eq "$(q -p "$port" -c "SELECT valid, total_entries FROM warden.verify_audit('$digest', full => true)")" "t|$((total + 1))" \
  "the standby verifies entries replayed after the refused writes"
echo "standby: digest and verify (both forms) for superuser and warden_admin, export; $((${#writes[@]} * 2 - 1)) writes refused with 25006"

# A database with DDL capture on survives pg_dump -Fc and pg_restore --exit-on-error
# (no warden.restore_mode): the restored setting does not stop the restore's post-data
# DDL (primary keys, foreign keys, indexes, grants), with the keys restored or without
# them (a dump without the key store's data), and the ledger verifies where it has its key.
. "$(dirname "$0")/lib.sh"
k1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
work=$(mktemp -d)
target=${PGDATABASE}_target
cleanup() { rm -rf "$work"; "$PG_BIN/dropdb" --if-exists "$target" 2>/dev/null; }
trap cleanup EXIT
q -c "SELECT warden.create_key('audit', '\\x$k1'); SELECT warden.audit_ddl();
      CREATE TABLE public.p (id int PRIMARY KEY);
      CREATE TABLE public.c (id int PRIMARY KEY, p int REFERENCES public.p, note text);
      CREATE INDEX c_note ON public.c (note);
      GRANT SELECT ON public.c TO PUBLIC;
      INSERT INTO public.p VALUES (1); INSERT INTO public.c VALUES (1, 1, 'x');" >/dev/null
entries=$(q -c "SELECT count(*) FROM warden.audit_log")
for mode in with_keys without_keys; do
  extra=()
  [ "$mode" = without_keys ] && extra=(--exclude-table-data=warden.key_store)
  "$PG_BIN/pg_dump" -Fc "${extra[@]}" -f "$work/$mode.dump" "$PGDATABASE" || fail "$mode: pg_dump failed"
  "$PG_BIN/dropdb" --if-exists "$target"; "$PG_BIN/createdb" "$target"
  "$PG_BIN/pg_restore" --exit-on-error -d "$target" "$work/$mode.dump" 2> "$work/$mode.err" \
    || { cat "$work/$mode.err" >&2; fail "$mode: pg_restore failed"; }
  expect_eq "$(q -d "$target" -c "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'public.c'::regclass")" \
    "c_p_fkey,c_pkey" "$mode: constraints restored"
  expect_eq "$(q -d "$target" -c "SELECT count(*) FROM pg_indexes WHERE indexname = 'c_note'")" "1" "$mode: index restored"
  expect_eq "$(q -d "$target" -c "SELECT has_table_privilege('public', 'public.c', 'SELECT')")" "t" "$mode: grant restored"
  restored=$(q -d "$target" -c "SELECT count(*) FROM warden.audit_log WHERE id <= (SELECT max(id) FROM warden.audit_log) AND id <= $entries")
  expect_eq "$restored" "$entries" "$mode: the ledger's entries restored"
done
expect_eq "$(q -d "$target" -c "SELECT count(*) FROM warden.keys")" "0" "the last restore had no keys"
"$PG_BIN/dropdb" "$target"; "$PG_BIN/createdb" "$target"
"$PG_BIN/pg_restore" --exit-on-error -d "$target" "$work/with_keys.dump" 2>/dev/null || fail "restore with keys failed"
expect_eq "$(q -d "$target" -c "SELECT valid FROM warden.verify_audit()")" "t" "the restored ledger verifies"

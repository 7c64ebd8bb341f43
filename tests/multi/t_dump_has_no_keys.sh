# pg_dump, by a non-superuser and by a superuser, never contains key material.
. "$(dirname "$0")/lib.sh"
secret=a1b2c3d4e5f60718293a4b5c6d7e8f90
q -c "SELECT warden.create_key('dumped', '\x$secret')" >/dev/null
q -c "SET client_min_messages = warning; DROP ROLE IF EXISTS multi_app; CREATE ROLE multi_app LOGIN; GRANT warden_user TO multi_app;
      CREATE TABLE public.accounts (id int PRIMARY KEY, token_fp text);
      INSERT INTO public.accounts VALUES (1, warden.fingerprint('tok', 'dumped'));
      GRANT SELECT ON public.accounts TO multi_app;" >/dev/null
app_dump=$("$PG_BIN/pg_dump" -U multi_app --no-owner --table=public.accounts) || fail "pg_dump as a non-superuser failed"
echo "$app_dump" | grep -q "CREATE TABLE public.accounts" || fail "non-superuser dump lacks the table"
super_dump=$("$PG_BIN/pg_dump") || fail "pg_dump as superuser failed"
echo "$super_dump" | grep -q "CREATE EXTENSION IF NOT EXISTS pg_warden" || fail "dump lacks the extension"
for dump in "$app_dump" "$super_dump"; do
  if echo "$dump" | grep -qi "$secret"; then fail "dump contains key material"; fi
done
if q -U multi_app -c "COPY warden.key_store TO STDOUT" >/dev/null 2>&1; then
  fail "a non-superuser could copy warden.key_store out"
fi
q -c "DROP TABLE public.accounts; DROP OWNED BY multi_app; DROP ROLE multi_app;" >/dev/null

# A rotation committed in one session is used by another session's next statement,
# while that session keeps its cached key until then.
. "$(dirname "$0")/lib.sh"
q -c "SELECT warden.create_key('multi', '\x000102030405060708090a0b0c0d0e0f')" >/dev/null
out=$(q <<'SQL'
SELECT warden.fingerprint('x', 'multi') AS before \gset
\! psql -X -q -c "SELECT warden.rotate_key('multi', '\xf0f1f2f3f4f5f6f7f8f9fafbfcfdfeff')" >/dev/null
SELECT warden.fingerprint('x', 'multi') <> :'before',
       warden.fingerprint('x', 'multi') = encode(warden.hmac_sha256('x', '\xf0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'), 'hex'),
       warden.fingerprint_matches('x', :'before', 'multi');
SQL
)
expect_eq "$out" "t|t|t" "second session sees the rotation"

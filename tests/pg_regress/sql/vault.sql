-- The vault: secrets encrypted under the test cluster's public master key
-- (scripts/common.sh server_env), read back by the roles they are granted to.
-- Secret references are random: output shows them as <label> (public.vault_try), and
-- checks compare them with the psql variables that hold them.
--
-- Refused reads are written to the ledger by a background worker after the refusal's
-- (sub)transaction aborts, outside this transaction; tests/multi covers them. Here the
-- ledger checks are on granted reads, which are recorded in the reading transaction.
BEGIN;
-- Refused reads that no worker slot is free for (a burst of them) are logged as
-- WARNINGs, as many as the timing makes: the server log has them, the output must not.
SET LOCAL client_min_messages = error;
-- Before first use there is no vault state; the master key is configured.
SELECT warden.vault_status() AS status_before_first_use;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('regress', '\x202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');
CREATE ROLE regress_vault_admin;      -- manages secrets
CREATE ROLE regress_vault_reader;     -- reads what is granted to it
CREATE ROLE regress_vault_other;      -- a warden_user with no grant
CREATE ROLE regress_vault_member;     -- has the privileges of regress_vault_reader
CREATE ROLE regress_vault_noinherit NOINHERIT;  -- a member without them
CREATE ROLE regress_vault_super SUPERUSER;      -- a superuser with no grant
GRANT warden_secret_admin TO regress_vault_admin;
GRANT warden_user TO regress_vault_reader, regress_vault_other;
GRANT regress_vault_reader TO regress_vault_member, regress_vault_noinherit;
-- EXECUTE of its own, so that what refuses it is the grant check inside.
GRANT EXECUTE ON FUNCTION warden.get_secret(uuid, integer) TO regress_vault_noinherit;

-- Secret references by label, for readable messages; every error provoked below, for
-- the leak check at the end.
CREATE TEMP TABLE vault_refs (label text PRIMARY KEY, ref uuid NOT NULL);
CREATE TEMP TABLE vault_errors (report text NOT NULL);
GRANT SELECT ON vault_refs TO PUBLIC;
GRANT INSERT ON vault_errors TO PUBLIC;
-- Like public.outcome(), with references shown by label, and every error's message,
-- DETAIL, HINT and CONTEXT (less the statement itself) kept in vault_errors.
CREATE FUNCTION public.vault_try(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    message text;
    detail text;
    hint text;
    context text;
    r record;
BEGIN
    EXECUTE query;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                            hint = PG_EXCEPTION_HINT, context = PG_EXCEPTION_CONTEXT;
    INSERT INTO vault_errors VALUES (concat_ws(E'\n', SQLSTATE, message, detail, hint, replace(context, query, '')));
    RAISE LOG USING MESSAGE = 'vault_try: ' || SQLERRM, ERRCODE = SQLSTATE;
    message := SQLSTATE || ': ' || message;
    FOR r IN SELECT label, ref FROM vault_refs LOOP
        message := replace(message, r.ref::text, '<' || r.label || '>');
    END LOOP;
    RETURN message;
END
$$;

-- The distinctive value of every secret whose value the leak check looks for.
\set value 'vault-regress-S3CR3T-7f3a'

-- Round trips: text, and bytea that is not UTF-8 (nor free of NUL bytes).
SELECT warden.create_secret('db/password', :'value', 'acme', metadata => '{"owner": "ops"}',
                            description => 'primary database') AS acme_db \gset
SELECT warden.create_secret('db/password', :'value' || '-no-tenant') AS db \gset
SELECT warden.create_secret('tls/key', convert_to(:'value', 'UTF8') || '\x00ff'::bytea, 'acme') AS tls \gset
SELECT warden.create_secret('tls/utf8', convert_to('clé', 'UTF8'), 'acme') AS utf8 \gset
INSERT INTO vault_refs VALUES ('acme_db', :'acme_db'), ('db', :'db'), ('tls', :'tls'), ('utf8', :'utf8');
SELECT warden.grant_secret(ref, 'regress_vault_reader') FROM vault_refs ORDER BY label;
SET ROLE regress_vault_reader;
SELECT warden.get_secret(:'acme_db'::uuid) = :'value' AS text_round_trip,
       warden.get_secret(:'db'::uuid) = :'value' || '-no-tenant' AS null_tenant_round_trip,
       warden.get_secret_bytes(:'tls') = convert_to(:'value', 'UTF8') || '\x00ff'::bytea AS bytea_round_trip,
       warden.get_secret_bytes(:'acme_db') = convert_to(:'value', 'UTF8') AS text_as_bytes,
       warden.get_secret(:'utf8'::uuid) AS utf8_bytes_as_text;
SELECT vault_try(format($$SELECT warden.get_secret(%L::uuid)$$, :'tls')) AS binary_as_text;
-- Never in parallel mode (no worker may write the ledger): a PARALLEL SAFE wrapper run
-- by a parallel plan is refused.
RESET ROLE;
CREATE FUNCTION public.vault_parallel_read(r uuid) RETURNS text LANGUAGE plpgsql PARALLEL SAFE
    AS $$ BEGIN RETURN warden.get_secret(r); END $$;
SET ROLE regress_vault_reader;
SET LOCAL force_parallel_mode = on;
SELECT vault_try(format($$SELECT public.vault_parallel_read(%L::uuid)$$, :'acme_db')) AS in_parallel_mode;
SET LOCAL force_parallel_mode = off;
-- By name: the tenant is part of it, NULL for none.
SELECT warden.get_secret('db/password', 'acme') = :'value' AS by_name_and_tenant,
       warden.get_secret('db/password') = :'value' || '-no-tenant' AS by_name_no_tenant,
       warden.get_secret('db/password', NULL) = :'value' || '-no-tenant' AS by_name_null_tenant;
RESET ROLE;

-- (tenant, name) is unique, no tenant included; '' is not a tenant.
SELECT label, vault_try(q) FROM (VALUES
    (1, 'same tenant and name', format($$SELECT warden.create_secret('db/password', %L, 'acme')$$, :'value')),
    (2, 'same name, no tenant', format($$SELECT warden.create_secret('db/password', %L)$$, :'value')),
    (3, 'same name, NULL tenant', format($$SELECT warden.create_secret('db/password', %L, NULL)$$, :'value')),
    (4, 'same name, other tenant', $$SELECT warden.create_secret('db/password', 'v', 'globex')$$),
    (5, 'empty tenant', format($$SELECT warden.create_secret('db/password', %L, '')$$, :'value')),
    (6, 'empty tenant, by name', $$SELECT warden.get_secret('db/password', '')$$)
) AS t(n, label, q) ORDER BY n;

-- Names and tenants: 1 to 255 characters, no control characters; values up to 1 MiB.
SELECT label, vault_try(q) FROM (VALUES
    (1, 'empty name', format($$SELECT warden.create_secret('', %L)$$, :'value')),
    (2, '255-character name', $$SELECT warden.create_secret(repeat('n', 255), 'v')$$),
    (3, '256-character name', format($$SELECT warden.create_secret(repeat('n', 256), %L)$$, :'value')),
    (4, '255-character tenant', $$SELECT warden.create_secret('t', 'v', repeat('t', 255))$$),
    (5, '256-character tenant', $$SELECT warden.create_secret('t', 'v', repeat('t', 256))$$),
    (6, 'multibyte: 255 characters, 510 bytes', $$SELECT warden.create_secret(repeat('é', 255), 'v')$$),
    (7, 'newline in name', format($$SELECT warden.create_secret(E'a\nb', %L)$$, :'value')),
    (8, 'tab in tenant', $$SELECT warden.create_secret('t', 'v', E'a\tb')$$),
    (9, 'value of 1 MiB', $$SELECT warden.create_secret('big', repeat('v', 1048576))$$),
    (10, 'value of 1 MiB + 1', format($$SELECT warden.create_secret('bigger', rpad(%L, 1048577, 'v'))$$, :'value')),
    (11, 'bytea of 1 MiB + 1', $$SELECT warden.create_secret('bigger', decode(repeat('00', 1048577), 'hex'))$$),
    (12, 'rotate to 1 MiB + 1', format($$SELECT warden.rotate_secret(%L, rpad(%L, 1048577, 'v'))$$, :'db', :'value')),
    (13, 'empty value', $$SELECT warden.create_secret('empty', '')$$),
    (14, 'name too long, by name', $$SELECT warden.get_secret(repeat('n', 256))$$)
) AS t(n, label, q) ORDER BY n;
SELECT char_length(name) AS name_chars, octet_length(name) AS name_bytes, char_length(tenant) AS tenant_chars
  FROM warden.secrets WHERE char_length(name) = 255 OR char_length(tenant) = 255 ORDER BY 1, 2, 3;
SELECT warden.grant_secret(secret_ref, 'regress_vault_reader') FROM warden.secret WHERE name IN ('big', 'empty');
SET ROLE regress_vault_reader;
SELECT length(warden.get_secret('big')) AS big_value_length, warden.get_secret('empty') = '' AS empty_value_read;
RESET ROLE;

-- NULL arguments: a clear error, or (retire, delete, grant, revoke are STRICT) NULL.
SELECT label, vault_try(q) FROM (VALUES
    (1, 'create: NULL name', $$SELECT warden.create_secret(NULL, 'v')$$),
    (2, 'create: NULL text value', $$SELECT warden.create_secret('n', NULL::text)$$),
    (3, 'create: NULL bytea value', $$SELECT warden.create_secret('n', NULL::bytea)$$),
    (4, 'rotate: NULL reference', $$SELECT warden.rotate_secret(NULL, 'v')$$),
    (5, 'rotate: NULL value', format($$SELECT warden.rotate_secret(%L, NULL::text)$$, :'db')),
    (6, 'get: NULL reference', $$SELECT warden.get_secret(NULL::uuid)$$),
    (7, 'get: NULL name', $$SELECT warden.get_secret(NULL::text)$$),
    (8, 'get_bytes: NULL reference', $$SELECT warden.get_secret_bytes(NULL)$$)
) AS t(n, label, q) ORDER BY n;
SELECT warden.retire_secret_version(NULL, 1) IS NULL AS retire_null,
       warden.delete_secret(NULL) IS NULL AS delete_null,
       warden.grant_secret(NULL, 'regress_vault_other') IS NULL AS grant_null,
       warden.revoke_secret(:'db', NULL) IS NULL AS revoke_null;
SET ROLE regress_vault_reader;
SELECT warden.get_secret(:'db'::uuid, NULL) = :'value' || '-no-tenant' AS null_version_is_active;
RESET ROLE;

-- Associated data: each ciphertext belongs to its reference, tenant, name and version,
-- each data key to its reference, tenant and name. Moved or altered (as a superuser
-- can), it does not decrypt, and the error names the reference.
SELECT warden.create_secret('aad/one', 'one') AS one \gset
SELECT warden.create_secret('aad/two', 'two') AS two \gset
INSERT INTO vault_refs VALUES ('one', :'one'), ('two', :'two');
SELECT warden.grant_secret(:'one', 'regress_vault_reader'), warden.grant_secret(:'two', 'regress_vault_reader');
CREATE TEMP TABLE vault_saved AS
SELECT s.secret_ref, s.wrapped_key, v.ciphertext FROM warden.secret s JOIN warden.secret_version v USING (secret_ref)
 WHERE s.secret_ref IN (:'one', :'two');
CREATE FUNCTION pg_temp.read_two() RETURNS text LANGUAGE sql AS $$
    SET ROLE regress_vault_reader;
    SELECT vault_try(format($q$SELECT warden.get_secret(%L::uuid)$q$, (SELECT ref FROM vault_refs WHERE label = 'two')));
$$;
SELECT pg_temp.read_two() AS intact;
RESET ROLE;
UPDATE warden.secret_version SET ciphertext = (SELECT ciphertext FROM vault_saved WHERE secret_ref = :'one')
 WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS ciphertext_of_another_secret;
RESET ROLE;
UPDATE warden.secret_version SET ciphertext = (SELECT ciphertext FROM vault_saved WHERE secret_ref = :'two')
 WHERE secret_ref = :'two';
UPDATE warden.secret SET wrapped_key = (SELECT wrapped_key FROM vault_saved WHERE secret_ref = :'one')
 WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS data_key_of_another_secret;
RESET ROLE;
UPDATE warden.secret SET wrapped_key = (SELECT wrapped_key FROM vault_saved WHERE secret_ref = :'two')
 WHERE secret_ref = :'two';
UPDATE warden.secret_version SET ciphertext = set_byte(ciphertext, 30, get_byte(ciphertext, 30) # 1)
 WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS ciphertext_byte_flipped;
RESET ROLE;
UPDATE warden.secret_version SET ciphertext = (SELECT ciphertext FROM vault_saved WHERE secret_ref = :'two')
 WHERE secret_ref = :'two';
UPDATE warden.secret SET wrapped_key = set_byte(wrapped_key, 72, get_byte(wrapped_key, 72) # 128)
 WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS data_key_byte_flipped;
RESET ROLE;
UPDATE warden.secret SET wrapped_key = (SELECT wrapped_key FROM vault_saved WHERE secret_ref = :'two')
 WHERE secret_ref = :'two';
UPDATE warden.secret SET name = 'aad/renamed' WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS renamed;
RESET ROLE;
UPDATE warden.secret SET name = 'aad/two', tenant = 'acme' WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS moved_to_a_tenant;
RESET ROLE;
UPDATE warden.secret SET tenant = NULL WHERE secret_ref = :'two';
UPDATE warden.secret_version SET ciphertext = '\x02' || substr(ciphertext, 2) WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS unknown_format_byte;
RESET ROLE;
UPDATE warden.secret_version SET ciphertext = substr(ciphertext, 1, 40) WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS truncated;
RESET ROLE;
UPDATE warden.secret_version SET ciphertext = (SELECT ciphertext FROM vault_saved WHERE secret_ref = :'two')
 WHERE secret_ref = :'two';
SELECT pg_temp.read_two() AS restored;
RESET ROLE;
-- A version's ciphertext moved to another version number of the same secret.
SELECT warden.rotate_secret(:'two', 'two, version 2') AS two_rotated_to;
UPDATE warden.secret_version SET ciphertext = (SELECT ciphertext FROM vault_saved WHERE secret_ref = :'two')
 WHERE secret_ref = :'two' AND version = 2;
SELECT pg_temp.read_two() AS version_1_ciphertext_as_version_2;
RESET ROLE;

-- Rotation: the new version is active; older ones stay readable by number until
-- retired; the active one cannot be retired.
SELECT warden.create_secret('api/token', :'value' || '-v1', 'acme') AS token \gset
INSERT INTO vault_refs VALUES ('token', :'token');
SELECT warden.grant_secret(:'token', 'regress_vault_reader');
SELECT warden.rotate_secret(:'token', :'value' || '-v2') AS rotated_to;
SELECT warden.rotate_secret(:'token', convert_to(:'value' || '-v3', 'UTF8')) AS rotated_to_bytes;
SELECT active_version, rotated_at IS NOT NULL AS rotated FROM warden.secrets WHERE secret_ref = :'token';
SET ROLE regress_vault_reader;
SELECT warden.get_secret(:'token'::uuid) = :'value' || '-v3' AS active_is_v3,
       warden.get_secret(:'token'::uuid, 1) = :'value' || '-v1' AS v1_by_number,
       warden.get_secret(:'token'::uuid, 2) = :'value' || '-v2' AS v2_by_number,
       warden.get_secret('api/token', 'acme') = :'value' || '-v3' AS by_name_is_active;
RESET ROLE;
SELECT label, vault_try(q) FROM (VALUES
    (1, 'retire the active version', format($$SELECT warden.retire_secret_version(%L, 3)$$, :'token')),
    (2, 'retire version 1', format($$SELECT warden.retire_secret_version(%L, 1)$$, :'token')),
    (3, 'retire version 1 again', format($$SELECT warden.retire_secret_version(%L, 1)$$, :'token')),
    (4, 'retire version 99', format($$SELECT warden.retire_secret_version(%L, 99)$$, :'token')),
    (5, 'retire, no such secret', $$SELECT warden.retire_secret_version('00000000-0000-4000-8000-000000000000', 1)$$),
    (6, 'rotate, no such secret',
     format($$SELECT warden.rotate_secret('00000000-0000-4000-8000-000000000000', %L)$$, :'value'))
) AS t(n, label, q) ORDER BY n;
SET ROLE regress_vault_reader;
SELECT label, vault_try(q) FROM (VALUES
    (1, 'read retired version 1', format($$SELECT warden.get_secret(%L::uuid, 1)$$, :'token')),
    (2, 'read version 2', format($$SELECT warden.get_secret(%L::uuid, 2)$$, :'token')),
    (3, 'read version 4', format($$SELECT warden.get_secret(%L::uuid, 4)$$, :'token')),
    (4, 'read version 0', format($$SELECT warden.get_secret(%L::uuid, 0)$$, :'token'))
) AS t(n, label, q) ORDER BY n;
RESET ROLE;
SELECT version FROM warden.secret_version WHERE secret_ref = :'token' ORDER BY version;

-- Expiry: an expired version is refused with 28000 and its expiry time; an expiry
-- must lie in the future when it is set.
SELECT warden.create_secret('api/expiring', :'value', expires_at => now() + interval '1 hour') AS expiring \gset
INSERT INTO vault_refs VALUES ('expiring', :'expiring');
SELECT warden.grant_secret(:'expiring', 'regress_vault_reader');
SET ROLE regress_vault_reader;
SELECT warden.get_secret(:'expiring'::uuid) = :'value' AS read_before_expiry;
RESET ROLE;
SELECT name, version, expires_at = now() + interval '1 hour' AS in_an_hour
  FROM warden.expiring_secrets('1 day') ORDER BY name, version;
SELECT count(*) AS expiring_within_a_minute FROM warden.expiring_secrets('1 minute');
UPDATE warden.secret_version SET expires_at = '2001-02-03 04:05:06+00' WHERE secret_ref = :'expiring';
SET ROLE regress_vault_reader;
SELECT vault_try(format($$SELECT warden.get_secret(%L::uuid)$$, :'expiring')) AS expired;
SELECT vault_try($$SELECT warden.get_secret('api/expiring')$$) AS expired_by_name;
RESET ROLE;
-- A new version brings it back; the expired one stays refused by number.
SELECT warden.rotate_secret(:'expiring', :'value' || '-renewed', now() + interval '30 days') AS renewed_to;
SET ROLE regress_vault_reader;
SELECT warden.get_secret(:'expiring'::uuid) = :'value' || '-renewed' AS renewed_read;
SELECT vault_try(format($$SELECT warden.get_secret(%L::uuid, 1)$$, :'expiring')) AS expired_version_by_number;
RESET ROLE;
SELECT name, version, expires_at FROM warden.expiring_secrets('1 day') ORDER BY name, version;
SELECT name, version, expires_at > now() AS in_future FROM warden.expiring_secrets('31 days') ORDER BY name, version;
SELECT name, expires_at > now() + interval '29 days' AS active_expiry_shown
  FROM warden.secrets WHERE secret_ref = :'expiring';
SELECT label, vault_try(q) FROM (VALUES
    (1, 'create, expiry in the past', format($$SELECT warden.create_secret('x', %L, expires_at => now() - interval '1 second')$$, :'value')),
    (2, 'create, expiry now', $$SELECT warden.create_secret('x', 'v', expires_at => now())$$),
    (3, 'rotate, expiry in the past', format($$SELECT warden.rotate_secret(%L, %L, now() - interval '1 day')$$, :'expiring', :'value'))
) AS t(n, label, q) ORDER BY n;

-- Per-secret grants. Nobody reads a secret that was not granted to a role whose
-- privileges it has: not a warden_user that knows the reference, not a secret admin,
-- not a superuser.
SELECT warden.create_secret('grants/one', :'value', 'acme') AS granted \gset
INSERT INTO vault_refs VALUES ('granted', :'granted');
CREATE FUNCTION pg_temp.read_as(role name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET ROLE %I', role);
    RETURN vault_try(format($q$SELECT warden.get_secret(%L::uuid)$q$, (SELECT ref FROM vault_refs WHERE label = 'granted')));
END
$$;
SELECT r AS role, pg_temp.read_as(r) AS before_grant FROM unnest(ARRAY[
    'regress_vault_reader', 'regress_vault_member', 'regress_vault_other', 'regress_vault_admin',
    'regress_vault_super', 'postgres']::name[]) AS r;
RESET ROLE;
SELECT warden.grant_secret(:'granted', 'regress_vault_reader');
SELECT warden.grant_secret(:'granted', 'regress_vault_reader') AS granted_twice;
SELECT readers FROM warden.secrets WHERE secret_ref = :'granted';
SELECT r AS role, pg_temp.read_as(r) AS after_grant FROM unnest(ARRAY[
    'regress_vault_reader', 'regress_vault_member', 'regress_vault_noinherit', 'regress_vault_other',
    'regress_vault_admin', 'regress_vault_super', 'postgres']::name[]) AS r;
RESET ROLE;
-- A superuser reads as a member of the grantee, not as a superuser.
GRANT regress_vault_reader TO regress_vault_super;
SELECT pg_temp.read_as('regress_vault_super') AS superuser_member_of_grantee;
RESET ROLE;
SELECT warden.revoke_secret(:'granted', 'regress_vault_reader');
SELECT warden.revoke_secret(:'granted', 'regress_vault_reader') AS revoked_twice;
SELECT readers FROM warden.secrets WHERE secret_ref = :'granted';
SELECT r AS role, pg_temp.read_as(r) AS after_revoke FROM unnest(ARRAY[
    'regress_vault_reader', 'regress_vault_member', 'regress_vault_super']::name[]) AS r;
RESET ROLE;
SELECT label, vault_try(q) FROM (VALUES
    (1, 'grant, no such role', format($$SELECT warden.grant_secret(%L, 'regress_vault_nobody')$$, :'granted')),
    (2, 'grant, no such secret', $$SELECT warden.grant_secret('00000000-0000-4000-8000-000000000000', 'regress_vault_reader')$$),
    (3, 'revoke, no such secret', $$SELECT warden.revoke_secret('00000000-0000-4000-8000-000000000000', 'regress_vault_reader')$$)
) AS t(n, label, q) ORDER BY n;
-- A secret admin manages secrets but reads only what is granted to it.
SET ROLE regress_vault_admin;
SELECT warden.create_secret('admin/made', :'value') AS admin_made \gset
RESET ROLE;
INSERT INTO vault_refs VALUES ('admin_made', :'admin_made');
SET ROLE regress_vault_admin;
SELECT vault_try(format($$SELECT warden.get_secret(%L::uuid)$$, :'admin_made')) AS admin_reads_own_secret;
SELECT warden.rotate_secret(:'admin_made', :'value' || '-2') AS admin_rotated_to;
SELECT warden.grant_secret(:'admin_made', 'regress_vault_reader');
SELECT name, active_version, readers FROM warden.secrets WHERE secret_ref = :'admin_made';
RESET ROLE;
SET ROLE regress_vault_reader;
SELECT warden.get_secret(:'admin_made'::uuid) = :'value' || '-2' AS reader_reads_admin_secret;
RESET ROLE;

-- A reference or name that matches no secret: only those who manage secrets learn that
-- it does not exist; a warden_user is told what it is told for a secret it may not read.
SELECT warden.create_secret('hidden', :'value') AS hidden \gset
INSERT INTO vault_refs VALUES ('hidden', :'hidden');
CREATE TEMP TABLE vault_probe (n int, label text, q text);
GRANT SELECT ON vault_probe TO PUBLIC;
INSERT INTO vault_probe VALUES
    (1, 'no such reference', $$SELECT warden.get_secret('00000000-0000-4000-8000-000000000000'::uuid)$$),
    (2, 'no such reference, as bytes', $$SELECT warden.get_secret_bytes('00000000-0000-4000-8000-000000000000')$$),
    (3, 'no such name', $$SELECT warden.get_secret('no/such')$$),
    (4, 'no such name in tenant', $$SELECT warden.get_secret('hidden', 'acme')$$),
    (5, 'existing, not granted', format($$SELECT warden.get_secret(%L::uuid)$$, :'hidden')),
    (6, 'existing, not granted, by name', $$SELECT warden.get_secret('hidden')$$);
SET ROLE regress_vault_admin;
SELECT label, vault_try(q) AS as_secret_admin FROM vault_probe ORDER BY n;
SET ROLE regress_vault_other;
SELECT label, vault_try(q) AS as_warden_user FROM vault_probe ORDER BY n;
RESET ROLE;

-- warden.secrets: every column but a value or ciphertext.
SELECT attnum, attname, atttypid::regtype FROM pg_attribute
 WHERE attrelid = 'warden.secrets'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT tenant, name, active_version, rotated_at IS NOT NULL AS rotated, expires_at IS NOT NULL AS expires,
       metadata, description, readers
  FROM warden.secrets
 WHERE char_length(name) < 255 AND char_length(coalesce(tenant, '')) < 255
 ORDER BY tenant NULLS FIRST, name;
SELECT count(*) FILTER (WHERE created_at = now()) AS created_now, count(*) AS secrets FROM warden.secrets;

-- Granted reads are in the ledger of the reading transaction: reader, reference,
-- version, granted; never the value.
SELECT details ->> 'version' AS version, details ->> 'granted' AS granted, details ->> 'outcome' AS outcome,
       details ? 'recorded_by' AS by_worker, count(*) AS reads
  FROM warden.audit_log
 WHERE event_type = 'secret_read' AND action = 'get_secret' AND resource_id = :'token'
   AND actor = 'regress_vault_reader' AND tenant = 'acme'
 GROUP BY 1, 2, 3, 4 ORDER BY 1;
SELECT actor, details ->> 'granted' AS granted, count(*) AS reads
  FROM warden.audit_log
 WHERE event_type = 'secret_read' AND resource_id = :'granted'
 GROUP BY 1, 2 ORDER BY 1;
SELECT action, details ->> 'name' AS name, details ->> 'version' AS version, details ->> 'role' AS role
  FROM warden.audit_log WHERE event_type = 'secret_change' AND resource_id = :'token' ORDER BY id;
SELECT count(*) AS ledger_entries_with_a_value
  FROM warden.audit_log
 WHERE concat_ws(' ', details::text, before_state::text, after_state::text, resource_id, reason) LIKE '%S3CR3T%';
SELECT valid, invalid_entries FROM warden.verify_audit();

-- No plaintext in the vault's tables or the keyring.
SELECT count(*) AS rows_with_plaintext
  FROM (SELECT ciphertext AS b FROM warden.secret_version
        UNION ALL SELECT wrapped_key FROM warden.secret
        UNION ALL SELECT coalesce(sealed, secret) FROM warden.key_store) AS t
 WHERE position(convert_to('S3CR3T', 'UTF8') IN b) > 0
    OR position('\x202122232425262728292a2b2c2d2e2f'::bytea IN b) > 0;
SELECT name, version, source, secret IS NULL AS no_plaintext_column,
       octet_length(wrapped_key) AS wrapped_key_bytes, octet_length(sealed) AS sealed_bytes
  FROM warden.key_store JOIN warden.keys USING (name, version) ORDER BY name, version;
SELECT octet_length(ciphertext) - octet_length(:'value') AS seal_overhead
  FROM warden.secret_version WHERE secret_ref = :'acme_db';
SELECT octet_length(wrapped_key) AS wrapped_key_bytes FROM warden.secret WHERE secret_ref = :'acme_db';

-- Rewrapping with the master key unchanged changes nothing, as often as it runs.
SELECT warden.rewrap_vault() AS first_rewrap;
SELECT warden.rewrap_vault() AS second_rewrap;
SELECT rewrapped_at IS NULL AS never_rewrapped, kdf IS NULL AS raw_master_key FROM warden.vault_state;
SELECT warden.vault_status() AS status;
SET ROLE regress_vault_reader;
SELECT warden.get_secret(:'acme_db'::uuid) = :'value' AS read_after_rewrap;
RESET ROLE;
SELECT warden.fingerprint('x', 'regress') AS fingerprint_after_rewrap;
SELECT action, details FROM warden.audit_log WHERE event_type = 'vault_change' ORDER BY id;
-- The REPEATABLE READ refusal is covered in tests/multi; a secret admin cannot rewrap.
SET ROLE regress_vault_admin;
SELECT vault_try($$SELECT warden.rewrap_vault()$$) AS secret_admin_rewraps;
SELECT (warden.vault_status() ->> 'master_key_matches')::boolean AS secret_admin_sees_status;
RESET ROLE;

-- delete_secret destroys every version, grant and the data key; the reference is gone.
SELECT warden.delete_secret(:'token');
SELECT (SELECT count(*) FROM warden.secret WHERE secret_ref = :'token') AS secret_rows,
       (SELECT count(*) FROM warden.secret_version WHERE secret_ref = :'token') AS version_rows,
       (SELECT count(*) FROM warden.secret_grant WHERE secret_ref = :'token') AS grant_rows;
SELECT details FROM warden.audit_log WHERE action = 'delete_secret' AND resource_id = :'token';
SELECT label, vault_try(q) FROM (VALUES
    (1, 'delete again', format($$SELECT warden.delete_secret(%L)$$, :'token')),
    (2, 'read as admin', format($$SELECT warden.get_secret(%L::uuid)$$, :'token'))
) AS t(n, label, q) ORDER BY n;
-- The name is free again.
SELECT warden.create_secret('api/token', 'new', 'acme') IS NOT NULL AS name_reused;

-- Key rotation policy: warden.keys shows age and whether rotation is due;
-- rotate_due_keys rotates the due keys with generated material.
SELECT warden.create_key_from_env('regress_env', 'WARDEN_DEMO_KEY');
SELECT warden.fingerprint('x', 'regress') AS fingerprint_v1 \gset
SELECT warden.set_key_policy('regress', '30 days');
SELECT warden.set_key_policy('regress_env', '30 days');
SET LOCAL client_min_messages = notice;  -- rotate_due_keys names the keys it skips
SELECT name, version, active, rotate_every, age, rotation_due FROM warden.keys ORDER BY name, version;
SELECT warden.rotate_due_keys() AS rotated_none_due;
UPDATE warden.key_store SET created_at = now() - interval '31 days' WHERE name IN ('regress', 'regress_env');
SELECT name, version, active, rotate_every, age, rotation_due FROM warden.keys ORDER BY name, version;
SELECT warden.rotate_due_keys() AS rotated;
SELECT name, version, active, source, age, rotation_due FROM warden.keys ORDER BY name, version;
SELECT warden.rotate_due_keys() AS rotated_again;
SET LOCAL client_min_messages = error;
-- Fingerprints under the old version still verify.
SELECT warden.fingerprint('x', 'regress') <> :'fingerprint_v1' AS new_version_fingerprints_differently,
       warden.fingerprint_matches('x', :'fingerprint_v1', 'regress') AS old_fingerprint_matches;
SELECT warden.set_key_policy('regress', NULL);
SELECT name, rotate_every, rotation_due FROM warden.keys WHERE name = 'regress' ORDER BY version;
SELECT label, vault_try(q) FROM (VALUES
    (1, 'zero interval', $$SELECT warden.set_key_policy('regress', '0')$$),
    (2, 'negative interval', $$SELECT warden.set_key_policy('regress', '-1 day')$$),
    (3, 'no such key', $$SELECT warden.set_key_policy('no_such_key', '1 day')$$),
    (4, 'bad key name', $$SELECT warden.set_key_policy('bad name!', '1 day')$$)
) AS t(n, label, q) ORDER BY n;
-- (A generated version's check value is random: shown as present.)
SELECT action, resource_id, details - 'check_value' AS details, details ? 'check_value' AS has_check_value
  FROM warden.audit_log WHERE event_type = 'key_change' ORDER BY id;

-- No error above carries a secret value in its message, DETAIL, HINT or CONTEXT.
SELECT count(*) AS errors_read, count(*) FILTER (WHERE report LIKE '%S3CR3T%') AS errors_with_a_value
  FROM vault_errors;
ROLLBACK;

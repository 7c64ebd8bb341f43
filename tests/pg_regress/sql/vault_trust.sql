-- Attacks on the vault as the ordinary roles that call it: a secret administrator that
-- is also a key officer (warden_secret_admin, warden_admin) and a granted reader, both
-- with the default TEMP privilege. Each shadows the types the vault's statements use
-- (uuid, text, bytea, jsonb, timestamptz, interval, name) with temporary domains whose
-- CHECK calls its own function, and the vault's tables with temporary tables; then calls
-- every vault function. Nothing they define may run with the extension owner's rights:
-- the trap tries to make its role a superuser and records who ran it.
BEGIN;
SET LOCAL client_min_messages = error;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
CREATE ROLE regress_vt_admin;
CREATE ROLE regress_vt_reader;
GRANT warden_secret_admin, warden_admin TO regress_vt_admin;
GRANT warden_user TO regress_vt_reader;
-- Who ran a trap, and as whom.
CREATE TABLE public.vault_trap (role_name name NOT NULL, became_superuser boolean NOT NULL);
GRANT SELECT, INSERT ON public.vault_trap TO PUBLIC;
CREATE FUNCTION public.vault_grab(v pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    became boolean := false;
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_vt_admin SUPERUSER';
        EXECUTE 'ALTER ROLE regress_vt_reader SUPERUSER';
        became := true;
    EXCEPTION WHEN others THEN NULL;
    END;
    INSERT INTO public.vault_trap VALUES (current_user, became);
    RETURN true;
END $$;

-- The traps, in the session's temporary schema (one per session: the secret
-- administrator makes them, and they stay in force for the reader after it).
CREATE FUNCTION public.vault_set_traps() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (public.vault_grab(VALUE::pg_catalog.text));
    CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (public.vault_grab(VALUE));
    CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (public.vault_grab(VALUE::pg_catalog.text));
    CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (public.vault_grab(VALUE::pg_catalog.text));
    CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (public.vault_grab(VALUE::pg_catalog.text));
    CREATE DOMAIN pg_temp.interval AS pg_catalog.interval CHECK (public.vault_grab(VALUE::pg_catalog.text));
    CREATE DOMAIN pg_temp.name AS pg_catalog.name CHECK (public.vault_grab(VALUE::pg_catalog.text));
    CREATE TEMP TABLE secret (secret_ref pg_catalog.uuid, name pg_catalog.text);
    CREATE TEMP TABLE secret_version (secret_ref pg_catalog.uuid, version integer);
    CREATE TEMP TABLE secret_grant (secret_ref pg_catalog.uuid, grantee pg_catalog.name);
    CREATE TEMP TABLE vault_state (check_value pg_catalog.bytea);
    CREATE TEMP TABLE key_store (name pg_catalog.text);
END $$;

SET ROLE regress_vt_admin;
SELECT public.vault_set_traps();
-- The traps work where the attacker's own names resolve (temporary types come first).
SELECT 'resolved'::text AS control;
SELECT count(*) AS control_trap_ran_as_attacker FROM public.vault_trap WHERE role_name = 'regress_vt_admin';
-- Every function the secret administrator and key officer may call.
SELECT warden.create_secret('trust/db', 'trust-S3CR3T', 'acme', now() + interval '1 hour',
                            '{"k": "v"}', 'described') AS db \gset
SELECT warden.create_secret('trust/bin', '\x00ff'::bytea) AS bin \gset
SELECT warden.rotate_secret(:'db', 'trust-S3CR3T-2', now() + interval '2 hours') AS rotated_to;
SELECT warden.rotate_secret(:'bin', '\x01ff'::bytea) AS rotated_bytes_to;
SELECT warden.grant_secret(:'db', 'regress_vt_reader');
SELECT warden.grant_secret(:'bin', 'regress_vt_reader');
SELECT count(*) AS expiring FROM warden.expiring_secrets('1 day');
SELECT name, active_version FROM warden.secrets WHERE name LIKE 'trust/%' ORDER BY name;
SELECT warden.vault_status() ->> 'master_key_matches' AS master_key_matches;
SELECT warden.rewrap_vault() ->> 'master_key_changed' AS rewrap_changed_key;
SELECT warden.set_key_policy('audit', '30 days');
SELECT warden.rotate_due_keys() AS rotated_due;
SELECT warden.retire_secret_version(:'bin', 1);
RESET ROLE;

SET ROLE regress_vt_reader;
-- Every way a reader reads: by reference, by version, by name, as bytes; and refused.
SELECT warden.get_secret(:'db'::pg_catalog.uuid) AS by_reference,
       warden.get_secret(:'db'::pg_catalog.uuid, 1) AS first_version,
       warden.get_secret('trust/db', 'acme') AS by_name,
       warden.get_secret_bytes(:'bin'::pg_catalog.uuid) AS as_bytes;
DO $$
BEGIN
    PERFORM warden.get_secret('trust/missing', 'acme');
EXCEPTION WHEN insufficient_privilege THEN NULL;
END $$;
RESET ROLE;

SET ROLE regress_vt_admin;
SELECT warden.revoke_secret(:'db', 'regress_vt_reader');
SELECT warden.delete_secret(:'bin');
RESET ROLE;

-- Nobody became a superuser, and no trap ran as anyone but its attacker (the control).
SELECT rolname, rolsuper FROM pg_roles WHERE rolname IN ('regress_vt_admin', 'regress_vt_reader') ORDER BY rolname;
SELECT role_name, became_superuser, count(*) > 0 AS ran FROM public.vault_trap GROUP BY 1, 2 ORDER BY 1, 2;
-- The reads were recorded (in this transaction: granted ones).
SELECT count(*) AS granted_reads_recorded FROM warden.audit_log
 WHERE event_type = 'secret_read' AND actor = 'regress_vt_reader' AND details ->> 'outcome' = 'granted';
ROLLBACK;

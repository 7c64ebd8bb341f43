-- Attacks on incremental verification, verification records, the Merkle tree and
-- audit_status as a key officer who is not a superuser (warden_admin, default TEMP
-- privilege): temporary domains shadow every type those statements use, with a CHECK
-- that tries to make the role a superuser, and temporary tables shadow the ledger's
-- tables. Then every new function runs. No trap may run as anyone but the attacker.
BEGIN;
SET LOCAL client_min_messages = error;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT count(warden.log_event('trust', 'NOTE')) FROM generate_series(1, 300);
CREATE ROLE regress_lst_admin;
GRANT warden_admin TO regress_lst_admin;
CREATE TABLE public.lst_trap (role_name name NOT NULL, became_superuser boolean NOT NULL);
GRANT SELECT, INSERT ON public.lst_trap TO PUBLIC;
CREATE FUNCTION public.lst_grab(v pg_catalog.text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    became boolean := false;
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_lst_admin SUPERUSER';
        became := true;
    EXCEPTION WHEN others THEN NULL;
    END;
    INSERT INTO public.lst_trap VALUES (current_user, became);
    RETURN true;
END $$;
SET LOCAL ROLE regress_lst_admin;
CREATE DOMAIN pg_temp.int8 AS pg_catalog.int8 CHECK (public.lst_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.int4 AS pg_catalog.int4 CHECK (public.lst_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (public.lst_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (public.lst_grab(VALUE));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (public.lst_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (public.lst_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.interval AS pg_catalog.interval CHECK (public.lst_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.bool AS pg_catalog.bool CHECK (public.lst_grab(VALUE::pg_catalog.text));
CREATE DOMAIN pg_temp.regclass AS pg_catalog.regclass CHECK (public.lst_grab(VALUE::pg_catalog.text));
CREATE TEMP TABLE audit_log (id int8);
CREATE TEMP TABLE audit_tree_head (tree_size int8);
CREATE TEMP TABLE audit_tree_leaves (block int8);
CREATE TEMP TABLE audit_tree_node (level int4);
CREATE TEMP TABLE audit_verification (id int8);
CREATE TEMP TABLE pg_class (oid int8);
SET LOCAL search_path = pg_temp, public, pg_catalog;
SELECT q, outcome(q) FROM (VALUES
    ($$SELECT * FROM warden.verify_audit()$$),
    ($$SELECT * FROM warden.verify_audit(NULL, full => false)$$),
    ($$SELECT * FROM warden.verify_audit(warden.audit_digest())$$),
    ($$SELECT * FROM warden.verify_audit(warden.audit_digest(), full => true)$$),
    ($$SELECT warden.advance_audit_tree()$$),
    ($$SELECT warden.audit_proof(m) FROM (SELECT max(id) AS m FROM warden.audit_log) s$$),
    ($$SELECT warden.audit_consistency(s, s) FROM (SELECT max(tree_size) AS s FROM warden.audit_tree_head) t$$),
    ($$SELECT * FROM warden.audit_status()$$),
    ($$SELECT warden.purge_audit('0 seconds') >= 0$$)
) AS t(q);
RESET ROLE;
SET LOCAL search_path = public, pg_catalog;
-- The attacker's own calls of the trap (its own casts), never the owner's.
SELECT role_name, bool_or(became_superuser) AS became_superuser
  FROM public.lst_trap GROUP BY role_name ORDER BY role_name;
SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'regress_lst_admin';
ROLLBACK;

-- Attacks on row capture as the roles that meet it: a writer of an audited table with
-- the default TEMP privilege, and the owner of an audited table. Capture must never run
-- what they define with pg_warden's (the extension owner's) rights.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
CREATE ROLE regress_writer LOGIN;
CREATE ROLE regress_owner LOGIN;
GRANT CREATE ON SCHEMA public TO regress_owner;
CREATE TABLE public.orders (id int PRIMARY KEY, note text);
SELECT warden.audit_table('public.orders');
GRANT SELECT, INSERT, UPDATE ON public.orders TO regress_writer;
CREATE TABLE public.owned (id int PRIMARY KEY);
ALTER TABLE public.owned OWNER TO regress_owner;
SELECT warden.audit_table('public.owned');

-- 1. A writer shadows jsonb with a temporary domain whose CHECK calls its own function.
SET ROLE regress_writer;
CREATE FUNCTION pg_temp.grab(v pg_catalog.jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'ALTER ROLE regress_writer SUPERUSER';
    RETURN true;
EXCEPTION WHEN others THEN RETURN true;
END $$;
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (pg_temp.grab(VALUE));
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.grab(VALUE::pg_catalog.jsonb));
CREATE TEMP TABLE pg_class (oid oid, relname name);
CREATE TEMP TABLE audit_log (id bigint);
INSERT INTO public.orders VALUES (1, '{"a": 1}');
UPDATE public.orders SET note = '{"b": 2}' WHERE id = 1;
RESET ROLE;
SELECT rolsuper AS writer_became_superuser FROM pg_roles WHERE rolname = 'regress_writer';

-- 2. The table's owner adds a column of its own type whose cast to json runs its code.
SET ROLE regress_owner;
CREATE FUNCTION public.owner_grab() RETURNS pg_catalog.text LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE regress_owner SUPERUSER';
    EXCEPTION WHEN others THEN NULL;
    END;
    RETURN current_user;
END $$;
CREATE TYPE public.evil AS ENUM ('x');
CREATE FUNCTION public.evil_json(public.evil) RETURNS pg_catalog.json LANGUAGE sql AS $$ SELECT pg_catalog.to_json(public.owner_grab()) $$;
RESET ROLE;
-- Creating a cast needs ownership of the type: the owner owns it.
SET ROLE regress_owner;
CREATE CAST (public.evil AS pg_catalog.json) WITH FUNCTION public.evil_json(public.evil);
ALTER TABLE public.owned ADD COLUMN e public.evil;
INSERT INTO public.owned VALUES (1, 'x');
RESET ROLE;
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_owner';
-- The cast ran, as the owner itself: its result is in the captured row.
SELECT after_state -> 'e' AS captured_as FROM warden.audit_log WHERE resource_type = 'public.owned' AND action = 'INSERT';

-- Capture still records every change, with the key columns as resource_id.
SELECT action, resource_type, resource_id, before_state, after_state
  FROM warden.audit_log WHERE event_type = 'row_change' AND resource_type = 'public.orders' ORDER BY id;
SELECT valid, total_entries FROM warden.verify_audit();
ROLLBACK;

-- Installs the extensions every regression script uses.
CREATE EXTENSION pg_warden;
CREATE EXTENSION pgcrypto;
-- Reports the SQLSTATE and message of a statement that fails, 'ok' otherwise. The error
-- also goes to the server log with its SQLSTATE, where scripts/regress.sh looks for XX000.
CREATE FUNCTION public.outcome(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE query;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RAISE LOG USING MESSAGE = 'outcome: ' || SQLERRM, ERRCODE = SQLSTATE;
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT extname, extversion IS NOT NULL AS has_version FROM pg_extension WHERE extname = 'pg_warden';
-- Tampering as a superuser who disables every guard of the ledger, runs q, and puts the
-- guards back: what verification must then find.
CREATE FUNCTION public.tamper(q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    ALTER EVENT TRIGGER warden_audit_ddl_guard DISABLE;
    ALTER EVENT TRIGGER warden_audit_drop_guard DISABLE;
    ALTER TABLE warden.audit_log DISABLE TRIGGER USER;
    EXECUTE q;
    ALTER TABLE warden.audit_log ENABLE ALWAYS TRIGGER audit_append_only;
    ALTER TABLE warden.audit_log ENABLE ALWAYS TRIGGER zz_audit_chain;
    ALTER EVENT TRIGGER warden_audit_ddl_guard ENABLE;
    ALTER EVENT TRIGGER warden_audit_drop_guard ENABLE;
END
$$;

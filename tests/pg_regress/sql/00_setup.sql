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

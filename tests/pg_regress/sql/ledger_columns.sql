-- The ledger's columns in the catalog against the one list in core
-- (warden_core::ledger::COLUMNS): the export writes an entry's fields in that list's
-- order and reads them through a SELECT list built from it, so an exported entry's keys
-- are the list. A column in one and not the other, or in another place, shows as a row
-- that does not match (or makes the export fail). Names and types of the list are held
-- to sql/audit.sql by a unit test in core.
BEGIN;
SELECT warden.create_key('audit', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
-- Every jsonb column set, since the export leaves out a jsonb column that is NULL.
INSERT INTO warden.audit_log (event_type, action, details, before_state, after_state)
    VALUES ('t', 'every column', '{"d": 1}', '{"b": 2}', '{"a": 3}');
CREATE TEMP TABLE listed AS
    SELECT key AS name, n::int AS position
      FROM json_object_keys(warden.export_audit_text('-infinity', 'infinity')::json -> 'entries' -> 0)
           WITH ORDINALITY AS k(key, n);
CREATE TEMP TABLE catalog AS
    SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null,
           row_number() OVER (ORDER BY attnum)::int AS position
      FROM pg_attribute
     WHERE attrelid = 'warden.audit_log'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT coalesce(c.position, l.position) AS position, c.name AS in_catalog, c.type, c.not_null,
       l.name AS in_list, c.name IS NOT DISTINCT FROM l.name AS same
  FROM catalog c FULL JOIN listed l USING (position)
 ORDER BY 1;
SELECT count(*) AS mismatches
  FROM catalog c FULL JOIN listed l USING (position)
 WHERE c.name IS DISTINCT FROM l.name;
ROLLBACK;

-- Describes every object of the pg_warden extension in a form that does not depend on
-- oids, so that an upgraded installation can be compared line by line with a fresh one.
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'pg_warden'),
members AS (
  SELECT d.classid, d.objid FROM pg_depend d, ext
  WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT line FROM (
  -- functions: full definition, ACL and comment
  SELECT 'function ' || p.oid::regprocedure::text || E'\n' || pg_get_functiondef(p.oid)
         || E'\nacl ' || coalesce(p.proacl::text, '-')
         || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-') AS line
  FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
  UNION ALL
  -- relations: kind, ACL, comment, options
  SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
         || ' acl=' || coalesce(c.relacl::text, '-') || ' rls=' || c.relrowsecurity
         || ' options=' || coalesce(c.reloptions::text, '-')
         || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '-')
  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  UNION ALL
  -- columns of every member table or view
  SELECT 'column ' || c.oid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || ' identity=' || a.attidentity::text || ' generated=' || a.attgenerated::text
         || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
         || ' acl=' || coalesce(a.attacl::text, '-') || ' storage=' || a.attstorage::text
         || ' statistics=' || a.attstattarget
         || ' comment=' || coalesce(col_description(c.oid, a.attnum), '-')
  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  UNION ALL
  SELECT 'view ' || c.oid::regclass::text || ' ' || pg_get_viewdef(c.oid)
  FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid AND c.relkind = 'v'
  UNION ALL
  SELECT 'constraint ' || con.conrelid::regclass::text || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
  FROM members m JOIN pg_constraint con ON m.classid = 'pg_class'::regclass AND con.conrelid = m.objid
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
  FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
  WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'policy ' || pol.polrelid::regclass::text || ' ' || pol.polname
  FROM members m JOIN pg_policy pol ON m.classid = 'pg_class'::regclass AND pol.polrelid = m.objid
  UNION ALL
  SELECT 'event trigger ' || e.evtname || ' on ' || e.evtevent || ' enabled=' || e.evtenabled::text
         || ' function=' || e.evtfoid::regproc::text || ' tags=' || coalesce(e.evttags::text, '-')
         || ' comment=' || coalesce(obj_description(e.oid, 'pg_event_trigger'), '-')
  FROM members m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
  UNION ALL
  SELECT 'type ' || t.oid::regtype::text || ' kind=' || t.typtype::text
  FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
  UNION ALL
  SELECT 'other ' || pg_describe_object(m.classid, m.objid, 0)
  FROM members m
  WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_event_trigger'::regclass, 'pg_type'::regclass)
  UNION ALL
  SELECT 'schema ' || n.nspname || ' owner=' || n.nspowner::regrole::text || ' acl=' || coalesce(n.nspacl::text, '-')
         || ' comment=' || coalesce(obj_description(n.oid, 'pg_namespace'), '-')
  FROM pg_namespace n WHERE n.nspname = 'warden'
  UNION ALL
  -- Each configuration table with its dump condition, in name order: the order of
  -- extconfig is the order the scripts registered them, which an update may change.
  SELECT 'config dump ' || c.oid::regclass::text || ' condition=' || coalesce(nullif(c.condition, ''), '-')
  FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS c(oid, condition)
  WHERE e.extname = 'pg_warden'
) described
ORDER BY line;

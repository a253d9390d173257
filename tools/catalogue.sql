-- tools/catalogue.sql: retailiq's catalogue in this database as sorted text lines, one per
-- object or property: every member of the extension with its definition, columns,
-- constraints, indexes, triggers, policies, grants and comments, and the row counts of its
-- tables. tools/upgradecheck.sh diffs an upgraded installation's lines against a fresh one's.
-- Names of constraints and indexes without a name in the source are generated, so indexes
-- are compared by definition with the name left out.
\pset format unaligned
\pset tuples_only on
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'retailiq'),
member AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
),
rel AS (
    SELECT c.* FROM pg_class c JOIN member m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
),
lines AS (
    -- every member object
    SELECT 'object ' || pg_describe_object(m.classid, m.objid, 0) AS line FROM member m
    UNION ALL
    -- functions, procedures and aggregates: full definition (aggregates: their support)
    SELECT 'function ' || p.oid::regprocedure || E'\n' ||
           CASE WHEN p.prokind = 'a' THEN
                (SELECT format('aggregate sfunc=%s stype=%s final=%s combine=%s serial=%s deserial=%s init=%s finalextra=%s modify=%s parallel=%s',
                               a.aggtransfn::regproc, format_type(a.aggtranstype, NULL), a.aggfinalfn::regproc,
                               a.aggcombinefn::regproc, a.aggserialfn::regproc, a.aggdeserialfn::regproc,
                               a.agginitval, a.aggfinalextra, a.aggfinalmodify, p.proparallel)
                   FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
                ELSE pg_get_functiondef(p.oid) END
      FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' owner ' || pg_get_userbyid(p.proowner) || ' acl ' ||
           coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.proacl) x), 'default')
      FROM pg_proc p JOIN member m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
    UNION ALL
    -- relations: kind, options, columns (by name), constraints, indexes, triggers, policies, acl
    SELECT format('relation %s kind %s rls %s/%s options %s acl %s', c.oid::regclass, c.relkind, c.relrowsecurity,
                  c.relforcerowsecurity, c.reloptions,
                  coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(c.relacl) x), 'default'))
      FROM rel c
    UNION ALL
    SELECT 'view ' || c.oid::regclass || E'\n' || pg_get_viewdef(c.oid) FROM rel c WHERE c.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('column %s.%s %s notnull %s default %s identity %s generated %s acl %s', c.oid::regclass,
                  quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
                  coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), 'default'))
      FROM rel c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
    UNION ALL
    SELECT format('constraint %s %s', c.oid::regclass, pg_get_constraintdef(k.oid))
      FROM rel c JOIN pg_constraint k ON k.conrelid = c.oid
    UNION ALL
    SELECT format('index %s %s', c.oid::regclass, regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON'))
      FROM rel c JOIN pg_index i ON i.indrelid = c.oid
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid))
      FROM rel c JOIN pg_trigger t ON t.tgrelid = c.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s %s cmd %s roles %s using %s check %s', c.oid::regclass, p.polname, p.polcmd,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY r) FROM unnest(p.polroles) r),
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM rel c JOIN pg_policy p ON p.polrelid = c.oid
    UNION ALL
    SELECT format('sequence %s %s start %s inc %s', c.oid::regclass, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement)
      FROM rel c JOIN pg_sequence s ON s.seqrelid = c.oid
    UNION ALL
    -- types: composite attributes come with the relation above; enums, domains, ranges here
    SELECT format('type %s %s %s', t.oid::regtype, t.typtype,
                  CASE t.typtype WHEN 'e' THEN (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
                                 WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                                 WHEN 'b' THEN format('in %s out %s recv %s send %s len %s align %s storage %s',
                                                      t.typinput, t.typoutput, t.typreceive, t.typsend, t.typlen, t.typalign, t.typstorage)
                                 ELSE '' END)
      FROM pg_type t JOIN member m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
    UNION ALL
    -- comments on members and their columns
    SELECT format('comment %s: %s', pg_describe_object(d.classoid, d.objoid, d.objsubid), d.description)
      FROM pg_description d JOIN member m ON m.classid = d.classoid AND m.objid = d.objoid
    UNION ALL
    -- schemas' grants (the schemas are members)
    SELECT format('schema %s acl %s', n.nspname, coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(n.nspacl) x), 'default'))
      FROM pg_namespace n JOIN member m ON m.classid = 'pg_namespace'::regclass AND m.objid = n.oid
    UNION ALL
    -- the tables pg_dump dumps, and with which filter
    SELECT format('config %s %s', x.c::regclass, x.f)
      FROM pg_extension e, ext, unnest(e.extconfig, e.extcondition) AS x(c, f) WHERE e.oid = ext.oid
    UNION ALL
    -- operators and casts
    SELECT format('operator %s proc %s', o.oid::regoperator, o.oprcode)
      FROM pg_operator o JOIN member m ON m.classid = 'pg_operator'::regclass AND m.objid = o.oid
    UNION ALL
    SELECT format('cast %s context %s method %s', pg_describe_object('pg_cast'::regclass, k.oid, 0), k.castcontext, k.castmethod)
      FROM pg_cast k JOIN member m ON m.classid = 'pg_cast'::regclass AND m.objid = k.oid
)
SELECT line FROM lines ORDER BY line COLLATE "C";
-- how many rows each member table holds (the default rows of a fresh installation)
SELECT format('SELECT %L || count(*) FROM %s', 'rows ' || c.oid::regclass || ' ', c.oid::regclass)
  FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'retailiq'
 WHERE c.relkind = 'r'
 ORDER BY c.oid::regclass::text COLLATE "C" \gexec

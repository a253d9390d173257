-- CREATE and DROP EXTENSION work cleanly and repeatedly beside other objects,
-- and leave nothing behind (the schema belongs to the extension). In a database of its own,
-- so that objects other suites leave in the shared test database cannot interfere.
\set origdb :DBNAME
CREATE DATABASE retailiq_extension_test;
\c retailiq_extension_test
CREATE EXTENSION retailiq;
CREATE TABLE bystander (id int PRIMARY KEY, note text);
INSERT INTO bystander VALUES (1, 'stays');
DROP EXTENSION retailiq;
SELECT count(*) AS leftover_schemas FROM pg_namespace WHERE nspname IN ('retailiq', 'retailiq_internal');
CREATE EXTENSION retailiq;
DROP EXTENSION retailiq;
CREATE EXTENSION retailiq;
SELECT extversion FROM pg_extension WHERE extname = 'retailiq';
SELECT * FROM bystander;
-- The API and the machinery live apart: every aggregate support function is in
-- retailiq_internal, no function in retailiq is named like a helper ('_...'), and every trigger
-- function but stock_alert (which users attach to their own tables) is in retailiq_internal.
SELECT count(*) > 0 AS has_functions,
       bool_and(n.nspname = 'retailiq_internal') FILTER (WHERE EXISTS (
                    SELECT 1 FROM pg_aggregate a
                    WHERE p.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn)))
           AS support_internal,
       count(*) FILTER (WHERE n.nspname = 'retailiq' AND p.proname LIKE '\_%') AS helpers_in_api,
       array_agg(p.proname ORDER BY p.proname) FILTER (WHERE n.nspname = 'retailiq'
                 AND p.prorettype = 'trigger'::regtype) AS api_triggers
FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE d.refclassid = 'pg_extension'::regclass
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'retailiq');
-- No machinery is executable by PUBLIC, but the helpers that API functions running with the
-- caller's rights call (src/privileges.sql lists them and says why).
SELECT p.proname AS public_helper
FROM pg_proc p
WHERE p.pronamespace = 'retailiq_internal'::regnamespace
  AND has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY 1;
-- a table using the type blocks a plain DROP
CREATE TABLE uses_model (m retailiq.model);
DROP EXTENSION retailiq;
DROP TABLE uses_model;
-- GUCs
SHOW retailiq.max_memory;
SET retailiq.max_memory = '512MB';
SHOW retailiq.max_memory;
RESET retailiq.max_memory;
SET retailiq.no_such_setting = 1;
\c :origdb
DROP DATABASE retailiq_extension_test;

-- Upgrade from 0.2.0 to 0.3.0, hand-written part run first (tools/upgrade_script.pl puts every
-- statement of the current install script after it, made idempotent, then
-- 0.2.0--0.3.0.after.sql). Here: what the current sources cannot do by themselves, that is
-- objects removed or renamed since 0.2.0, functions whose arguments or result changed
-- (CREATE OR REPLACE cannot change them), and changes to existing tables and types.
-- doc/operations.md, "Changing SQL objects", says when to add to it. (0.1.0 reaches 0.3.0
-- through the frozen retailiq--0.1.0--0.2.0.sql first.)

-- store_access.grantee: the name a store was granted to, what a Citus worker matches (issue 19);
-- filled from the roles the grants name now (a dropped role's rows keep NULL)
ALTER TABLE retailiq.store_access ADD COLUMN grantee name;
UPDATE retailiq.store_access a SET grantee = r.rolname FROM pg_catalog.pg_roles r WHERE r.oid = a.role_name;

-- replenishment_simulate gained a last argument, levels (the backtest's 'plan_pooled', issue 24)
DROP FUNCTION IF EXISTS retailiq_internal.replenishment_simulate(float8[], int, int, int, text, float8, float8, int,
                                                                 float8[], float8[]);
-- replenishment_plan gained a last argument, service_target (issue 24)
DROP FUNCTION IF EXISTS retailiq.replenishment_plan(text, date, bigint[], text);

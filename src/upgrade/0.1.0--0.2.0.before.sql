-- Upgrade from 0.1.0 to 0.2.0, hand-written part run first (tools/upgrade_script.pl puts
-- every statement of the current install script after it, made idempotent, then
-- 0.1.0--0.2.0.after.sql). Here: what the current sources cannot do by themselves, that is
-- objects removed or renamed since 0.1.0, functions whose arguments or result changed
-- (CREATE OR REPLACE cannot change them), and changes to existing tables and types.
-- doc/operations.md, "Changing SQL objects", says when to add to it.

-- A role name of 0.1.0 as the role it names now (0 when it was dropped: shown as '-', and
-- treated as a dropped role, as 0.2.0 keeps roles by OID).
CREATE FUNCTION pg_temp.riq_role(r name) RETURNS regrole LANGUAGE sql STABLE
AS $f$ SELECT coalesce((SELECT oid FROM pg_catalog.pg_roles WHERE rolname = r), 0)::regrole $f$;

-- audit log: no key on the partitioned table, each monthly partition its own (audit.sql: a
-- restore's ATTACH PARTITION would otherwise make a second key)
ALTER TABLE retailiq.audit_log DROP CONSTRAINT audit_log_pkey;
DROP INDEX retailiq.audit_log_id_idx;
DO $u$
DECLARE p regclass;
BEGIN
    FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'retailiq.audit_log'::regclass LOOP
        EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (id)', p);
    END LOOP;
END $u$;

-- roles kept by OID (regrole) instead of by name
ALTER TABLE retailiq.approval
    ALTER COLUMN requested_by TYPE regrole USING pg_temp.riq_role(requested_by),
    ALTER COLUMN decided_by TYPE regrole USING pg_temp.riq_role(decided_by),
    DROP CONSTRAINT approval_action_check,
    ADD CONSTRAINT approval_action_check
        CHECK (action IN ('export_unmasked', 'set_masking_rule', 'change_model', 'purge_audit_log',
                          'change_forecast_parameters'));
-- stores_of's SQL-standard body reads store_access.role_name: a body that does not, until
-- the install script's definition replaces it (the store policies on the retailer's tables
-- call it, so it is replaced, never dropped)
CREATE OR REPLACE FUNCTION retailiq.stores_of(role_name name) RETURNS bigint[] LANGUAGE sql STABLE
AS $f$ SELECT '{}'::bigint[] $f$;
-- grantee: the name a store was granted to (what a Citus worker matches; 0.1.0 kept names)
ALTER TABLE retailiq.store_access ADD COLUMN grantee name;
UPDATE retailiq.store_access SET grantee = role_name;
ALTER TABLE retailiq.store_access
    ALTER COLUMN role_name TYPE regrole USING pg_temp.riq_role(role_name),
    ALTER COLUMN granted_by DROP DEFAULT,
    ALTER COLUMN granted_by TYPE regrole USING pg_temp.riq_role(granted_by),
    ALTER COLUMN granted_by SET DEFAULT pg_catalog.quote_ident(session_user)::regrole;

-- jobs: owner by OID, who created the job and who set its command; run progress. The
-- policies and the status view read the owner column: dropped here, made again below.
DROP POLICY job_read ON retailiq.job;
DROP POLICY job_insert ON retailiq.job;
DROP POLICY job_update ON retailiq.job;
DROP POLICY job_delete ON retailiq.job;
DROP POLICY job_run_read ON retailiq.job_run;
DROP VIEW retailiq.job_status;
ALTER TABLE retailiq.job DISABLE TRIGGER USER;
ALTER TABLE retailiq.job
    ALTER COLUMN owner DROP DEFAULT,
    ALTER COLUMN owner TYPE regrole USING pg_temp.riq_role(owner),
    ALTER COLUMN owner SET DEFAULT pg_catalog.quote_ident(current_user)::regrole,
    ADD COLUMN created_by regrole,
    ADD COLUMN command_by regrole;
UPDATE retailiq.job SET created_by = owner, command_by = owner;
ALTER TABLE retailiq.job ALTER COLUMN created_by SET NOT NULL, ALTER COLUMN command_by SET NOT NULL;
ALTER TABLE retailiq.job ENABLE TRIGGER USER;
ALTER TABLE retailiq.job_run
    ALTER COLUMN owner TYPE regrole USING pg_temp.riq_role(owner),
    ADD COLUMN progress jsonb;

-- forecasts: the store and product of each series; profiles: which orders source they came from
ALTER TABLE retailiq.forecast_result ADD COLUMN store_id bigint, ADD COLUMN product_id bigint;
ALTER TABLE retailiq.customer_profile_data ADD COLUMN orders_source text;

-- one registry of the retailer's tables (retailiq.source): the behaviour part's event_source
-- and the forecast part's sales_source table give their rows to it (after part); sales_source
-- becomes a view over retailiq.source and retailiq.sales_source_state
CREATE TEMP TABLE riq_old_event_source AS SELECT * FROM retailiq.event_source;
CREATE TEMP TABLE riq_old_sales_source AS SELECT * FROM retailiq.sales_source;
DROP FUNCTION retailiq.register_sales_source(text, regclass, text, text, text, text[], text, jsonb),
              retailiq._sales_source_query(retailiq.sales_source, boolean, boolean),
              retailiq._sales_source_fit_query(retailiq.sales_source, text, boolean, boolean),
              retailiq._sales_source_future_exog(retailiq.sales_source, retailiq.model, integer, date);
ALTER EXTENSION retailiq DROP TABLE retailiq.event_source;
ALTER EXTENSION retailiq DROP TABLE retailiq.sales_source;
DROP TABLE retailiq.event_source;
DROP TABLE retailiq.sales_source;

-- privacy: standard roles and store-level row security.

-- Which stores each role may see and change (members of the role inherit them). Roles are
-- kept by OID (regrole, shown by name): a role dropped and created again under its name is
-- another role and inherits no store; the dropped role's rows are ignored (and shown by
-- number) until retailiq.forget_dropped_roles() removes them. grantee is the role's name
-- when it was granted: on a Citus cluster store_access is made a reference table (a copy on
-- every node, doc/distributed.md), and a worker, where the same role has another OID, matches
-- the rows by that name (retailiq.stores_of).
CREATE TABLE retailiq.store_access (
    role_name  regrole NOT NULL,
    store_id   bigint  NOT NULL,
    granted_by regrole NOT NULL DEFAULT pg_catalog.quote_ident(session_user)::regrole,
    granted_at timestamptz NOT NULL DEFAULT now(),
    grantee    name,
    PRIMARY KEY (role_name, store_id)
);
REVOKE ALL ON retailiq.store_access FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('retailiq.store_access', '');

CREATE FUNCTION retailiq.create_standard_roles() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['retailiq_admin', 'retailiq_operator', 'retailiq_purchaser', 'retailiq_store_manager'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA retailiq TO %I', r);
    END LOOP;
    -- admin: the governance records and the sensitive actions (each still needs an approval)
    GRANT SELECT ON retailiq.audit_log, retailiq.approval, retailiq.store_access TO retailiq_admin;
    GRANT EXECUTE ON FUNCTION retailiq.audit_verify(), retailiq.export_unmasked(regclass),
          retailiq.set_masking_rule(regclass, name, text), retailiq.purge_audit_log() TO retailiq_admin;
    GRANT SELECT ON retailiq.pseudonym_key TO retailiq_admin;
    -- operator: analysis and forecasting; saves and reads models
    GRANT SELECT, INSERT ON retailiq.models TO retailiq_operator;
    GRANT SELECT, INSERT, UPDATE, DELETE ON retailiq.forecast_result TO retailiq_operator;
    -- operator and admin change sales sources (register_sales_source runs with their rights);
    -- every change still needs a second admin's approval (forecast_change_guard, approval.sql);
    -- the refresh locks its source's row through the view
    GRANT SELECT, INSERT, UPDATE, DELETE ON retailiq.source, retailiq.sales_source_state TO retailiq_operator, retailiq_admin;
    GRANT UPDATE ON retailiq.sales_source TO retailiq_operator;
    -- purchaser: inventory and replenishment read the forecasts
    GRANT SELECT ON retailiq.forecast_result TO retailiq_purchaser;
    GRANT SELECT ON retailiq.models TO retailiq_purchaser;
    -- store manager: nothing here; tables put under retailiq.enable_store_security() are
    -- granted to it, limited to its stores by row-level security
    PERFORM retailiq.audit_record('create_standard_roles', '{}');
END
$$;

CREATE FUNCTION retailiq.grant_store(role_name regrole, store_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grantee name;
BEGIN
    IF role_name IS NULL OR store_id IS NULL THEN
        RAISE EXCEPTION 'role_name and store_id must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a role and a store id.';
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
       AND NOT pg_has_role(session_user, 'retailiq_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only members of retailiq_admin grant stores'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a member of retailiq_admin.';
    END IF;
    grantee := (SELECT r.rolname FROM pg_roles r WHERE r.oid = role_name);
    INSERT INTO retailiq.store_access (role_name, store_id, grantee)
    VALUES (role_name, store_id, grantee) ON CONFLICT DO NOTHING;
    PERFORM retailiq.audit_record('grant_store', jsonb_build_object('role', role_name::text, 'store_id', store_id));
END
$$;

CREATE FUNCTION retailiq.revoke_store(role_name regrole, store_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_grantee name;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
       AND NOT pg_has_role(session_user, 'retailiq_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only members of retailiq_admin revoke stores'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a member of retailiq_admin.';
    END IF;
    -- by OID, and by the name it was granted under: on a Citus worker the OID is another
    v_grantee := (SELECT r.rolname FROM pg_roles r WHERE r.oid = revoke_store.role_name);
    DELETE FROM retailiq.store_access a
     WHERE a.store_id = revoke_store.store_id
       AND (a.role_name = revoke_store.role_name OR a.grantee = v_grantee);
    PERFORM retailiq.audit_record('revoke_store', jsonb_build_object('role', role_name::text, 'store_id', store_id));
END
$$;

-- Is this server a Citus worker (a node of a Citus cluster other than its coordinator)?
CREATE FUNCTION retailiq_internal.citus_worker() RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    coordinator boolean;
BEGIN
    IF to_regprocedure('pg_catalog.citus_is_coordinator()') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO coordinator;
    RETURN NOT coordinator;
END
$$;

-- The stores the given role may see: those granted to it or to a role it is a member of.
-- Row-level policies call it with current_user (the querying role, or a view's owner). It
-- reads store_access once per query, not per row (src/privacy/stores_of.c). On a Citus
-- worker (a policy on a distributed table's shard) the grants are matched by the name they
-- were made under, since the OIDs of store_access are the coordinator's; there store_access
-- is a reference table, which a shard's query may read (citus.allow_nested_distributed_execution;
-- a placeholder setting without Citus).
CREATE FUNCTION retailiq.stores_of(role_name name) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'stores_of'
    LANGUAGE C STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    SET citus.allow_nested_distributed_execution = on;

-- The run history of a job quotes its errors, and an error may quote the data the job read
-- (a unique violation's detail, a RAISE). A masked session reads only the runs of its own
-- jobs, which ran masked: not those of an unmasked role it is a member of.
ALTER POLICY job_run_read ON retailiq.job_run USING (
    pg_catalog.pg_has_role(owner, 'USAGE')
    AND (owner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)
         OR NOT retailiq.is_masked((SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)::regrole)));

-- What dropped roles left behind: their store grants and their jobs (which no longer run).
-- Their approval requests stay as records; no one can use or decide them.
CREATE FUNCTION retailiq.forget_dropped_roles() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    stores bigint;
    jobs bigint;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
       AND NOT (EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_admin')
                AND pg_has_role(session_user, 'retailiq_admin', 'MEMBER')) THEN
        RAISE EXCEPTION 'only members of retailiq_admin forget dropped roles'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a member of retailiq_admin.';
    END IF;
    DELETE FROM retailiq.store_access a WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.role_name);
    GET DIAGNOSTICS stores = ROW_COUNT;
    DELETE FROM retailiq.job j WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = j.owner);
    GET DIAGNOSTICS jobs = ROW_COUNT;
    IF stores + jobs > 0 THEN
        PERFORM retailiq.audit_record('forget_dropped_roles', jsonb_build_object('store_grants', stores, 'jobs', jobs));
    END IF;
    RETURN stores + jobs;
END
$$;
COMMENT ON FUNCTION retailiq.forget_dropped_roles() IS
    'removes the store grants and jobs of roles that no longer exist; returns how many';

-- Row-level security on a table with a store column: retailiq_store_manager members see and
-- change only rows of their stores; admin, operator and purchaser see all rows.
CREATE FUNCTION retailiq.enable_store_security(tbl regclass, store_column name) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ text;
BEGIN
    IF tbl IS NULL OR store_column IS NULL THEN
        RAISE EXCEPTION 'tbl and store_column must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a table and its store id column.';
    END IF;
    SELECT format_type(a.atttypid, a.atttypmod) INTO typ FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = store_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF typ IS NULL THEN
        RAISE EXCEPTION 'column "%" does not exist in %', store_column, tbl
            USING ERRCODE = 'undefined_column', HINT = 'Name the table''s store id column.';
    END IF;
    IF typ NOT IN ('integer', 'bigint', 'smallint') THEN
        RAISE EXCEPTION 'store column "%" of % must be an integer column', store_column, tbl
            USING ERRCODE = 'datatype_mismatch', HINT = 'Store ids are integers.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_store_manager') THEN
        RAISE EXCEPTION 'the standard roles do not exist'
            USING ERRCODE = 'undefined_object', HINT = 'Run SELECT retailiq.create_standard_roles(); first.';
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('DROP POLICY IF EXISTS retailiq_own_stores ON %s', tbl);
    EXECUTE format('DROP POLICY IF EXISTS retailiq_all_stores ON %s', tbl);
    EXECUTE format('CREATE POLICY retailiq_own_stores ON %s FOR ALL TO retailiq_store_manager '
                   'USING (%I = ANY (retailiq.stores_of(current_user)::%s[])) '
                   'WITH CHECK (%I = ANY (retailiq.stores_of(current_user)::%s[]))',
                   tbl, store_column, typ, store_column, typ);
    EXECUTE format('CREATE POLICY retailiq_all_stores ON %s FOR ALL TO retailiq_admin, retailiq_operator, retailiq_purchaser '
                   'USING (true) WITH CHECK (true)', tbl);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO retailiq_store_manager', tbl);
    EXECUTE format('GRANT SELECT ON %s TO retailiq_admin, retailiq_operator, retailiq_purchaser', tbl);
    PERFORM retailiq.audit_record('enable_store_security', jsonb_build_object('table', tbl::text, 'store_column', store_column));
END
$$;

-- Citus checks EXECUTE on the support functions of an aggregate it splits (partial states on
-- the workers, combined on the coordinator: wape, kmeans_pass, bgnbd_fit, assoc_rules, ...) for
-- the calling role, where one node checks only the aggregate. They are not PUBLIC
-- (src/privileges.sql); this grants (or, with revoke, takes back) EXECUTE on those of every
-- splittable retailiq aggregate (a combine function and a state that is not internal) to a
-- role, on this node and, on a Citus coordinator, on every worker. Returns the functions.
CREATE FUNCTION retailiq.grant_distributed_aggregates(role_name regrole, revoke boolean DEFAULT false)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f regprocedure;
    n integer := 0;
    cmd text;
    cmds text[] := '{}';
BEGIN
    IF role_name IS NULL OR revoke IS NULL THEN
        RAISE EXCEPTION 'role_name and revoke must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a role, and true to take the grants back.';
    END IF;
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'retailiq'), 'USAGE') THEN
        RAISE EXCEPTION 'only the owner of the retailiq extension grants its aggregates'' support functions'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a superuser or the extension''s owner.';
    END IF;
    FOR f IN
        SELECT DISTINCT s.fn::regprocedure
          FROM pg_aggregate a
          JOIN pg_proc p ON p.oid = a.aggfnoid
         CROSS JOIN LATERAL (VALUES (a.aggtransfn), (a.aggcombinefn), (a.aggfinalfn),
                                    (a.aggserialfn), (a.aggdeserialfn)) s(fn)
         WHERE p.pronamespace IN ('retailiq'::regnamespace, 'retailiq_internal'::regnamespace)
           AND a.aggcombinefn <> 0 AND a.aggtranstype <> 'internal'::regtype AND s.fn <> 0
         ORDER BY 1
    LOOP
        cmd := format(CASE WHEN revoke THEN 'REVOKE EXECUTE ON FUNCTION %s FROM %s'
                           ELSE 'GRANT EXECUTE ON FUNCTION %s TO %s' END, f, role_name);
        EXECUTE cmd;
        cmds := cmds || cmd;
        n := n + 1;
    END LOOP;
    IF NOT retailiq_internal.citus_worker() AND to_regprocedure('pg_catalog.run_command_on_workers(text,boolean)') IS NOT NULL THEN
        -- the workers run the partial aggregates: the same grants there (in one command each)
        EXECUTE 'SELECT count(*) FROM pg_catalog.run_command_on_workers($1) WHERE NOT success'
           INTO cmd USING array_to_string(cmds, '; ');
        IF cmd::int > 0 THEN
            RAISE EXCEPTION 'the grants failed on % of the workers', cmd
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Check that retailiq is installed on every worker, then run this again.';
        END IF;
    END IF;
    PERFORM retailiq.audit_record(CASE WHEN revoke THEN 'revoke_distributed_aggregates' ELSE 'grant_distributed_aggregates' END,
                                  jsonb_build_object('role', role_name::text, 'functions', n));
    RETURN n;
END
$$;
COMMENT ON FUNCTION retailiq.grant_distributed_aggregates(regrole, boolean) IS
    'grants (or revokes) EXECUTE on the support functions of retailiq''s splittable aggregates to a role, on every Citus node';

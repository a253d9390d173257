-- privacy: two-person approval of sensitive actions, and the actions it protects.
-- Identities are session_user (the login role): SET ROLE cannot turn a requester into
-- its own approver. They are kept by OID (regrole): a role dropped and created again under
-- the same name is another person and can neither use nor decide the old one's requests.
-- A job runs in a session of its owner; a job that the requester created or wrote the
-- command of cannot approve the request either (retailiq.current_job()).

CREATE TABLE retailiq.approval (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action       text        NOT NULL
                 CHECK (action IN ('export_unmasked', 'set_masking_rule', 'change_model', 'purge_audit_log',
                            'change_forecast_parameters')),
    args         jsonb       NOT NULL,
    requested_by regrole     NOT NULL,
    requested_at timestamptz NOT NULL,
    valid_until  timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'rejected', 'used')),
    decided_by   regrole,
    decided_at   timestamptz,
    used_at      timestamptz
);
COMMENT ON TABLE retailiq.approval IS 'two-person approvals of sensitive actions; each approved request is used at most once';
REVOKE ALL ON retailiq.approval FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('retailiq.approval', '');

CREATE FUNCTION retailiq.request_approval(action text, args jsonb DEFAULT '{}', valid_for interval DEFAULT '1 hour')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
    expires timestamptz;
BEGIN
    IF action IS NULL OR action NOT IN ('export_unmasked', 'set_masking_rule', 'change_model', 'purge_audit_log',
                            'change_forecast_parameters') THEN
        RAISE EXCEPTION 'unknown action %', coalesce(quote_literal(action), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Actions are export_unmasked, set_masking_rule, change_model, purge_audit_log and change_forecast_parameters.';
    END IF;
    IF args IS NULL OR jsonb_typeof(args) <> 'object' THEN
        RAISE EXCEPTION 'args must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. ''{"table": "public.customers"}''.';
    END IF;
    -- Judge the expiry time itself: comparing intervals counts a month as 30 days and a
    -- year as 360, while adding one to a time counts calendar months and years, so
    -- '1000 years -359993 days' compares as 7 days and ends 5,249 days from now.
    BEGIN
        expires := now() + valid_for;
    EXCEPTION WHEN datetime_field_overflow THEN
        expires := 'infinity';
    END;
    IF expires IS NULL OR expires <= now() OR expires > now() + interval '7 days' THEN
        RAISE EXCEPTION 'valid_for must end after now and within 7 days'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('valid_for %s ends at %s.', coalesce(valid_for::text, 'NULL'), coalesce(expires::text, 'NULL')),
                  HINT = 'Give a positive interval of at most 7 days; the default is 1 hour.';
    END IF;
    INSERT INTO retailiq.approval (action, args, requested_by, requested_at, valid_until)
    VALUES (action, args, (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user), now(), expires)
    RETURNING id INTO new_id;
    PERFORM retailiq.audit_record('approval_requested',
                                  jsonb_build_object('approval', new_id, 'action', action, 'args', args));
    RETURN new_id;
END
$$;

CREATE FUNCTION retailiq.privacy_decide(approval_id bigint, approve boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a retailiq.approval;
    me regrole := (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user);
    job record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_admin')
       OR NOT pg_has_role(session_user, 'retailiq_admin', 'MEMBER') THEN
        RAISE EXCEPTION 'only members of retailiq_admin decide approvals'
            USING ERRCODE = 'insufficient_privilege', HINT = 'Ask a member of retailiq_admin.';
    END IF;
    SELECT * INTO a FROM retailiq.approval WHERE id = approval_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'approval % does not exist', approval_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'retailiq.approval lists the requests.';
    END IF;
    IF a.status <> 'pending' THEN
        RAISE EXCEPTION 'approval % is already %', approval_id, a.status
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Make a new request.';
    END IF;
    IF a.valid_until <= now() THEN
        RAISE EXCEPTION 'approval % has expired', approval_id
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Make a new request.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.requested_by) THEN
        RAISE EXCEPTION 'approval % was requested by a role that no longer exists', approval_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('The requester (OID %s) was dropped; a role created later under its name is another role.', a.requested_by::oid),
                  HINT = 'The new role must make its own request.';
    END IF;
    IF approve AND a.requested_by = me THEN
        RAISE EXCEPTION 'a request cannot be approved by the user who made it'
            USING ERRCODE = 'insufficient_privilege', HINT = 'A second member of retailiq_admin must approve it.';
    END IF;
    -- a job runs in a session of its owner (checked above as session_user), but whoever
    -- created it or wrote its command decided what it does
    SELECT * INTO job FROM retailiq.current_job();
    IF approve AND job.job_id IS NOT NULL AND a.requested_by IN (job.created_by, job.command_by) THEN
        RAISE EXCEPTION 'a request cannot be approved by a job created by the requester'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Approval %s was requested by %s, who created or last changed the command of job %s.',
                                  approval_id, a.requested_by, job.job_id),
                  HINT = 'A second member of retailiq_admin must approve it in a session or job of their own.';
    END IF;
    UPDATE retailiq.approval
       SET status = CASE WHEN approve THEN 'approved' ELSE 'rejected' END,
           decided_by = me, decided_at = now()
     WHERE id = approval_id;
    PERFORM retailiq.audit_record(CASE WHEN approve THEN 'approval_granted' ELSE 'approval_rejected' END,
                                  jsonb_build_object('approval', approval_id, 'action', a.action, 'args', a.args,
                                                     'requested_by', a.requested_by::text)
                                  || CASE WHEN job.job_id IS NULL THEN '{}'::jsonb
                                          ELSE jsonb_build_object('job', job.job_id) END);
END
$$;
REVOKE ALL ON FUNCTION retailiq.privacy_decide(bigint, boolean) FROM PUBLIC;

CREATE FUNCTION retailiq.approve(approval_id bigint) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC SELECT retailiq.privacy_decide(approval_id, true); END;
CREATE FUNCTION retailiq.reject(approval_id bigint) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC SELECT retailiq.privacy_decide(approval_id, false); END;

-- Uses up the oldest approved, unexpired request of session_user for exactly this action
-- and these args; raises if there is none. The row lock makes a request usable once even
-- when two sessions race for it (the loser re-reads it as used, or fails to serialize).
CREATE FUNCTION retailiq.consume_approval(action text, args jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    got bigint;
BEGIN
    SELECT a.id INTO got FROM retailiq.approval a
     WHERE a.action = consume_approval.action AND a.args = consume_approval.args
       AND a.requested_by = (SELECT r.oid FROM pg_roles r WHERE r.rolname = session_user)
       AND a.status = 'approved' AND a.valid_until > now()
     ORDER BY a.id
     LIMIT 1
       FOR UPDATE;
    IF got IS NULL THEN
        RAISE EXCEPTION '% needs an approval', action
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('No approved, unused, unexpired request by %s for %s with args %s.', session_user, action, args),
                  HINT = format('SELECT retailiq.request_approval(%L, %L); then a second member of retailiq_admin runs retailiq.approve(id).', action, args);
    END IF;
    UPDATE retailiq.approval SET status = 'used', used_at = now() WHERE id = got;
    PERFORM retailiq.audit_record('approval_used', jsonb_build_object('approval', got, 'action', action, 'args', args));
    RETURN got;
END
$$;
REVOKE ALL ON FUNCTION retailiq.consume_approval(text, jsonb) FROM PUBLIC;

-- Export the raw rows of a table (as JSON objects). Approval args: {"table": "<schema.table>"}.
CREATE FUNCTION retailiq.export_unmasked(rel regclass) RETURNS SETOF jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
    n bigint;
BEGIN
    IF rel IS NULL THEN
        RAISE EXCEPTION 'rel must not be NULL' USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a table.';
    END IF;
    SELECT format('%I.%I', n2.nspname, c.relname) INTO t
      FROM pg_class c JOIN pg_namespace n2 ON n2.oid = c.relnamespace WHERE c.oid = rel;
    PERFORM retailiq.consume_approval('export_unmasked', jsonb_build_object('table', t));
    RETURN QUERY EXECUTE format('SELECT to_jsonb(t) FROM %s t', t);
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM retailiq.audit_record('export_unmasked', jsonb_build_object('table', t, 'rows', n));
END
$$;
REVOKE ALL ON FUNCTION retailiq.export_unmasked(regclass) FROM PUBLIC;

-- Change (or, with rule NULL, drop) one masking rule, then rebuild the masking views.
-- Approval args: {"table": "<schema.table>", "column": "<column>", "rule": <rule or null>}.
CREATE FUNCTION retailiq.set_masking_rule(rel regclass, column_name name, rule text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    IF rel IS NULL OR column_name IS NULL THEN
        RAISE EXCEPTION 'rel and column_name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the table and the column.';
    END IF;
    SELECT format('%I.%I', n.nspname, c.relname) INTO t
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel;
    PERFORM retailiq.consume_approval('set_masking_rule',
                                      jsonb_build_object('table', t, 'column', column_name, 'rule', rule));
    EXECUTE format('SECURITY LABEL FOR retailiq ON COLUMN %s.%I IS %s', t, column_name,
                   coalesce(quote_literal(rule), 'NULL'));
    PERFORM retailiq.audit_record('masking_rule_changed',
                                  jsonb_build_object('table', t, 'column', column_name, 'rule', rule));
    PERFORM retailiq.apply_masking();
END
$$;
REVOKE ALL ON FUNCTION retailiq.set_masking_rule(regclass, name, text) FROM PUBLIC;

-- Remove audit records older than retailiq.audit_retention. Approval args: {}.
CREATE FUNCTION retailiq.purge_audit_log() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cutoff timestamptz := now() - current_setting('retailiq.audit_retention')::interval;
    last_hash bytea;
    last_id bigint;
    n bigint;
BEGIN
    PERFORM retailiq.consume_approval('purge_audit_log', '{}');
    SELECT a.id, a.row_hash INTO last_id, last_hash FROM retailiq.audit_log a
     WHERE a.logged_at < cutoff ORDER BY a.id DESC LIMIT 1;
    PERFORM set_config('retailiq.audit_purging', 'on', true);
    DELETE FROM retailiq.audit_log a WHERE a.logged_at < cutoff;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('retailiq.audit_purging', 'off', true);
    PERFORM retailiq.audit_record('purge_audit_log',
                                  jsonb_build_object('cutoff', cutoff, 'rows', n, 'last_purged_id', last_id,
                                                     'last_purged_hash', encode(last_hash, 'hex')));
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION retailiq.purge_audit_log() FROM PUBLIC;

-- A saved model's parameters change only with an approval (new versions through
-- save_model are inserts and need none). Approval args: {"name": "<model name>", "version": <version>}.
CREATE FUNCTION retailiq_internal.models_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM retailiq.consume_approval('change_model', jsonb_build_object('name', OLD.name, 'version', OLD.version));
    PERFORM retailiq.audit_record('model_changed', jsonb_build_object('name', OLD.name, 'version', OLD.version,
                                  'changed', OLD.model::text IS DISTINCT FROM NEW.model::text));
    RETURN NEW;
END
$$;
CREATE TRIGGER models_guard BEFORE UPDATE ON retailiq.models
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.models_guard();

-- Forecast parameters under the two-person rule (issue 24). A change of a sales source
-- (register_sales_source, unregister_sales_source) or of a planning threshold
-- (retailiq.set_planning_threshold) by anyone but a superuser uses up an approved
-- change_forecast_parameters request whose args are exactly the change; every change,
-- superusers' too, is audited with the values before and after. register_sales_source and
-- unregister_sales_source run with the caller's rights (they read the caller's relation), so
-- the standard roles may write retailiq.source and retailiq.sales_source_state
-- (create_standard_roles), and a trigger on both refuses any write by a non-superuser that
-- no approval of this transaction covers: the approved relation, columns, method and options
-- of that one source, nothing else. The refresh's own bookkeeping (last_* columns) needs none.

-- The changes approved in the running transactions: the guard's evidence. Rows of finished
-- transactions are removed by the next change.
CREATE TABLE retailiq_internal.approved_change (
    txid        xid8   NOT NULL,
    source      text   NOT NULL,
    change      jsonb  NOT NULL,
    approval_id bigint,
    PRIMARY KEY (txid, source)
);
REVOKE ALL ON retailiq_internal.approved_change FROM PUBLIC;

-- The approval of one change of forecast parameters: change is the approval's args
-- ({"change": "register" | "unregister" | "threshold", "source": ..., ...}); before the
-- current values (NULL for a new one). Uses up the requester's approved request unless the
-- session user is a superuser, records the change with both values in the audit log, and
-- lets this transaction write exactly that change. Returns the approval used (NULL for a
-- superuser).
CREATE FUNCTION retailiq_internal.forecast_change_approve(change jsonb, before jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    got bigint;
    after jsonb := change - 'change' - 'source';
BEGIN
    IF change IS NULL OR change ->> 'change' IS NULL OR change ->> 'source' IS NULL THEN
        RAISE EXCEPTION 'a change of forecast parameters must name the change and the source'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user) THEN
        got := retailiq.consume_approval('change_forecast_parameters', change);
    END IF;
    DELETE FROM retailiq_internal.approved_change c
     WHERE c.txid < pg_snapshot_xmin(pg_current_snapshot());
    INSERT INTO retailiq_internal.approved_change AS c (txid, source, change, approval_id)
    VALUES (pg_current_xact_id(), change ->> 'source', change, got)
    ON CONFLICT (txid, source) DO UPDATE SET change = excluded.change, approval_id = excluded.approval_id;
    PERFORM retailiq.audit_record('forecast_parameters_changed',
                                  jsonb_build_object('change', change ->> 'change', 'source', change ->> 'source',
                                                     'before', before,
                                                     'after', CASE WHEN change ->> 'change' = 'unregister' THEN NULL
                                                                   ELSE after END,
                                                     'approval', got));
    RETURN got;
END
$$;

-- A sales source's definition as register_sales_source writes it, and as the approval's args
-- carry it (also its "before" in the audit log).
CREATE FUNCTION retailiq_internal.sales_source_definition(source text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object('relation', s.relation::text, 'columns', s.columns,
                              'method', st.method, 'options', st.options)
      FROM retailiq.source s JOIN retailiq.sales_source_state st ON st.role = s.role AND st.name = s.name
     WHERE s.role = 'sales' AND s.name = source
$$;

-- The hooks of register_sales_source and unregister_sales_source (src/forecast/operations.sql).
CREATE FUNCTION retailiq_internal.sales_source_change(change text, source text, relation regclass,
                                                      columns jsonb, method text, options jsonb)
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT retailiq_internal.forecast_change_approve(
        jsonb_build_object('change', change, 'source', source)
        || CASE WHEN change = 'register'
                THEN jsonb_build_object('relation', relation::text, 'columns', columns,
                                        'method', method, 'options', options)
                ELSE '{}'::jsonb END,
        retailiq_internal.sales_source_definition(source))
$$;

-- Refuses writes of retailiq.source and retailiq.sales_source_state by non-superusers that no
-- approved change of this transaction covers. Superusers (and so pg_restore) pass.
CREATE FUNCTION retailiq_internal.forecast_change_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    c jsonb;
    ok boolean;
BEGIN
    IF (SELECT x.rolsuper FROM pg_roles x WHERE x.rolname = session_user) THEN
        RETURN r;
    END IF;
    -- the refresh's bookkeeping (nested: NEW.method exists only in sales_source_state)
    IF TG_TABLE_NAME = 'sales_source_state' AND TG_OP = 'UPDATE' THEN
        IF (NEW.role, NEW.name, NEW.method, NEW.options, NEW.min_model_version)
           IS NOT DISTINCT FROM (OLD.role, OLD.name, OLD.method, OLD.options, OLD.min_model_version) THEN
            RETURN NEW;
        END IF;
    END IF;
    IF r.role <> 'sales' THEN
        RAISE EXCEPTION 'only a superuser registers the % source', r.role
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Operators and admins change sales sources (under the two-person rule); ask a superuser for the others.';
    END IF;
    SELECT a.change INTO c FROM retailiq_internal.approved_change a
     WHERE a.txid = pg_current_xact_id() AND a.source = r.name;
    IF TG_OP = 'DELETE' THEN
        ok := c ->> 'change' = 'unregister';
    ELSIF c ->> 'change' IS DISTINCT FROM 'register' THEN
        ok := false;
    ELSIF TG_TABLE_NAME = 'source' THEN
        ok := NEW.relation = (c ->> 'relation')::regclass AND NEW.columns = c -> 'columns';
    ELSE
        ok := NEW.method = c ->> 'method' AND NEW.options = c -> 'options';
    END IF;
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'changes of sales sources need an approval'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('%s of %s %s refused: no approved change_forecast_parameters request covers it.',
                                  TG_OP, TG_TABLE_NAME, coalesce(quote_literal(r.name), 'NULL')),
                  HINT = 'Change sources through retailiq.register_sales_source after retailiq.request_approval(''change_forecast_parameters'', ...) and a second admin''s retailiq.approve(id).';
    END IF;
    RETURN r;
END
$$;
CREATE TRIGGER forecast_change_guard BEFORE INSERT OR UPDATE OR DELETE ON retailiq.source
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.forecast_change_guard();
CREATE TRIGGER forecast_change_guard BEFORE INSERT OR UPDATE OR DELETE ON retailiq.sales_source_state
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.forecast_change_guard();

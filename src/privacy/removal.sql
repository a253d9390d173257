-- Removing retailiq from a database (doc/operations.md, "Removal"). DROP EXTENSION alone
-- fails once the privacy set-up ran: the masking views (schema retailiq_mask, not part of the
-- extension), the store policies and triggers on the retailer's tables depend on retailiq's
-- functions; CASCADE would leave schema retailiq_mask and row security enabled with no policy.
-- retailiq.uninstall() takes those down in order, says what it did, then drops the extension.

CREATE FUNCTION retailiq.uninstall(drop_audit_log boolean DEFAULT false, cascade boolean DEFAULT false)
RETURNS TABLE (step text, object text, detail text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    n bigint;
    deps text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'retailiq.uninstall() must be run by a superuser'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'It drops policies, views and triggers on other roles'' tables, and the extension.';
    END IF;
    IF drop_audit_log IS NULL OR cascade IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', CASE WHEN drop_audit_log IS NULL THEN 'drop_audit_log' ELSE 'cascade' END
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass true or false (both default to false, which refuses to lose the audit log or your objects).';
    END IF;
    SELECT count(*) INTO n FROM retailiq.audit_log;
    IF n > 0 AND drop_audit_log IS NOT TRUE THEN
        RAISE EXCEPTION 'the audit log holds % records, which DROP EXTENSION would delete', n
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'The audit log is kept for retailiq.audit_retention (at least 6 years).',
                  HINT = 'Export it first (COPY (SELECT * FROM retailiq.audit_log ORDER BY id) TO ...), then call retailiq.uninstall(drop_audit_log => true).';
    END IF;

    -- store security: the two policies of enable_store_security; row security goes off where
    -- no other policy is left (on, with no policy, every ordinary role would see no row)
    FOR r IN SELECT DISTINCT p.polrelid::regclass AS rel FROM pg_policy p
              WHERE p.polname IN ('retailiq_own_stores', 'retailiq_all_stores') LOOP
        EXECUTE format('DROP POLICY IF EXISTS retailiq_own_stores ON %s', r.rel);
        EXECUTE format('DROP POLICY IF EXISTS retailiq_all_stores ON %s', r.rel);
        IF EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = r.rel) THEN
            step := 'store security removed'; object := r.rel::text;
            detail := 'row security stays enabled: the table has policies of its own';
        ELSE
            EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', r.rel);
            step := 'store security removed'; object := r.rel::text;
            detail := 'row security disabled: every role with SELECT now sees every row';
        END IF;
        RETURN NEXT;
    END LOOP;

    -- masking: stored masked rows and their triggers, the views, the schema
    PERFORM retailiq_internal.masked_copy_drop_all();
    IF to_regnamespace('retailiq_mask') IS NOT NULL THEN
        DROP SCHEMA retailiq_mask CASCADE;
        step := 'masking removed'; object := 'schema retailiq_mask';
        detail := 'masked roles keep no access to the labelled tables (apply_masking revoked it)';
        RETURN NEXT;
    END IF;
    -- the column rules of this database (role labels and settings are the cluster's: kept)
    PERFORM retailiq.sha256_implementation();   -- loads the library, so the label provider is there
    FOR r IN SELECT s.objoid::regclass AS rel, a.attname
               FROM pg_seclabel s JOIN pg_attribute a ON a.attrelid = s.objoid AND a.attnum = s.objsubid
              WHERE s.provider = 'retailiq' AND s.classoid = 'pg_class'::regclass AND s.objsubid > 0 LOOP
        EXECUTE format('SECURITY LABEL FOR retailiq ON COLUMN %s.%I IS NULL', r.rel, r.attname);
        step := 'masking rule removed'; object := format('%s.%I', r.rel, r.attname); detail := NULL;
        RETURN NEXT;
    END LOOP;

    -- triggers on the retailer's tables that call retailiq's functions (stock_alert, ...)
    FOR r IN SELECT t.tgname, t.tgrelid::regclass AS rel, t.tgfoid::regproc AS fn
               FROM pg_trigger t
               JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = t.tgfoid AND d.deptype = 'e'
                               AND d.refclassid = 'pg_extension'::regclass
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'retailiq'
              WHERE NOT t.tgisinternal AND t.tgparentid = 0
                AND (SELECT c.relnamespace FROM pg_class c WHERE c.oid = t.tgrelid)
                    NOT IN ('retailiq'::regnamespace, 'retailiq_internal'::regnamespace) LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
        step := 'trigger dropped'; object := format('%I on %s', r.tgname, r.rel); detail := r.fn::text;
        RETURN NEXT;
    END LOOP;

    -- whatever else of the user's still depends on retailiq (a view calling its functions, a
    -- column of type retailiq.model): refused unless cascade, which drops it
    SELECT string_agg(DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid), ', ') INTO deps
      FROM pg_depend d
      JOIN pg_depend m ON m.classid = d.refclassid AND m.objid = d.refobjid AND m.deptype = 'e'
      JOIN pg_extension e ON e.oid = m.refobjid AND e.extname = 'retailiq'
     WHERE d.deptype = 'n'
       AND NOT EXISTS (SELECT FROM pg_depend x WHERE x.classid = d.classid AND x.objid = d.objid
                          AND x.deptype = 'e' AND x.refobjid = e.oid)
       -- retailiq's own (the audit log's partitions, policies on its tables) go with it
       AND coalesce((pg_identify_object(d.classid, d.objid, d.objsubid)).schema, '') NOT IN ('retailiq', 'retailiq_internal')
       AND pg_describe_object(d.classid, d.objid, d.objsubid) !~ ' (on|of) (table|view) retailiq(_internal)?\.';
    IF deps IS NOT NULL AND cascade IS NOT TRUE THEN
        RAISE EXCEPTION 'objects of yours depend on retailiq'
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = deps || '.',
                  HINT = 'Drop or change them, or call retailiq.uninstall(cascade => true), which drops them with the extension.';
    END IF;

    -- running jobs of this database end now (the scheduler then idles until the extension is back)
    PERFORM pg_terminate_backend(a.pid) FROM pg_stat_activity a
      WHERE a.backend_type = 'retailiq job' AND a.datname = current_database();
    IF cascade THEN
        DROP EXTENSION retailiq CASCADE;
    ELSE
        DROP EXTENSION retailiq;
    END IF;
    step := 'extension dropped'; object := 'retailiq';
    detail := 'roles, role labels and role settings are the cluster''s and were kept (doc/operations.md, Removal)';
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION retailiq.uninstall(boolean, boolean) FROM PUBLIC;
COMMENT ON FUNCTION retailiq.uninstall(boolean, boolean) IS
    'removes retailiq from this database: store policies, masking views and rules, triggers, then the extension';

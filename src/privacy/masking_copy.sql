-- privacy: masked rows stored beside the table, so that a masked role's read costs what an
-- unmasked read costs. For a labelled table that allows it, apply_masking() stores the
-- masked rows in retailiq_mask."<table>__masked_rows" (owned by retailiq_masking_owner,
-- readable by nobody else) and points the masking view at them; triggers on the table keep
-- them current row by row (statement triggers with transition tables), and a change of the
-- pseudonym key recomputes them. Each masking function then runs once per written row
-- instead of once per row read, and the values are exactly what the view over the table
-- computes (same functions, same key).
--
-- Only where storing cannot change what a masked role sees: an ordinary table (no
-- partitions, no inheritance) without row security (its policies would not apply to the
-- stored rows), with a primary key whose columns are unlabelled or PSEUDONYMIZED (so a row
-- can be found again from its masked key), no column of a domain or of a non-superuser's
-- type, and rules that call only IMMUTABLE functions, operators and casts owned by
-- superusers and read no other table than the pseudonym key. Any other table keeps the view
-- over the table, computed per read, as before.

CREATE FUNCTION retailiq_internal.masked_copy_name(rel regclass) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT format('retailiq_mask.%I', c.relname || '__masked_rows') FROM pg_class c WHERE c.oid = $1 $$;

-- The columns of rel's primary key, when each is unlabelled or PSEUDONYMIZED; NULL otherwise.
CREATE FUNCTION retailiq_internal.masked_copy_key(rel regclass) RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN bool_and(s.label IS NULL OR upper(btrim(s.label)) = 'PSEUDONYMIZED')
                THEN array_agg(a.attname::text ORDER BY k.i) END
      FROM pg_constraint c
     CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, i)
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
      LEFT JOIN pg_seclabel s ON s.objoid = c.conrelid AND s.classoid = 'pg_class'::regclass
                             AND s.objsubid = a.attnum AND s.provider = 'retailiq'
     WHERE c.conrelid = $1 AND c.contype = 'p'
$$;

-- Whether the masking view `view` over rel may be replaced by stored rows (above).
CREATE FUNCTION retailiq_internal.masked_copy_allowed(rel regclass, view regclass) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.relkind = 'r' AND NOT c.relrowsecurity AND NOT c.relhassubclass AND NOT c.relispartition
       AND NOT EXISTS (SELECT FROM pg_inherits i WHERE i.inhrelid = c.oid)
       AND retailiq_internal.masked_copy_key(rel) IS NOT NULL
       -- what the view's rule depends on: functions and operators immutable and owned by
       -- superusers (the triggers run them with the extension owner's rights, so a function
       -- its owner could replace must not be among them), casts likewise, no other table
       AND NOT EXISTS (
           SELECT FROM pg_rewrite w
             JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
             LEFT JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
             LEFT JOIN pg_cast k ON d.refclassid = 'pg_cast'::regclass AND k.oid = d.refobjid
             LEFT JOIN pg_proc p ON p.oid = CASE d.refclassid WHEN 'pg_proc'::regclass THEN d.refobjid
                                                              WHEN 'pg_operator'::regclass THEN o.oprcode
                                                              WHEN 'pg_cast'::regclass THEN k.castfunc END
            WHERE w.ev_class = view
              AND ((p.oid IS NOT NULL AND (p.provolatile <> 'i' OR NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = p.proowner)))
                   OR (d.refclassid = 'pg_class'::regclass AND d.refobjid NOT IN
                           (rel, view, 'retailiq.pseudonym_key'::regclass))))
       -- no column of a domain or of a type a non-superuser owns (their checks and operators
       -- would run with the extension owner's rights too)
       AND NOT EXISTS (
           SELECT FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
            WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
              AND (t.typtype = 'd' OR NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.oid = t.typowner)))
      FROM pg_class c WHERE c.oid = rel
$$;

-- Stores rel's masked rows and points its masking view (already created over rel by
-- apply_masking) at them, with the triggers that keep them current. Returns whether it did.
CREATE FUNCTION retailiq_internal.masked_copy_build(rel regclass) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    vname text;
    view regclass;
    copy text := retailiq_internal.masked_copy_name(rel);
    key text[] := retailiq_internal.masked_copy_key(rel);
    cols text;
BEGIN
    SELECT format('retailiq_mask.%I', c.relname) INTO vname FROM pg_class c WHERE c.oid = rel;
    view := vname::regclass;
    PERFORM retailiq_internal.masked_copy_drop(rel);
    IF NOT retailiq_internal.masked_copy_allowed(rel, view) THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %s AS SELECT * FROM %s', copy, view);
    EXECUTE format('CREATE UNIQUE INDEX ON %s (%s)', copy,
                   (SELECT string_agg(quote_ident(k), ', ') FROM unnest(key) k));
    EXECUTE format('ALTER TABLE %s OWNER TO retailiq_masking_owner', copy);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', copy);
    SELECT string_agg(format('m.%I', a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a WHERE a.attrelid = view AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('CREATE OR REPLACE VIEW %s WITH (security_barrier) AS SELECT %s FROM %s m', vname, cols, copy);
    EXECUTE format('CREATE TRIGGER retailiq_masked_rows_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS riq_new '
                   'FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.masked_copy_sync()', rel);
    EXECUTE format('CREATE TRIGGER retailiq_masked_rows_upd AFTER UPDATE ON %s REFERENCING OLD TABLE AS riq_old '
                   'NEW TABLE AS riq_new FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.masked_copy_sync()', rel);
    EXECUTE format('CREATE TRIGGER retailiq_masked_rows_del AFTER DELETE ON %s REFERENCING OLD TABLE AS riq_old '
                   'FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.masked_copy_sync()', rel);
    EXECUTE format('CREATE TRIGGER retailiq_masked_rows_trunc AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.masked_copy_sync()', rel);
    RETURN true;
END
$$;

-- Removes every table's stored masked rows and triggers (apply_masking starts with it).
CREATE FUNCTION retailiq_internal.masked_copy_drop_all() RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
    t text;
BEGIN
    FOR rel IN SELECT DISTINCT g.tgrelid::regclass FROM pg_trigger g WHERE g.tgname LIKE 'retailiq\_masked\_rows\_%' LOOP
        PERFORM retailiq_internal.masked_copy_drop(rel);
    END LOOP;
    FOR t IN SELECT format('retailiq_mask.%I', c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'retailiq_mask' AND c.relkind = 'r' AND c.relname LIKE '%\_\_masked\_rows' LOOP
        EXECUTE 'DROP TABLE ' || t || ' CASCADE';
    END LOOP;
END
$$;

-- Removes rel's stored masked rows and their triggers (the view is apply_masking's).
CREATE FUNCTION retailiq_internal.masked_copy_drop(rel regclass) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ins', 'upd', 'del', 'trunc'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'retailiq_masked_rows_' || t, rel);
    END LOOP;
    EXECUTE format('DROP TABLE IF EXISTS %s CASCADE', retailiq_internal.masked_copy_name(rel));
END
$$;

-- The triggers' function: the masked rows of the statement's new rows in, of its old rows out.
-- SECURITY DEFINER: whoever writes the table writes the stored rows, which nobody else may.
CREATE FUNCTION retailiq_internal.masked_copy_sync() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    copy text := retailiq_internal.masked_copy_name(TG_RELID);
    key text[] := retailiq_internal.masked_copy_key(TG_RELID);
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('TRUNCATE %s', copy);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format('DELETE FROM %s m WHERE (%s) IN (SELECT %s FROM (SELECT %s FROM riq_old t) o)', copy,
                       (SELECT string_agg('m.' || quote_ident(k), ', ') FROM unnest(key) k),
                       (SELECT string_agg('o.' || quote_ident(k), ', ') FROM unnest(key) k),
                       retailiq.masking_select_list(TG_RELID, 't'));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE format('INSERT INTO %s SELECT %s FROM riq_new t', copy, retailiq.masking_select_list(TG_RELID, 't'));
    END IF;
    RETURN NULL;
END
$$;

-- A new, changed or removed pseudonym key: every stored masked row computed again.
CREATE FUNCTION retailiq_internal.masked_copy_rekey() RETURNS trigger
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN SELECT DISTINCT t.tgrelid::regclass FROM pg_trigger t WHERE t.tgname = 'retailiq_masked_rows_ins' LOOP
        EXECUTE format('TRUNCATE %s', retailiq_internal.masked_copy_name(rel));
        EXECUTE format('INSERT INTO %s SELECT %s FROM %s t', retailiq_internal.masked_copy_name(rel),
                       retailiq.masking_select_list(rel, 't'), rel);
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER masked_copy_rekey AFTER INSERT OR UPDATE OR DELETE ON retailiq.pseudonym_key
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.masked_copy_rekey();

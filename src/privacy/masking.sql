-- privacy: masking functions, masking rules as security labels, dynamic masking views,
-- static anonymisation.

-- The pseudonym key: one row, readable by superusers and the masking views' owner only.
CREATE FUNCTION retailiq.new_pseudonym_key() RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_new_key' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
CREATE TABLE retailiq.pseudonym_key (
    id         int         PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    key        bytea       NOT NULL CHECK (length(key) BETWEEN 16 AND 1024),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE retailiq.pseudonym_key IS 'the secret key of retailiq.pseudonym in masking views (one row)';
REVOKE ALL ON retailiq.pseudonym_key FROM PUBLIC;
-- made by the first apply_masking() or anonymize_copy(), not here, so that a restored dump
-- (the row is dumped with the data) keeps its key
SELECT pg_catalog.pg_extension_config_dump('retailiq.pseudonym_key', '');

CREATE FUNCTION retailiq.hmac_sha256(data bytea, key bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'privacy_hmac_sha256' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.pseudonym(value bigint, key bytea) RETURNS bigint
    AS 'MODULE_PATHNAME', 'privacy_pseudonym_int8' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.pseudonym(value text, key bytea) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_pseudonym_text' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.mask_partial(value text, keep_start int, keep_end int, pad text DEFAULT '*')
    RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_partial' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.mask_email(value text) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_mask_email' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.add_noise(value float8, ratio float8, seed bigint DEFAULT 0) RETURNS float8
    AS 'MODULE_PATHNAME', 'privacy_add_noise' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.add_noise(value numeric, ratio float8, seed bigint DEFAULT 0) RETURNS numeric
    LANGUAGE sql STRICT IMMUTABLE PARALLEL SAFE
    RETURN round(retailiq.add_noise(value::float8, ratio, seed)::numeric, scale(value));

CREATE FUNCTION retailiq.is_masked(role regrole) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_is_masked' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.has_masking_rules(rel regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'privacy_is_labelled' LANGUAGE C STRICT STABLE PARALLEL SAFE;

CREATE FUNCTION retailiq_internal.privacy_bad_argument(message text, hint text) RETURNS void
LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
BEGIN
    RAISE EXCEPTION '%', message USING ERRCODE = 'invalid_parameter_value', HINT = hint;
END
$$;

-- Generalisation.
CREATE FUNCTION retailiq.generalize_date(value date, unit text DEFAULT 'month') RETURNS date
    AS 'MODULE_PATHNAME', 'privacy_generalize_date' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.sha256_implementation(force_c boolean DEFAULT false) RETURNS text
    AS 'MODULE_PATHNAME', 'privacy_sha256_impl' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- The band of width `width` holding value: [k * width, (k + 1) * width).
CREATE FUNCTION retailiq.band(value numeric, width numeric) RETURNS numrange
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE lo numeric;
BEGIN
    IF width IS NULL OR width <= 0 THEN
        RAISE EXCEPTION 'width must be positive'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('width is %s.', coalesce(width::text, 'NULL')),
                  HINT = 'Pass the band width, e.g. 50 for amounts in bands of 50.';
    END IF;
    IF value IS NULL THEN RETURN NULL; END IF;
    lo := floor(value / width) * width;
    RETURN numrange(lo, lo + width, '[)');
END
$$;

-- The age band of a birth date on a day: width years wide, e.g. [30,40).
CREATE FUNCTION retailiq.age_band(birth_date date, width int DEFAULT 10, as_of date DEFAULT current_date)
RETURNS int4range
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE age int; lo int;
BEGIN
    IF width IS NULL OR width <= 0 THEN
        RAISE EXCEPTION 'width must be positive'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the band width in years, e.g. 10.';
    END IF;
    IF birth_date IS NULL OR as_of IS NULL THEN RETURN NULL; END IF;
    age := extract(year FROM age(as_of, birth_date))::int;
    lo := floor(age::numeric / width)::int * width;
    RETURN int4range(lo, lo + width, '[)');
END
$$;

-- The first `keep` characters of a postcode, spaces removed, e.g. 'SW1A 1AA' -> 'SW1'.
CREATE FUNCTION retailiq.postcode_prefix(value text, keep int DEFAULT 3) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN keep IS NULL OR keep < 0
            THEN (retailiq_internal.privacy_bad_argument('keep must not be negative', 'Pass how many characters to keep, e.g. 3.'))::text
            ELSE left(replace(value, ' ', ''), keep) END;

-- The k of k-anonymity: the size of the smallest group of rows sharing the same values of
-- the quasi-identifier columns (0 for an empty table).
CREATE FUNCTION retailiq.k_anonymity(rel regclass, quasi_identifiers text[]) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c text;
    cols text := '';
    k bigint;
BEGIN
    IF rel IS NULL OR quasi_identifiers IS NULL THEN
        RAISE EXCEPTION 'rel and quasi_identifiers must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a table and an array of its column names.';
    END IF;
    IF cardinality(quasi_identifiers) = 0 THEN
        RAISE EXCEPTION 'quasi_identifiers must name at least one column'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'e.g. ARRAY[''postcode'', ''birth_year'', ''gender''].';
    END IF;
    FOREACH c IN ARRAY quasi_identifiers LOOP
        IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = c AND attnum > 0 AND NOT attisdropped) THEN
            RAISE EXCEPTION 'column "%" of quasi_identifiers does not exist in %', c, rel
                USING ERRCODE = 'undefined_column', HINT = 'Name columns of the table or view.';
        END IF;
        cols := cols || CASE WHEN cols = '' THEN '' ELSE ', ' END || quote_ident(c);
    END LOOP;
    EXECUTE format('SELECT coalesce(min(n), 0) FROM (SELECT count(*) AS n FROM %s GROUP BY %s) g', rel, cols) INTO k;
    RETURN k;
END
$$;

-- Masking rules and masked roles as the catalogs hold them.
CREATE VIEW retailiq.masking_rules AS
SELECT s.objoid::regclass AS table_name, a.attname AS column_name, s.label AS rule
  FROM pg_catalog.pg_seclabel s
  JOIN pg_catalog.pg_attribute a ON a.attrelid = s.objoid AND a.attnum = s.objsubid
 WHERE s.provider = 'retailiq' AND s.classoid = 'pg_catalog.pg_class'::regclass AND s.objsubid > 0;
CREATE VIEW retailiq.masked_roles AS
SELECT s.objoid::regrole AS role_name
  FROM pg_catalog.pg_shseclabel s
 WHERE s.provider = 'retailiq' AND s.classoid = 'pg_catalog.pg_authid'::regclass;

-- The select list that masks rel's labelled columns (rows aliased as `alias`).
CREATE FUNCTION retailiq.masking_select_list(rel regclass, alias text DEFAULT 't') RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a record;
    expr text;
    items text[] := '{}';
BEGIN
    FOR a IN
        SELECT att.attname, att.atttypid, format_type(att.atttypid, att.atttypmod) AS typ, s.label
          FROM pg_attribute att
          LEFT JOIN pg_seclabel s ON s.objoid = att.attrelid AND s.classoid = 'pg_class'::regclass
                                 AND s.objsubid = att.attnum AND s.provider = 'retailiq'
         WHERE att.attrelid = rel AND att.attnum > 0 AND NOT att.attisdropped
         ORDER BY att.attnum
    LOOP
        IF a.label IS NULL THEN
            expr := format('%I.%I', alias, a.attname);
        ELSIF a.label ~* '^\s*MASKED WITH FUNCTION ' THEN
            expr := format('CAST((%s) AS %s)', regexp_replace(a.label, '^\s*MASKED WITH FUNCTION ', '', 'i'), a.typ);
        ELSIF a.label ~* '^\s*MASKED WITH VALUE ' THEN
            expr := format('CAST((%s) AS %s)', regexp_replace(a.label, '^\s*MASKED WITH VALUE ', '', 'i'), a.typ);
        ELSIF a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
            expr := format('retailiq.pseudonym(%I.%I::bigint, (SELECT k.key FROM retailiq.pseudonym_key k))', alias, a.attname);
        ELSE
            expr := format('retailiq.pseudonym(%I.%I::text, (SELECT k.key FROM retailiq.pseudonym_key k))', alias, a.attname);
        END IF;
        items := items || format('%s AS %I', expr, a.attname);
    END LOOP;
    RETURN array_to_string(items, ', ');
END
$$;

-- Builds the masking views and puts the masked roles on them. Run it (as a superuser)
-- after changing labels; retailiq.set_masking_rule() runs it itself.
CREATE FUNCTION retailiq.apply_masking() RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    r record;
    v text;
    n int := 0;
    gaps bigint;
    gap_list text;
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'retailiq.apply_masking() must be run by a superuser'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'It changes other roles'' settings (search_path, session_preload_libraries).';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_masking_owner') THEN
        CREATE ROLE retailiq_masking_owner NOLOGIN;
    END IF;
    IF EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles o ON o.oid = m.roleid
                WHERE o.rolname = 'retailiq_masking_owner') THEN
        RAISE EXCEPTION 'role retailiq_masking_owner must have no members'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'A member could read every labelled table unmasked: REVOKE retailiq_masking_owner FROM them.';
    END IF;
    CREATE SCHEMA IF NOT EXISTS retailiq_mask;
    INSERT INTO retailiq.pseudonym_key (key) VALUES (retailiq.new_pseudonym_key()) ON CONFLICT (id) DO NOTHING;
    GRANT SELECT ON retailiq.pseudonym_key TO retailiq_masking_owner;

    IF EXISTS (SELECT c.relname FROM retailiq.masking_rules m JOIN pg_class c ON c.oid = m.table_name
                GROUP BY c.relname HAVING count(DISTINCT c.oid) > 1) THEN
        RAISE EXCEPTION 'two tables with masking rules have the same name'
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Masking views are named after their table in schema retailiq_mask: rename one table.';
    END IF;

    FOR v IN SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'retailiq_mask' AND c.relkind = 'v' LOOP
        EXECUTE 'DROP VIEW ' || v || ' CASCADE';
    END LOOP;
    PERFORM retailiq_internal.masked_copy_drop_all();

    FOR t IN SELECT DISTINCT m.table_name AS rel, c.relname, ns.nspname
               FROM retailiq.masking_rules m JOIN pg_class c ON c.oid = m.table_name
               JOIN pg_namespace ns ON ns.oid = c.relnamespace LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO retailiq_masking_owner', t.nspname);
        EXECUTE format('GRANT SELECT ON %s TO retailiq_masking_owner', t.rel);
        EXECUTE format('CREATE VIEW retailiq_mask.%I WITH (security_barrier) AS SELECT %s FROM %s t',
                       t.relname, retailiq.masking_select_list(t.rel, 't'), t.rel);
        EXECUTE format('ALTER VIEW retailiq_mask.%I OWNER TO retailiq_masking_owner', t.relname);
        -- masked rows stored beside the table where that is safe (masking_copy.sql)
        PERFORM retailiq_internal.masked_copy_build(t.rel);
        FOR r IN SELECT role_name FROM retailiq.masked_roles LOOP
            EXECUTE format('REVOKE ALL ON %s FROM %s', t.rel, r.role_name);
            EXECUTE format('GRANT SELECT ON retailiq_mask.%I TO %s', t.relname, r.role_name);
        END LOOP;
        n := n + 1;
    END LOOP;

    FOR r IN SELECT role_name FROM retailiq.masked_roles LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA retailiq_mask TO %s', r.role_name);
        EXECUTE format('ALTER ROLE %s SET search_path = retailiq_mask, "$user", public', r.role_name);
        EXECUTE format('ALTER ROLE %s SET session_preload_libraries = ''retailiq''', r.role_name);
    END LOOP;

    -- Columns left raw beside the masked ones: a raw customer id in another table links
    -- every pseudonym back to it. Say which (the first ten; masking_gaps() has them all).
    SELECT count(*), string_agg(format('%s.%I: %s', g.table_name, g.column_name, g.reason), E'\n')
             FILTER (WHERE g.i <= 10)
      INTO gaps, gap_list
      FROM (SELECT m.*, row_number() OVER () AS i FROM retailiq.masking_gaps() m) g;
    IF gaps > 0 THEN
        RAISE WARNING 'masked roles can read % unlabelled column% that may identify a customer',
                      gaps, CASE WHEN gaps = 1 THEN '' ELSE 's' END
            USING ERRCODE = '01000',
                  DETAIL = gap_list || CASE WHEN gaps > 10 THEN format(E'\n... and %s more.', gaps - 10) ELSE '' END,
                  HINT = 'Label them (SELECT * FROM retailiq.masking_gaps() suggests a rule for each) '
                         'or revoke the masked roles'' access to them, then run retailiq.apply_masking() again.';
    END IF;
    PERFORM retailiq.audit_record('apply_masking', jsonb_build_object('views', n, 'gaps', gaps));
    RETURN n;
END
$$;

-- A masked copy of a table: CREATE TABLE target (in source's schema) with every labelled
-- column masked as a masked role would see it. Returns the number of rows copied. The
-- caller needs SELECT on the source and on retailiq.pseudonym_key.
CREATE FUNCTION retailiq.anonymize_copy(source regclass, target name) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    nsp name;
    rows bigint;
BEGIN
    IF source IS NULL OR target IS NULL THEN
        RAISE EXCEPTION 'source and target must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass a table and the name of the copy.';
    END IF;
    IF NOT retailiq.has_masking_rules(source) THEN
        RAISE EXCEPTION 'table % has no masking rules', source
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Label its personal columns with SECURITY LABEL FOR retailiq first.';
    END IF;
    SELECT n.nspname INTO nsp FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = source;
    IF NOT EXISTS (SELECT FROM retailiq.pseudonym_key) THEN
        INSERT INTO retailiq.pseudonym_key (key) VALUES (retailiq.new_pseudonym_key()) ON CONFLICT (id) DO NOTHING;
    END IF;
    EXECUTE format('CREATE TABLE %I.%I AS SELECT %s FROM %s t', nsp, target,
                   retailiq.masking_select_list(source, 't'), source);
    GET DIAGNOSTICS rows = ROW_COUNT;
    PERFORM retailiq.audit_record('anonymize_copy', jsonb_build_object('source', source::text, 'target', target, 'rows', rows));
    RETURN rows;
END
$$;

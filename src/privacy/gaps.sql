-- privacy: masking gaps, the unlabelled columns a masked role can read that may still
-- identify a customer. Masking is per column: a pseudonymised customers.customer_id helps
-- nothing while events.customer_id stays raw beside the same store and timestamp as a
-- masked order. retailiq.masking_gaps() lists such columns for the DBA, and apply_masking()
-- warns about them.

-- The family of a type for "same name and type" matches: an int column and a bigint
-- column hold the same ids, and so do text and varchar.
CREATE FUNCTION retailiq_internal.gap_type_family(typ oid) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN 'integer'
            WHEN typ IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) THEN 'text'
            ELSE typ::text END;
REVOKE ALL ON FUNCTION retailiq_internal.gap_type_family(oid) FROM PUBLIC;

-- Column names that usually hold personal data, with the kind of data. Matched against
-- the lower-cased column name; boolean columns (has_email, ...) never match.
CREATE FUNCTION retailiq_internal.gap_personal_kind(col name) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE
    WHEN lower(col) ~ '^(customer|cust|client|member|shopper|consumer|buyer|guest|patient|person|cardholder|card_holder|loyalty|loyalty_card)(_?(id|no|nr|num|number|key|code|ref|uuid))?$'
      OR lower(col) ~ '^(user|visitor|device|cookie)_?(id|uuid)$'
        THEN 'customer identifier'
    WHEN lower(col) ~ '^(e_?mail|e_?mail_?addr(ess)?|mail_?addr(ess)?)$'
        THEN 'e-mail address'
    WHEN lower(col) ~ '^(phone|telephone|tel|mobile|cell|cellphone|fax|msisdn|(mobile|home|work|contact)_?phone|phone_?(no|nr|num|number))$'
        THEN 'phone number'
    WHEN lower(col) ~ '^((full|first|last|given|family|middle|maiden|customer|client|contact|member|person|display)_?name|surname|forename|name_(first|last))$'
        THEN 'person''s name'
    WHEN lower(col) ~ '^(street|address|addr|street_?address|(home|postal|billing|shipping|delivery)_?address|address_?line_?[0-9]*)$'
        THEN 'postal address'
    WHEN lower(col) ~ '^(post_?code|postal_?code|zip|zip_?code)$'
        THEN 'postcode'
    WHEN lower(col) ~ '^(birth_?date|date_?of_?birth|dob|birth_?day|born_on)$'
        THEN 'birth date'
    WHEN lower(col) ~ '^(national_?id|id_?card(_?(no|number))?|passport(_?(no|number))?|ssn|social_security_(no|number)|tax_?id|resident_?id|id_?number)$'
        THEN 'identity document number'
    WHEN lower(col) ~ '^(card_?(no|num|number)|credit_?card(_?(no|number))?|iban|bank_?account(_?(no|number))?)$'
        THEN 'payment card or bank account'
    WHEN lower(col) ~ '^(ip|ip_?addr(ess)?|client_?ip|remote_?addr)$'
        THEN 'IP address'
    END;
REVOKE ALL ON FUNCTION retailiq_internal.gap_personal_kind(name) FROM PUBLIC;

-- The rule masking_gaps suggests for a column: PSEUDONYMIZED for identifiers and keys (so
-- joins keep working), a partial or generalising mask where retailiq has one for the kind
-- of data and the column's type, NULL otherwise.
CREATE FUNCTION retailiq_internal.gap_suggestion(col name, typ oid, kind text, is_key boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE
    WHEN (is_key OR kind = 'customer identifier')
         AND typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'text'::regtype, 'varchar'::regtype)
        THEN 'PSEUDONYMIZED'
    WHEN kind = 'e-mail address' AND retailiq_internal.gap_type_family(typ) = 'text'
        THEN format('MASKED WITH FUNCTION retailiq.mask_email(%I)', col)
    WHEN kind = 'phone number' AND retailiq_internal.gap_type_family(typ) = 'text'
        THEN format('MASKED WITH FUNCTION retailiq.mask_partial(%I, 3, 4)', col)
    WHEN kind = 'postcode' AND retailiq_internal.gap_type_family(typ) = 'text'
        THEN format('MASKED WITH FUNCTION retailiq.postcode_prefix(%I, 3)', col)
    WHEN kind = 'birth date' AND typ = 'date'::regtype
        THEN format('MASKED WITH FUNCTION retailiq.generalize_date(%I, ''year'')', col)
    ELSE 'MASKED WITH VALUE NULL'
    END;
REVOKE ALL ON FUNCTION retailiq_internal.gap_suggestion(name, oid, text, boolean) FROM PUBLIC;

-- The gaps. A column counts when a masked role (or for_role) can read it and it carries no
-- rule: through the masking view of its table (every unlabelled column of a labelled table),
-- through a grant on the table or one of its partitions (PUBLIC and role membership
-- included), or through a view or materialized view it may read, to any depth. It is
-- listed when its name is one personal data goes by, or when it joins to a labelled key:
-- a foreign key to a labelled column, a column a labelled foreign key references, or the
-- same name and type family as a labelled key (PSEUDONYMIZED, or labelled and part of a
-- primary key or unique constraint) of another table.
CREATE FUNCTION retailiq_internal.masking_gaps(for_role regrole)
RETURNS TABLE (table_name regclass, column_name name, reason text, suggested_label text,
               readable_by regrole[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH RECURSIVE
readers AS (
    SELECT r.oid FROM pg_roles r
     WHERE CASE WHEN $1 IS NULL THEN retailiq.is_masked(r.oid::regrole) ELSE r.oid = $1 END
),
labels AS (
    SELECT s.objoid AS relid, a.attname, a.atttypid, s.label,
           upper(btrim(s.label)) = 'PSEUDONYMIZED'
           OR EXISTS (SELECT FROM pg_constraint k
                       WHERE k.conrelid = s.objoid AND k.contype IN ('p', 'u') AND a.attnum = ANY (k.conkey)) AS is_key
      FROM pg_seclabel s
      JOIN pg_attribute a ON a.attrelid = s.objoid AND a.attnum = s.objsubid
     WHERE s.provider = 'retailiq' AND s.classoid = 'pg_class'::regclass AND s.objsubid > 0
),
-- tables and partitioned tables outside the catalogs (partitions count as their root)
tabs AS (
    SELECT c.oid AS relid, c.oid AS rootid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'retailiq_mask')
       AND n.nspname !~ '^pg_(toast_)?temp_'
    UNION ALL
    SELECT c.oid, pg_partition_root(c.oid) FROM pg_class c
     WHERE c.relispartition AND c.relkind IN ('r', 'p')
),
cols AS (
    SELECT t.relid, a.attnum, a.attname, a.atttypid, retailiq_internal.gap_personal_kind(a.attname) AS kind
      FROM tabs t JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE t.relid = t.rootid
       AND NOT EXISTS (SELECT FROM labels l WHERE l.relid = t.relid AND l.attname = a.attname)
),
-- views and materialized views the readers may read, and the views those read
views_read AS (
    SELECT r.oid AS roleid, v.oid AS viewid
      FROM readers r, pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace
     WHERE v.relkind IN ('v', 'm')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'retailiq_mask')
       AND has_any_column_privilege(r.oid, v.oid, 'SELECT')
    UNION
    SELECT vr.roleid, d.refobjid
      FROM views_read vr
      JOIN pg_rewrite w ON w.ev_class = vr.viewid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> vr.viewid
      JOIN pg_class c ON c.oid = d.refobjid AND c.relkind IN ('v', 'm')
),
-- table columns a view reads (a whole-row reference reads every column)
view_cols AS (
    SELECT DISTINCT vr.roleid, t.rootid, a.attname
      FROM views_read vr
      JOIN pg_rewrite w ON w.ev_class = vr.viewid
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                      AND d.refclassid = 'pg_class'::regclass
      JOIN tabs t ON t.relid = d.refobjid
      JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum > 0 AND NOT a.attisdropped
                         AND (d.refobjsubid = 0 OR a.attnum = d.refobjsubid)
),
readable AS (
    -- the masking view of a labelled table shows its unlabelled columns as they are
    SELECT c.relid, c.attname, r.oid AS roleid
      FROM cols c CROSS JOIN readers r
     WHERE EXISTS (SELECT FROM labels l WHERE l.relid = c.relid)
    UNION
    -- the hooks refuse every other way into a labelled table, not into the others
    SELECT t.rootid, a.attname, r.oid
      FROM tabs t JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
      CROSS JOIN readers r
     WHERE NOT EXISTS (SELECT FROM labels l WHERE l.relid = t.rootid)
       AND has_column_privilege(r.oid, t.relid, a.attnum, 'SELECT')
    UNION
    SELECT vc.rootid, vc.attname, vc.roleid
      FROM view_cols vc
     WHERE NOT EXISTS (SELECT FROM labels l WHERE l.relid = vc.rootid)
),
-- foreign keys, both ends mapped to their partition roots
fkeys AS (
    SELECT DISTINCT coalesce(pg_partition_root(k.conrelid), k.conrelid) AS relid, a.attname,
           coalesce(pg_partition_root(k.confrelid), k.confrelid) AS frelid, fa.attname AS fattname
      FROM pg_constraint k
      CROSS JOIN LATERAL unnest(k.conkey, k.confkey) AS u(col, fcol)
      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.col
      JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = u.fcol
     WHERE k.contype = 'f'
),
reasons AS (
    SELECT c.relid, c.attname, 1 AS prio, c.kind AS target
      FROM cols c
     WHERE c.kind IS NOT NULL AND c.atttypid <> 'bool'::regtype
    UNION ALL
    SELECT c.relid, c.attname, 2, format('%s.%I', l.relid::regclass, l.attname)
      FROM cols c
      JOIN fkeys f ON f.relid = c.relid AND f.attname = c.attname
      JOIN labels l ON l.relid = f.frelid AND l.attname = f.fattname
    UNION ALL
    SELECT c.relid, c.attname, 3, format('%s.%I', l.relid::regclass, l.attname)
      FROM cols c
      JOIN fkeys f ON f.frelid = c.relid AND f.fattname = c.attname
      JOIN labels l ON l.relid = f.relid AND l.attname = f.attname
    UNION ALL
    SELECT c.relid, c.attname, 4, format('%s.%I', l.relid::regclass, l.attname)
      FROM cols c
      JOIN labels l ON l.attname = c.attname AND l.relid <> c.relid AND l.is_key
     WHERE retailiq_internal.gap_type_family(l.atttypid) = retailiq_internal.gap_type_family(c.atttypid)
),
-- one sentence per kind of reason, the labelled columns it names in a list
reason_texts AS (
    SELECT relid, attname, prio,
           CASE prio WHEN 1 THEN 'name of personal data (' || min(target) || ')'
                     WHEN 2 THEN 'foreign key to labelled column ' || string_agg(DISTINCT target, ', ')
                     WHEN 3 THEN 'referenced by labelled column ' || string_agg(DISTINCT target, ', ')
                     ELSE 'same name and type as labelled key ' || string_agg(DISTINCT target, ', ') END AS txt
      FROM reasons GROUP BY relid, attname, prio
)
SELECT c.relid::regclass, c.attname,
       string_agg(rs.txt, '; ' ORDER BY rs.prio),
       retailiq_internal.gap_suggestion(c.attname, c.atttypid, c.kind, bool_or(rs.prio > 1)),
       (SELECT array_agg(rd.roleid::regrole ORDER BY rd.roleid::regrole::text)
          FROM (SELECT DISTINCT roleid FROM readable r
                 WHERE r.relid = c.relid AND r.attname = c.attname) rd)
  FROM cols c
  JOIN reason_texts rs ON rs.relid = c.relid AND rs.attname = c.attname
 WHERE EXISTS (SELECT FROM readable rd WHERE rd.relid = c.relid AND rd.attname = c.attname)
 GROUP BY c.relid, c.attnum, c.attname, c.atttypid, c.kind
 ORDER BY c.relid::regclass::text, c.attnum
$$;
REVOKE ALL ON FUNCTION retailiq_internal.masking_gaps(regrole) FROM PUBLIC;

-- The list is a map of unmasked personal data, so only DBAs read it: a superuser or a member
-- of retailiq_admin (as the session user, like every privacy decision).
CREATE FUNCTION retailiq.masking_gaps(for_role regrole DEFAULT NULL)
RETURNS TABLE (table_name regclass, column_name name, reason text, suggested_label text,
               readable_by regrole[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
       AND NOT (EXISTS (SELECT FROM pg_roles WHERE rolname = 'retailiq_admin')
                AND pg_has_role(session_user, 'retailiq_admin', 'MEMBER')) THEN
        RAISE EXCEPTION 'only superusers and members of retailiq_admin may list masking gaps'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'The list shows where personal data is unmasked: ask a DBA to run it.';
    END IF;
    RETURN QUERY SELECT * FROM retailiq_internal.masking_gaps(for_role);
END
$$;
COMMENT ON FUNCTION retailiq.masking_gaps(regrole) IS
    'unlabelled columns that masked roles (or for_role) can read and that hold personal data or join to a labelled key';

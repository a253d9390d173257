-- privacy: the audit log. Append-only, hash-chained, partitioned by month.

CREATE TABLE retailiq.audit_log (
    id         bigint      NOT NULL,
    logged_at  timestamptz NOT NULL,
    actor      name        NOT NULL,   -- session_user: who logged in
    role_name  name        NOT NULL,   -- current_user when the record was made
    action     text        NOT NULL,
    details    jsonb       NOT NULL,
    prev_hash  bytea       NOT NULL,
    row_hash   bytea       NOT NULL
) PARTITION BY RANGE (logged_at);
COMMENT ON TABLE retailiq.audit_log IS 'append-only, hash-chained audit records (one partition per month)';
REVOKE ALL ON retailiq.audit_log FROM PUBLIC;
-- No key or index on the partitioned table: each monthly partition gets its own primary key
-- (id) from audit_record. The partitions are not extension members, so pg_dump dumps them
-- with their keys; a key on the parent (an extension member, not dumped) would be made again
-- by the restore's ATTACH PARTITION and collide with the dumped one ("multiple primary keys").

-- The head of the chain: its row lock serialises writers, also under REPEATABLE READ
-- (where a concurrent writer gets a serialization failure instead of forking the chain).
CREATE TABLE retailiq.audit_head (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id   bigint  NOT NULL,
    last_hash bytea   NOT NULL
);
REVOKE ALL ON retailiq.audit_head FROM PUBLIC;
-- dumped with the data (the log's monthly partitions are not extension members and are
-- dumped anyway), so a restored database still verifies; the row is made by the first record
SELECT pg_catalog.pg_extension_config_dump('retailiq.audit_head', '');

-- The hash of one record: SHA-256 over its fields in a fixed text form and its predecessor's hash.
CREATE FUNCTION retailiq.audit_row_hash(id bigint, logged_at timestamptz, actor name, role_name name,
                                        action text, details jsonb, prev_hash bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sha256(convert_to(concat_ws(E'\x1f', id::text, extract(epoch FROM logged_at)::text,
                                   actor::text, role_name::text, action, details::text), 'UTF8') || prev_hash);

-- Appends one record; returns its id. Creates the month's partition when needed.
CREATE FUNCTION retailiq.audit_record(action text, details jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h record;
    ts timestamptz := clock_timestamp();
    m date := date_trunc('month', ts AT TIME ZONE 'UTC')::date;
    part text := format('audit_log_%s', to_char(m, 'YYYY_MM'));
    new_hash bytea;
BEGIN
    IF action IS NULL OR action = '' THEN
        RAISE EXCEPTION 'audit action must not be empty'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Name what happened, e.g. ''export_unmasked''.';
    END IF;
    details := coalesce(details, '{}');
    INSERT INTO retailiq.audit_head VALUES (true, 0, sha256(convert_to('retailiq audit log', 'UTF8')))
        ON CONFLICT DO NOTHING;
    SELECT * INTO h FROM retailiq.audit_head FOR UPDATE;
    IF to_regclass(format('retailiq.%I', part)) IS NULL THEN
        EXECUTE format('CREATE TABLE retailiq.%I PARTITION OF retailiq.audit_log FOR VALUES FROM (%L) TO (%L)',
                       part, (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        EXECUTE format('ALTER TABLE retailiq.%I ADD PRIMARY KEY (id)', part);
        EXECUTE format('REVOKE ALL ON retailiq.%I FROM PUBLIC', part);
    END IF;
    new_hash := retailiq.audit_row_hash(h.last_id + 1, ts, session_user, current_user, action, details, h.last_hash);
    INSERT INTO retailiq.audit_log VALUES (h.last_id + 1, ts, session_user, current_user, action, details, h.last_hash, new_hash);
    UPDATE retailiq.audit_head SET last_id = h.last_id + 1, last_hash = new_hash;
    RETURN h.last_id + 1;
END
$$;
REVOKE ALL ON FUNCTION retailiq.audit_record(text, jsonb) FROM PUBLIC;

-- No UPDATE, no DELETE (except retailiq.purge_audit_log's, of rows past the retention), no TRUNCATE.
CREATE FUNCTION retailiq_internal.audit_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('retailiq.audit_purging', true) = 'on'
       AND OLD.logged_at < now() - current_setting('retailiq.audit_retention')::interval THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'retailiq.audit_log is append-only'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('%s refused.', TG_OP),
              HINT = 'Records older than retailiq.audit_retention go with retailiq.purge_audit_log(), after a two-person approval.';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON retailiq.audit_log
    FOR EACH ROW EXECUTE FUNCTION retailiq_internal.audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON retailiq.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.audit_append_only();
CREATE TRIGGER audit_head_append_only BEFORE DELETE OR TRUNCATE ON retailiq.audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION retailiq_internal.audit_append_only();

-- The first record whose hash or link to its predecessor does not check out (no row: the
-- chain is intact). The oldest remaining record must link to the start of the chain or to
-- the last record removed by a purge; the newest must be the chain head.
CREATE FUNCTION retailiq.audit_verify()
RETURNS TABLE (id bigint, logged_at timestamptz, action text, problem text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH chain AS (
        SELECT a.id, a.logged_at, a.action, a.prev_hash, a.row_hash,
               retailiq.audit_row_hash(a.id, a.logged_at, a.actor, a.role_name, a.action, a.details, a.prev_hash) AS computed,
               lag(a.row_hash) OVER w AS pred_hash,
               lag(a.id) OVER w AS pred_id,
               row_number() OVER w AS n
          FROM retailiq.audit_log a
        WINDOW w AS (ORDER BY a.id)
    ), problems AS (
        SELECT c.id, c.logged_at, c.action,
               CASE WHEN c.computed <> c.row_hash THEN 'content changed: the record does not match its hash'
                    WHEN c.n > 1 AND c.pred_id <> c.id - 1 THEN 'records missing before this one'
                    WHEN c.n > 1 AND c.pred_hash <> c.prev_hash THEN 'chain broken: prev_hash does not match the previous record'
                    WHEN c.n = 1 AND c.prev_hash <> sha256(convert_to('retailiq audit log', 'UTF8'))
                         AND NOT EXISTS (SELECT 1 FROM retailiq.audit_log p
                                          WHERE p.action = 'purge_audit_log'
                                            AND p.details ->> 'last_purged_hash' = encode(c.prev_hash, 'hex'))
                         THEN 'chain start unknown: records removed outside retailiq.purge_audit_log'
               END AS problem
          FROM chain c
        UNION ALL
        SELECT NULL, NULL, NULL, 'newest records missing: the chain head is ahead of the log'
          FROM retailiq.audit_head h
         WHERE h.last_id <> coalesce((SELECT max(a.id) FROM retailiq.audit_log a), 0)
            OR h.last_hash <> coalesce((SELECT a.row_hash FROM retailiq.audit_log a ORDER BY a.id DESC LIMIT 1), h.last_hash)
    )
    SELECT p.id, p.logged_at, p.action, p.problem FROM problems p
     WHERE p.problem IS NOT NULL
     ORDER BY p.id NULLS LAST
     LIMIT 1;
END;
REVOKE ALL ON FUNCTION retailiq.audit_verify() FROM PUBLIC;

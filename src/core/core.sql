-- core: the schema, the retailiq.model type and the model store.

\echo Use "CREATE EXTENSION retailiq" to load this file. \quit

CREATE SCHEMA retailiq;
COMMENT ON SCHEMA retailiq IS 'retailiq: retail analytics inside PostgreSQL';
GRANT USAGE ON SCHEMA retailiq TO PUBLIC;
-- Aggregate support functions (transition, combine, serialize, deserialize, final) live
-- apart from the API, with the other machinery (triggers, the helpers of plpgsql functions),
-- so \df retailiq.* lists only what users call. src/privileges.sql says who may execute what.
CREATE SCHEMA retailiq_internal;
COMMENT ON SCHEMA retailiq_internal IS 'retailiq: machinery (aggregate support functions, triggers, helpers), not for direct use';

-- A trained model of any kind: a checksummed varlena with a readable text form.
CREATE TYPE retailiq.model;

CREATE FUNCTION retailiq.model_in(cstring) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'model_in' LANGUAGE C STRICT STABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_out(retailiq.model) RETURNS cstring
    AS 'MODULE_PATHNAME', 'model_out' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_recv(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'model_recv' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_send(retailiq.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'model_send' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

CREATE TYPE retailiq.model (
    INPUT = retailiq.model_in,
    OUTPUT = retailiq.model_out,
    RECEIVE = retailiq.model_recv,
    SEND = retailiq.model_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE retailiq.model IS 'a trained retailiq model (k-means, LSTM, ETS, BG/NBD, logistic, ...)';

CREATE FUNCTION retailiq.model_kind(retailiq.model) RETURNS text
    AS 'MODULE_PATHNAME', 'model_kind_sql' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq.model_info(retailiq.model) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'model_info' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- Named, versioned models.
CREATE TABLE retailiq.models (
    name        text        NOT NULL CHECK (name <> '' AND length(name) <= 200),
    version     int         NOT NULL CHECK (version > 0),
    model       retailiq.model NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  name        NOT NULL DEFAULT current_user,
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE retailiq.models IS 'saved models: one row per (name, version)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.models', '');

-- Saves a model under a name as the next version; returns that version. Concurrent saves
-- of one name are serialised by a transaction-scoped advisory lock, so versions never clash.
CREATE FUNCTION retailiq.save_model(name text, model retailiq.model) RETURNS int
LANGUAGE plpgsql STRICT VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v int;
BEGIN
    IF save_model.name = '' OR length(save_model.name) > 200 THEN
        RAISE EXCEPTION 'model name must be 1 to 200 characters'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name models after what they predict, e.g. ''weekly_demand''.';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.models'), hashtext(save_model.name));
    SELECT coalesce(max(m.version), 0) + 1 INTO v
      FROM retailiq.models m WHERE m.name = save_model.name;
    INSERT INTO retailiq.models (name, version, model)
    VALUES (save_model.name, v, save_model.model);
    RETURN v;
END
$$;

-- The model saved under a name: the given version, or the newest one.
CREATE FUNCTION retailiq.load_model(name text, version int DEFAULT NULL) RETURNS retailiq.model
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m retailiq.model;
BEGIN
    IF load_model.name IS NULL THEN
        RAISE EXCEPTION 'model name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT s.model INTO m FROM retailiq.models s
     WHERE s.name = load_model.name
       AND (load_model.version IS NULL OR s.version = load_model.version)
     ORDER BY s.version DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%"% not found', load_model.name,
              CASE WHEN load_model.version IS NULL THEN '' ELSE ' version ' || load_model.version END
            USING ERRCODE = 'undefined_object',
                  HINT = 'retailiq.models lists the saved models and their versions.';
    END IF;
    RETURN m;
END
$$;

-- Removes one version of a named model, or all of them; returns how many were removed.
CREATE FUNCTION retailiq.drop_model(name text, version int DEFAULT NULL) RETURNS int
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (DELETE FROM retailiq.models s
                WHERE s.name = drop_model.name
                  AND (drop_model.version IS NULL OR s.version = drop_model.version)
               RETURNING 1)
    SELECT count(*)::int FROM d;
$$;

-- segment: RFM scores and segments, k-means customer segmentation.

-- One customer's orders as of a date.
CREATE TYPE retailiq.rfm AS (
    recency_days int,           -- whole days from the last order to as_of
    frequency    bigint,        -- orders up to as_of
    monetary     numeric,       -- sum of their amounts
    first_order  timestamptz,
    last_order   timestamptz
);
COMMENT ON TYPE retailiq.rfm IS 'recency, frequency and monetary value of one customer (retailiq.rfm_agg)';

CREATE TYPE retailiq.rfm_scores AS (
    r        int,               -- recency score, 1 (longest ago) .. bins (most recent)
    f        int,               -- frequency score, 1 .. bins
    m        int,               -- monetary score, 1 .. bins
    rfm_code text,              -- the three digits, e.g. '545'
    segment  text               -- one of the 11 segments (5 bins only)
);

CREATE FUNCTION retailiq_internal.rfm_numeric_accum(internal, timestamptz, numeric, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_accum_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_float8_accum(internal, timestamptz, float8, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_accum_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_final(internal) RETURNS retailiq.rfm
    AS 'MODULE_PATHNAME', 'rfm_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.rfm_agg(ordered_at timestamptz, amount numeric, as_of timestamptz) (
    SFUNC = retailiq_internal.rfm_numeric_accum, STYPE = internal, SSPACE = 160, FINALFUNC = retailiq_internal.rfm_final,
    COMBINEFUNC = retailiq_internal.rfm_combine, SERIALFUNC = retailiq_internal.rfm_serialize,
    DESERIALFUNC = retailiq_internal.rfm_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.rfm_agg(ordered_at timestamptz, amount float8, as_of timestamptz) (
    SFUNC = retailiq_internal.rfm_float8_accum, STYPE = internal, SSPACE = 64, FINALFUNC = retailiq_internal.rfm_final,
    COMBINEFUNC = retailiq_internal.rfm_combine, SERIALFUNC = retailiq_internal.rfm_serialize,
    DESERIALFUNC = retailiq_internal.rfm_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rfm_agg(timestamptz, numeric, timestamptz) IS
    'recency (days), frequency and monetary value of one customer''s orders as of a date';

CREATE FUNCTION retailiq_internal.rfm_breaks_accum(internal, retailiq.rfm) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_accum(internal, retailiq.rfm, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_breaks_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'rfm_breaks_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.rfm_breaks_final(internal) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'rfm_breaks_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.rfm_breaks(rfm retailiq.rfm) (
    SFUNC = retailiq_internal.rfm_breaks_accum, STYPE = internal, FINALFUNC = retailiq_internal.rfm_breaks_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.rfm_breaks_combine, SERIALFUNC = retailiq_internal.rfm_breaks_serialize,
    DESERIALFUNC = retailiq_internal.rfm_breaks_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.rfm_breaks(rfm retailiq.rfm, bins int) (
    SFUNC = retailiq_internal.rfm_breaks_accum, STYPE = internal, FINALFUNC = retailiq_internal.rfm_breaks_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.rfm_breaks_combine, SERIALFUNC = retailiq_internal.rfm_breaks_serialize,
    DESERIALFUNC = retailiq_internal.rfm_breaks_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.rfm_breaks(retailiq.rfm) IS
    'quintile break points of recency, frequency and monetary across customers: float8[3][4]';

CREATE FUNCTION retailiq.rfm_score(rfm retailiq.rfm, breaks float8[]) RETURNS retailiq.rfm_scores
    AS 'MODULE_PATHNAME', 'rfm_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.rfm_score(retailiq.rfm, float8[]) IS
    'R, F, M scores against rfm_breaks, the RFM code and the segment name';

-- Every customer of an orders table scored in one call.
CREATE FUNCTION retailiq.rfm_segments(
    orders regclass,
    as_of timestamptz DEFAULT now(),
    bins int DEFAULT 5,
    customer_column name DEFAULT 'customer_id',
    time_column name DEFAULT 'ordered_at',
    amount_column name DEFAULT 'total_amount')
RETURNS TABLE (customer_id bigint, recency_days int, frequency bigint, monetary numeric,
               r int, f int, m int, rfm_code text, segment text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF orders IS NULL OR as_of IS NULL OR bins IS NULL OR customer_column IS NULL
       OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'rfm_segments arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave an argument out to use its default.';
    END IF;
    -- OFFSET 0 keeps the scores' subquery whole: pulled up, (s.sc).r, (s.sc).f, ... would
    -- each call rfm_score again
    RETURN QUERY EXECUTE format(
        'WITH c AS (SELECT %1$I::bigint AS cid, retailiq.rfm_agg(%2$I, %3$I, $1) AS v
                      FROM %4$s GROUP BY 1),
              c2 AS (SELECT * FROM c WHERE v IS NOT NULL),
              b AS (SELECT retailiq.rfm_breaks(v, $2) AS br FROM c2)
         SELECT c2.cid, (c2.v).recency_days, (c2.v).frequency, (c2.v).monetary,
                (s.sc).r, (s.sc).f, (s.sc).m, (s.sc).rfm_code, (s.sc).segment
           FROM c2 CROSS JOIN b
                CROSS JOIN LATERAL (SELECT retailiq.rfm_score(c2.v, b.br) AS sc OFFSET 0) s',
        customer_column, time_column, amount_column, orders)
    USING as_of, bins;
END
$$;
COMMENT ON FUNCTION retailiq.rfm_segments(regclass, timestamptz, int, name, name, name) IS
    'RFM scores and segment of every customer in an orders table';

-- k-means. Aggregates take no DEFAULTs, so each optional argument has its own overload.
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int, int, int, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_accum(internal, float8[], int, int, int, int, float8, bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_segment_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_buf_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_buf_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_buf_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_buf_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_buf_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_buf_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_segment_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'kmeans_segment_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int,
                                         tol float8) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_segment(features float8[], k int, seed int, n_init int, max_iter int,
                                         tol float8, standardize bool) (
    SFUNC = retailiq_internal.kmeans_segment_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_segment_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_buf_combine, SERIALFUNC = retailiq_internal.kmeans_buf_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_buf_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.kmeans_segment(float8[], int, int, int, int, float8, bool) IS
    'k-means (k-means++ seeding, Lloyd iterations, best of n_init) over feature rows: a kmeans model';

CREATE FUNCTION retailiq.kmeans_assign(model retailiq.model, features float8[]) RETURNS int
    AS 'MODULE_PATHNAME', 'kmeans_assign' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.kmeans_assign(retailiq.model, float8[]) IS
    'the cluster (1 .. k) whose centroid is nearest to the features';
CREATE FUNCTION retailiq.kmeans_distance(model retailiq.model, features float8[]) RETURNS float8
    AS 'MODULE_PATHNAME', 'kmeans_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.kmeans_distance(retailiq.model, float8[]) IS
    'Euclidean distance, in the model''s (standardized) space, to the nearest centroid';

CREATE FUNCTION retailiq.kmeans_centroids(model retailiq.model)
    RETURNS TABLE (cluster int, size bigint, centroid float8[])
    AS 'MODULE_PATHNAME', 'kmeans_centroids' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
COMMENT ON FUNCTION retailiq.kmeans_centroids(retailiq.model) IS
    'each cluster of a k-means model: its number, size and centroid in original units';

CREATE FUNCTION retailiq_internal.kmeans_silhouette_accum(internal, float8[], retailiq.model) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_accum(internal, float8[], retailiq.model, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_accum(internal, float8[], retailiq.model, int, int) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_final(internal) RETURNS float8
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_silhouette_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'kmeans_silhouette_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model) (
    SFUNC = retailiq_internal.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_silhouette_combine, SERIALFUNC = retailiq_internal.kmeans_silhouette_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_silhouette_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model, sample_size int) (
    SFUNC = retailiq_internal.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_silhouette_combine, SERIALFUNC = retailiq_internal.kmeans_silhouette_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_silhouette_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.kmeans_silhouette(features float8[], model retailiq.model, sample_size int,
                                            seed int) (
    SFUNC = retailiq_internal.kmeans_silhouette_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.kmeans_silhouette_combine, SERIALFUNC = retailiq_internal.kmeans_silhouette_serialize,
    DESERIALFUNC = retailiq_internal.kmeans_silhouette_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.kmeans_silhouette(float8[], retailiq.model) IS
    'mean silhouette of the rows under a k-means model: exact up to sample_size rows, sampled beyond';

-- Streaming k-means: one Lloyd pass as an aggregate with a bytea (varlena) state of
-- per-center partial sums, so parallel workers and Citus workers can each run part of it.
CREATE FUNCTION retailiq_internal.kmeans_pass_accum(bytea, float8[], retailiq.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_pass_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_pass_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_pass_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.kmeans_pass_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'kmeans_pass_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE retailiq.kmeans_pass(features float8[], model retailiq.model) (
    SFUNC = retailiq_internal.kmeans_pass_accum, STYPE = bytea, FINALFUNC = retailiq_internal.kmeans_pass_final,
    COMBINEFUNC = retailiq_internal.kmeans_pass_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.kmeans_pass(float8[], retailiq.model) IS
    'one Lloyd iteration over the rows from a k-means model: the model with updated centroids';

CREATE FUNCTION retailiq.kmeans_sample(features float8[], fraction float8, seed int DEFAULT 42)
    RETURNS bool
    AS 'MODULE_PATHNAME', 'kmeans_sample' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.kmeans_sample(float8[], float8, int) IS
    'true for a fixed pseudo-random fraction of feature rows, decided by their values alone';

-- k-means over a table too large to hold: seeds on a sample held in memory, then iterates
-- with kmeans_pass over every row until the centers move less than tol.
CREATE FUNCTION retailiq.kmeans_stream(
    relation regclass,
    features_column name,
    k int,
    seed int DEFAULT 42,
    n_init int DEFAULT 4,
    max_iter int DEFAULT 300,
    tol float8 DEFAULT 1e-4,
    standardize bool DEFAULT true,
    sample_size bigint DEFAULT 100000)
RETURNS retailiq.model
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    total bigint;
    frac float8;
    model retailiq.model;
    it int := 0;
BEGIN
    IF relation IS NULL OR features_column IS NULL OR k IS NULL OR seed IS NULL OR n_init IS NULL
       OR max_iter IS NULL OR tol IS NULL OR standardize IS NULL OR sample_size IS NULL THEN
        RAISE EXCEPTION 'kmeans_stream arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Leave an argument out to use its default.';
    END IF;
    IF sample_size < k OR sample_size < 1 THEN
        RAISE EXCEPTION 'sample_size must be at least k'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('sample_size is %s, k is %s.', sample_size, k),
                  HINT = 'The seeding sample needs at least k distinct rows; 100000 is usual.';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', relation) INTO total;
    frac := least(1.0, sample_size::float8 / greatest(total, 1));
    EXECUTE format('SELECT retailiq.kmeans_segment(%1$I, $1, $2, $3, $4, $5, $6) FROM %2$s
                     WHERE $7 >= 1.0 OR retailiq.kmeans_sample(%1$I, $7, $2)',
                   features_column, relation)
       INTO model USING k, seed, n_init, max_iter, tol, standardize, frac;
    IF frac >= 1.0 THEN
        RETURN model;           -- the whole table fitted in the sample: that is the answer
    END IF;
    LOOP
        EXECUTE format('SELECT retailiq.kmeans_pass(%I, $1) FROM %s', features_column, relation)
           INTO model USING model;
        it := it + 1;
        EXIT WHEN (retailiq.model_info(model) #>> '{metrics,converged}')::bool OR it >= max_iter;
    END LOOP;
    RETURN model;
END
$$;
COMMENT ON FUNCTION retailiq.kmeans_stream(regclass, name, int, int, int, int, float8, bool, bigint) IS
    'k-means over a table of any size: k-means++ on a sample, then Lloyd passes over every row';

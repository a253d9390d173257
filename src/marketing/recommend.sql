
-- marketing: recommendations for each customer (implicit-feedback ALS, item-to-item cosine
-- neighbours and the customer's own repeat purchases, blended by weights chosen on the
-- caller's own history; see doc/marketing.md).

CREATE FUNCTION retailiq_internal.recommender_fit_accum(internal, bigint, bigint, float8, timestamptz)
    RETURNS internal AS 'MODULE_PATHNAME', 'recommender_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_accum(internal, bigint, bigint, float8, timestamptz, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'recommender_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'recommender_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'recommender_fit_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'recommender_fit_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.recommender_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'recommender_fit_final' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.recommender_fit_accum(internal, bigint, bigint, float8, timestamptz) IS
    'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_accum(internal, bigint, bigint, float8, timestamptz, jsonb) IS
    'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_combine(internal, internal) IS 'aggregate combine function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_serialize(internal) IS 'aggregate serial function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_deserialize(bytea, internal) IS 'aggregate deserial function';
COMMENT ON FUNCTION retailiq_internal.recommender_fit_final(internal) IS 'aggregate final function';

CREATE AGGREGATE retailiq.recommender_fit(customer bigint, product bigint, quantity float8, at timestamptz) (
    SFUNC = retailiq_internal.recommender_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.recommender_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.recommender_fit_combine,
    SERIALFUNC = retailiq_internal.recommender_fit_serialize,
    DESERIALFUNC = retailiq_internal.recommender_fit_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.recommender_fit(bigint, bigint, float8, timestamptz) IS
    'per-customer recommender (ALS + item-to-item + own repeat purchases) over purchase lines';
CREATE AGGREGATE retailiq.recommender_fit(customer bigint, product bigint, quantity float8, at timestamptz,
                                          options jsonb) (
    SFUNC = retailiq_internal.recommender_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.recommender_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = retailiq_internal.recommender_fit_combine,
    SERIALFUNC = retailiq_internal.recommender_fit_serialize,
    DESERIALFUNC = retailiq_internal.recommender_fit_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.recommender_fit(bigint, bigint, float8, timestamptz, jsonb) IS
    'per-customer recommender (ALS + item-to-item + own repeat purchases) over purchase lines, with options';

CREATE FUNCTION retailiq.recommend_for_customer(model retailiq.model, customer bigint, n int,
                                                options jsonb DEFAULT NULL)
    RETURNS TABLE (product bigint, score float8, reason text)
    AS 'MODULE_PATHNAME', 'recommend_for_customer' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION retailiq.recommend_for_customer(retailiq.model, bigint, int, jsonb) IS
    'the n products a customer is most likely to buy next, best first, with the reason';
CREATE FUNCTION retailiq.recommend_for_customers(model retailiq.model, n int, options jsonb DEFAULT NULL)
    RETURNS TABLE (customer bigint, rank int, product bigint, score float8, reason text)
    AS 'MODULE_PATHNAME', 'recommend_for_customers' LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10000;
COMMENT ON FUNCTION retailiq.recommend_for_customers(retailiq.model, int, jsonb) IS
    'the n products each customer of the model is most likely to buy next, ranked, with the reason';

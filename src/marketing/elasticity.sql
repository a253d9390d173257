
-- marketing: what a price does. Own- and cross-price elasticities per product, log-log with
-- store fixed effects, each store's estimate shrunk toward the pooled one (elasticity.h).

CREATE FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8)
    RETURNS internal AS 'MODULE_PATHNAME', 'elasticity_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8, float8[])
    RETURNS internal AS 'MODULE_PATHNAME', 'elasticity_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8, float8[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'elasticity_fit_accum' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'elasticity_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'elasticity_fit_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'elasticity_fit_deserialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.elasticity_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'elasticity_fit_final' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8, float8[]) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_accum(internal, bigint, bigint, date, float8, float8, float8[], jsonb) IS 'aggregate transition function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_combine(internal, internal) IS 'aggregate combine function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_serialize(internal) IS 'aggregate serial function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_deserialize(bytea, internal) IS 'aggregate deserial function';
COMMENT ON FUNCTION retailiq_internal.elasticity_fit_final(internal) IS 'aggregate final function';

CREATE AGGREGATE retailiq.elasticity_fit(product bigint, store bigint, period date, units float8, price float8) (
    SFUNC = retailiq_internal.elasticity_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.elasticity_fit_final,
    COMBINEFUNC = retailiq_internal.elasticity_fit_combine,
    SERIALFUNC = retailiq_internal.elasticity_fit_serialize,
    DESERIALFUNC = retailiq_internal.elasticity_fit_deserialize,
    PARALLEL = SAFE);
CREATE AGGREGATE retailiq.elasticity_fit(product bigint, store bigint, period date, units float8, price float8,
                                         factors float8[]) (
    SFUNC = retailiq_internal.elasticity_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.elasticity_fit_final,
    COMBINEFUNC = retailiq_internal.elasticity_fit_combine,
    SERIALFUNC = retailiq_internal.elasticity_fit_serialize,
    DESERIALFUNC = retailiq_internal.elasticity_fit_deserialize,
    PARALLEL = SAFE);
CREATE AGGREGATE retailiq.elasticity_fit(product bigint, store bigint, period date, units float8, price float8,
                                         factors float8[], options jsonb) (
    SFUNC = retailiq_internal.elasticity_fit_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.elasticity_fit_final,
    COMBINEFUNC = retailiq_internal.elasticity_fit_combine,
    SERIALFUNC = retailiq_internal.elasticity_fit_serialize,
    DESERIALFUNC = retailiq_internal.elasticity_fit_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.elasticity_fit(bigint, bigint, date, float8, float8) IS
    'price elasticity per product: log-log with store fixed effects, store estimates shrunk toward the pooled one';
COMMENT ON AGGREGATE retailiq.elasticity_fit(bigint, bigint, date, float8, float8, float8[]) IS
    'price elasticity per product, controlling for factors (deal, feature, other products'' log prices)';
COMMENT ON AGGREGATE retailiq.elasticity_fit(bigint, bigint, date, float8, float8, float8[], jsonb) IS
    'price elasticity per product with factors and options (level, harmonics, pooling)';

CREATE FUNCTION retailiq.elasticities(model retailiq.model)
    RETURNS TABLE (product bigint, store bigint, elasticity float8, lower float8, upper float8,
                   observations bigint, reason text)
    AS 'MODULE_PATHNAME', 'elasticity_elasticities' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.elasticities(retailiq.model) IS
    'own-price elasticity of each product (store NULL: pooled) and of each store (shrunk), with the interval';

CREATE FUNCTION retailiq.elasticity_predict(model retailiq.model, product bigint, store bigint, period date,
                                            price float8, factors float8[] DEFAULT NULL)
    RETURNS float8 AS 'MODULE_PATHNAME', 'elasticity_predict' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.elasticity_predict(retailiq.model, bigint, bigint, date, float8, float8[]) IS
    'expected units of a product in a store in a period at a price (and factors), from an elasticity model';

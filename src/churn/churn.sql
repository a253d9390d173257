
-- churn: BG/NBD and Gamma-Gamma customer-base models, a logistic churn model over
-- behavioural features, risk tiers, reasons and retention actions.

-- Shared by the fitting aggregates: their state is the rows they keep (see churn.h).
CREATE FUNCTION retailiq._churn_rows_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'churn_rows_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._churn_rows_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'churn_rows_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq._churn_rows_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'churn_rows_deserialize' LANGUAGE C STRICT PARALLEL SAFE;

-- BG/NBD (Fader, Hardie & Lee 2005)
CREATE FUNCTION retailiq._bgnbd_fit_sfunc(internal, int, float8, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'bgnbd_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._bgnbd_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'bgnbd_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.bgnbd_fit(frequency int, recency float8, t float8) (
    SFUNC = retailiq._bgnbd_fit_sfunc, STYPE = internal,
    FINALFUNC = retailiq._bgnbd_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine,
    SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.bgnbd_fit(int, float8, float8) IS
    'BG/NBD model by maximum likelihood over one row per customer (repeat purchases, time of the last, age)';

CREATE FUNCTION retailiq.churn_probability(model retailiq.model, frequency int, recency float8, t float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_churn_probability'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.churn_probability(retailiq.model, int, float8, float8) IS
    'BG/NBD: 1 - P(alive | frequency, recency, t)';
CREATE FUNCTION retailiq.expected_purchases(model retailiq.model, frequency int, recency float8,
                                            t float8, horizon float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_expected_purchases'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.expected_purchases(retailiq.model, int, float8, float8, float8) IS
    'BG/NBD: expected purchases in the next horizon time units, given frequency, recency and t';

-- Order history -> (frequency, recency, t, monetary) for BG/NBD and Gamma-Gamma.
CREATE TYPE retailiq.purchase_summary AS (
    frequency int, recency float8, t float8, monetary float8,
    first_purchase date, last_purchase date);
CREATE FUNCTION retailiq._purchase_summary_sfunc(internal, date, float8, date, interval) RETURNS internal
    AS 'MODULE_PATHNAME', 'purchase_summary_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._purchase_summary_final(internal) RETURNS retailiq.purchase_summary
    AS 'MODULE_PATHNAME', 'purchase_summary_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.purchase_summary(purchased_on date, amount float8, as_of date,
                                           time_unit interval) (
    SFUNC = retailiq._purchase_summary_sfunc, STYPE = internal,
    FINALFUNC = retailiq._purchase_summary_final,
    COMBINEFUNC = retailiq._churn_rows_combine,
    SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.purchase_summary(date, float8, date, interval) IS
    'one customer''s orders -> frequency, recency, t (in time_unit) and mean repeat spend, as of a date';

-- Gamma-Gamma spend model and customer lifetime value
CREATE FUNCTION retailiq._gammagamma_fit_sfunc(internal, int, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'gammagamma_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._gammagamma_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'gammagamma_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.gammagamma_fit(frequency int, monetary float8) (
    SFUNC = retailiq._gammagamma_fit_sfunc, STYPE = internal,
    FINALFUNC = retailiq._gammagamma_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine,
    SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.gammagamma_fit(int, float8) IS
    'Gamma-Gamma spend model over customers with repeat purchases (mean repeat spend)';
CREATE FUNCTION retailiq.expected_spend(model retailiq.model, frequency int, monetary float8)
    RETURNS float8 AS 'MODULE_PATHNAME', 'gammagamma_expected_spend'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.expected_spend(retailiq.model, int, float8) IS
    'Gamma-Gamma: expected value of a future transaction given frequency and mean repeat spend';
CREATE FUNCTION retailiq.clv(bgnbd retailiq.model, gammagamma retailiq.model, frequency int,
                             recency float8, t float8, monetary float8, periods int,
                             discount_rate float8, period_length float8 DEFAULT 1)
    RETURNS float8 AS 'MODULE_PATHNAME', 'churn_clv'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.clv(retailiq.model, retailiq.model, int, float8, float8, float8, int, float8, float8) IS
    'customer lifetime value: discounted expected purchases per period times expected spend';

-- Supervised churn model: L2-penalised logistic regression on standardised features
-- (aggregates take no DEFAULTs: one overload per optional argument, one C function)
CREATE FUNCTION retailiq._logit_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_fit_sfunc(internal, float8[], bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_fit_sfunc(internal, float8[], bool, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_fit_sfunc(internal, float8[], bool, float8, text[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq._logit_fit_sfunc(internal, float8[], bool, float8, text[], int) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool) (
    SFUNC = retailiq._logit_fit_sfunc, STYPE = internal, FINALFUNC = retailiq._logit_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine, SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8) (
    SFUNC = retailiq._logit_fit_sfunc, STYPE = internal, FINALFUNC = retailiq._logit_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine, SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8, feature_names text[]) (
    SFUNC = retailiq._logit_fit_sfunc, STYPE = internal, FINALFUNC = retailiq._logit_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine, SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8, feature_names text[],
                                    max_iter int) (
    SFUNC = retailiq._logit_fit_sfunc, STYPE = internal, FINALFUNC = retailiq._logit_fit_final,
    COMBINEFUNC = retailiq._churn_rows_combine, SERIALFUNC = retailiq._churn_rows_serialize,
    DESERIALFUNC = retailiq._churn_rows_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.logit_fit(float8[], bool, float8, text[], int) IS
    'L2-penalised logistic regression (Newton/IRLS on standardised features); label true = churned; l2 defaults to 1, max_iter to 100';
CREATE FUNCTION retailiq.churn_probability(model retailiq.model, features float8[])
    RETURNS float8 AS 'MODULE_PATHNAME', 'logit_churn_probability'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.churn_probability(retailiq.model, float8[]) IS
    'logistic churn model: probability that the customer churns';
CREATE FUNCTION retailiq.churn_explain(model retailiq.model, features float8[], top int DEFAULT 3)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'logit_churn_explain'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION retailiq.churn_explain(retailiq.model, float8[], int) IS
    'the features that raise this customer''s churn log-odds most, against the average customer';

-- Risk tiers: high at or above thresholds[1], medium at or above thresholds[2], else low.
CREATE FUNCTION retailiq.churn_risk(probability float8, thresholds float8[] DEFAULT '{0.6,0.3}')
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF probability = 'NaN'::float8 OR probability < 0 OR probability > 1 THEN
        RAISE EXCEPTION 'probability must be between 0 and 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('probability is %s.', probability),
                  HINT = 'Pass a value from retailiq.churn_probability().';
    END IF;
    IF array_ndims(thresholds) IS DISTINCT FROM 1 OR array_length(thresholds, 1) <> 2
       OR array_position(thresholds, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'thresholds must be an array of two numbers: high, medium'
            USING ERRCODE = 'array_subscript_error',
                  HINT = 'For example ARRAY[0.6, 0.3]: high from 0.6, medium from 0.3.';
    END IF;
    IF NOT (thresholds[2] > 0 AND thresholds[2] <= thresholds[1] AND thresholds[1] <= 1) THEN
        RAISE EXCEPTION 'thresholds must satisfy 0 < medium <= high <= 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('thresholds are %s.', thresholds),
                  HINT = 'For example ARRAY[0.6, 0.3]: high from 0.6, medium from 0.3.';
    END IF;
    RETURN CASE WHEN probability >= thresholds[1] THEN 'high'
                WHEN probability >= thresholds[2] THEN 'medium'
                ELSE 'low' END;
END
$$;
COMMENT ON FUNCTION retailiq.churn_risk(float8, float8[]) IS
    'risk tier (high / medium / low) of a churn probability';

-- What a feature that raises the risk says about the customer.
CREATE TABLE retailiq.churn_reason (
    feature     text PRIMARY KEY,
    reason      text NOT NULL,
    is_default  bool NOT NULL DEFAULT false
);
COMMENT ON TABLE retailiq.churn_reason IS 'churn model feature -> reason for risk (edit freely)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.churn_reason', 'WHERE NOT is_default');

-- What to do about it, by tier and reason; reason 'general' is the fallback of a tier.
CREATE TABLE retailiq.retention_strategy (
    tier        text NOT NULL CHECK (tier IN ('high', 'medium', 'low')),
    reason      text NOT NULL,
    action      text NOT NULL,
    is_default  bool NOT NULL DEFAULT false,
    PRIMARY KEY (tier, reason)
);
COMMENT ON TABLE retailiq.retention_strategy IS 'risk tier x reason -> suggested retention action (edit freely)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.retention_strategy', 'WHERE NOT is_default');

INSERT INTO retailiq.churn_reason (feature, reason, is_default) VALUES
    ('days_since_last_order', 'lapsing', true),
    ('recency_over_gap', 'lapsing', true),
    ('tenure_days', 'new_customer', true),
    ('orders_30d', 'declining', true),
    ('orders_90d', 'declining', true),
    ('orders_365d', 'declining', true),
    ('spend_30d', 'declining', true),
    ('spend_90d', 'declining', true),
    ('spend_365d', 'declining', true),
    ('order_trend', 'declining', true),
    ('spend_trend', 'declining', true),
    ('mean_gap_days', 'infrequent', true),
    ('sd_gap_days', 'infrequent', true),
    ('avg_basket_items', 'small_baskets', true),
    ('avg_order_value', 'small_baskets', true),
    ('category_breadth', 'small_baskets', true),
    ('discount_share', 'price_sensitive', true),
    ('promo_line_share', 'price_sensitive', true),
    ('return_rate', 'returns', true),
    ('online_share', 'channel', true),
    ('store_count', 'channel', true),
    ('events_30d', 'disengaged', true),
    ('views_30d', 'disengaged', true),
    ('cart_adds_30d', 'disengaged', true),
    ('dwell_minutes_30d', 'disengaged', true),
    ('days_since_last_event', 'disengaged', true),
    ('event_trend', 'disengaged', true),
    ('cart_conversion', 'cart_abandonment', true);

INSERT INTO retailiq.retention_strategy (tier, reason, action, is_default) VALUES
    ('high', 'lapsing', 'win-back offer: personal coupon by e-mail this week', true),
    ('high', 'declining', 'loyalty bonus on the next purchase and a call from the store manager', true),
    ('high', 'price_sensitive', 'coupon of 15% on the categories they buy', true),
    ('high', 'returns', 'service call about the recent returns', true),
    ('high', 'disengaged', 're-engagement campaign with personalised recommendations', true),
    ('high', 'cart_abandonment', 'reminder of the abandoned cart with free delivery', true),
    ('high', 'small_baskets', 'bundle offer on complementary products', true),
    ('high', 'infrequent', 'replenishment reminder timed to their purchase cycle', true),
    ('high', 'channel', 'invite to the preferred channel (app or nearby store event)', true),
    ('high', 'new_customer', 'welcome series with a second-purchase incentive', true),
    ('high', 'general', 'personal win-back offer', true),
    ('medium', 'lapsing', 'we-miss-you e-mail with a small incentive', true),
    ('medium', 'declining', 'loyalty points boost', true),
    ('medium', 'price_sensitive', 'early access to the next promotion', true),
    ('medium', 'returns', 'satisfaction survey about the returned items', true),
    ('medium', 'disengaged', 'newsletter with new arrivals in their categories', true),
    ('medium', 'cart_abandonment', 'abandoned cart reminder', true),
    ('medium', 'general', 'regular loyalty communication, watch next month', true),
    ('low', 'general', 'no action', true);

-- The suggested action for one customer: probability, tier, main reason and action.
CREATE TYPE retailiq.retention_proposal AS (
    probability float8, tier text, feature text, reason text, action text);
CREATE FUNCTION retailiq.retention_action(model retailiq.model, features float8[],
                                          thresholds float8[] DEFAULT '{0.6,0.3}')
RETURNS retailiq.retention_proposal LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    res retailiq.retention_proposal;
BEGIN
    res.probability := retailiq.churn_probability(model, features);
    res.tier := retailiq.churn_risk(res.probability, thresholds);
    res.feature := retailiq.churn_explain(model, features, 1) -> 0 ->> 'feature';
    SELECT r.reason INTO res.reason FROM retailiq.churn_reason r WHERE r.feature = res.feature;
    res.reason := coalesce(res.reason, 'general');
    SELECT s.action INTO res.action FROM retailiq.retention_strategy s
     WHERE s.tier = res.tier AND s.reason IN (res.reason, 'general')
     ORDER BY s.reason = 'general' LIMIT 1;
    RETURN res;
END
$$;
COMMENT ON FUNCTION retailiq.retention_action(retailiq.model, float8[], float8[]) IS
    'churn probability, risk tier, main reason and the retention action the strategy table suggests';

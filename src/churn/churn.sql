
-- churn: BG/NBD and Gamma-Gamma customer-base models, a logistic churn model over
-- behavioural features, risk tiers, reasons and retention actions.

-- Shared by the fitting aggregates: their state is the rows they keep (see churn.h).
CREATE FUNCTION retailiq_internal.churn_rows_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'churn_rows_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.churn_rows_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'churn_rows_serialize' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.churn_rows_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'churn_rows_deserialize' LANGUAGE C STRICT PARALLEL SAFE;

-- BG/NBD (Fader, Hardie & Lee 2005)
-- Its state is the distinct (x, t_x, T) rows with their counts, a bytea (see churn.h): Citus
-- ships one partial state per shard instead of one row per customer.
CREATE FUNCTION retailiq_internal.bgnbd_fit_accum(bytea, int, float8, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bgnbd_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.bgnbd_fit_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'bgnbd_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.bgnbd_fit_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'bgnbd_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.bgnbd_fit(frequency int, recency float8, t float8) (
    SFUNC = retailiq_internal.bgnbd_fit_accum, STYPE = bytea,
    FINALFUNC = retailiq_internal.bgnbd_fit_final,
    COMBINEFUNC = retailiq_internal.bgnbd_fit_combine,
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
CREATE FUNCTION retailiq_internal.purchase_summary_accum(internal, date, float8, date, interval) RETURNS internal
    AS 'MODULE_PATHNAME', 'purchase_summary_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.purchase_summary_final(internal) RETURNS retailiq.purchase_summary
    AS 'MODULE_PATHNAME', 'purchase_summary_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.purchase_summary(purchased_on date, amount float8, as_of date,
                                           time_unit interval) (
    SFUNC = retailiq_internal.purchase_summary_accum, STYPE = internal,
    FINALFUNC = retailiq_internal.purchase_summary_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine,
    SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.purchase_summary(date, float8, date, interval) IS
    'one customer''s orders -> frequency, recency, t (in time_unit) and mean repeat spend, as of a date';

-- Gamma-Gamma spend model and customer lifetime value
-- State: the distinct (x, mean spend) rows with their counts, a bytea (as bgnbd_fit's).
CREATE FUNCTION retailiq_internal.gammagamma_fit_accum(bytea, int, float8) RETURNS bytea
    AS 'MODULE_PATHNAME', 'gammagamma_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.gammagamma_fit_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'gammagamma_fit_combine' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.gammagamma_fit_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'gammagamma_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.gammagamma_fit(frequency int, monetary float8) (
    SFUNC = retailiq_internal.gammagamma_fit_accum, STYPE = bytea,
    FINALFUNC = retailiq_internal.gammagamma_fit_final,
    COMBINEFUNC = retailiq_internal.gammagamma_fit_combine,
    PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.gammagamma_fit(int, float8) IS
    'Gamma-Gamma spend model over customers with repeat purchases (mean repeat spend)';

-- The two fits over a table without gathering its rows (issue 19, doc/distributed.md): the
-- fit's minimiser runs in the calling backend and evaluates the likelihood at each step with
-- one query of a *_loglik aggregate over the relation, whose float8[] state (the point, the
-- counts, the sums of the log-likelihood and its gradient) Citus computes on every shard and
-- adds up on the coordinator: per evaluation a dozen numbers per shard, not a row per customer.
CREATE FUNCTION retailiq_internal.bgnbd_loglik_accum(float8[], int, float8, float8, float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bgnbd_loglik_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.bgnbd_loglik_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'bgnbd_loglik_combine' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq_internal.bgnbd_loglik(frequency int, recency float8, t float8, theta float8[]) (
    SFUNC = retailiq_internal.bgnbd_loglik_accum, STYPE = float8[],
    COMBINEFUNC = retailiq_internal.bgnbd_loglik_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq_internal.bgnbd_loglik(int, float8, float8, float8[]) IS
    'BG/NBD: the sums of the log-likelihood and its gradient at theta = log(r, alpha, a, b), for bgnbd_fit_iterative';
CREATE FUNCTION retailiq.bgnbd_fit_iterative(source regclass, frequency_column name DEFAULT 'frequency',
                                             recency_column name DEFAULT 'recency', t_column name DEFAULT 't')
    RETURNS retailiq.model AS 'MODULE_PATHNAME', 'bgnbd_fit_iterative' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION retailiq.bgnbd_fit_iterative(regclass, name, name, name) IS
    'bgnbd_fit over a table of one row per customer, one split aggregate per likelihood evaluation (the rows stay on the Citus workers)';
CREATE FUNCTION retailiq_internal.gammagamma_loglik_accum(float8[], int, float8, float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'gammagamma_loglik_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.gammagamma_loglik_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'gammagamma_loglik_combine' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq_internal.gammagamma_loglik(frequency int, monetary float8, theta float8[]) (
    SFUNC = retailiq_internal.gammagamma_loglik_accum, STYPE = float8[],
    COMBINEFUNC = retailiq_internal.gammagamma_loglik_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq_internal.gammagamma_loglik(int, float8, float8[]) IS
    'Gamma-Gamma: the sums of the log-likelihood and its gradient at theta = log(p, q, v), for gammagamma_fit_iterative';
CREATE FUNCTION retailiq.gammagamma_fit_iterative(source regclass, frequency_column name DEFAULT 'frequency',
                                                  monetary_column name DEFAULT 'monetary')
    RETURNS retailiq.model AS 'MODULE_PATHNAME', 'gammagamma_fit_iterative' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION retailiq.gammagamma_fit_iterative(regclass, name, name) IS
    'gammagamma_fit over a table of one row per customer, one split aggregate per likelihood evaluation (the rows stay on the Citus workers)';

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
CREATE FUNCTION retailiq_internal.logit_fit_final(internal) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_fit_final' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_fit_accum(internal, float8[], bool) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_fit_accum(internal, float8[], bool, float8) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_fit_accum(internal, float8[], bool, float8, text[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_fit_accum(internal, float8[], bool, float8, text[], int) RETURNS internal
    AS 'MODULE_PATHNAME', 'logit_fit_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool) (
    SFUNC = retailiq_internal.logit_fit_accum, STYPE = internal, FINALFUNC = retailiq_internal.logit_fit_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine, SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8) (
    SFUNC = retailiq_internal.logit_fit_accum, STYPE = internal, FINALFUNC = retailiq_internal.logit_fit_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine, SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8, feature_names text[]) (
    SFUNC = retailiq_internal.logit_fit_accum, STYPE = internal, FINALFUNC = retailiq_internal.logit_fit_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine, SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_fit(features float8[], label bool, l2 float8, feature_names text[],
                                    max_iter int) (
    SFUNC = retailiq_internal.logit_fit_accum, STYPE = internal, FINALFUNC = retailiq_internal.logit_fit_final,
    COMBINEFUNC = retailiq_internal.churn_rows_combine, SERIALFUNC = retailiq_internal.churn_rows_serialize,
    DESERIALFUNC = retailiq_internal.churn_rows_deserialize, PARALLEL = SAFE);
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

-- Behavioural features for the supervised model (doc/churn.md lists them). Names, in the
-- order of churn_features' arrays:
CREATE FUNCTION retailiq.churn_feature_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT ARRAY['days_since_last_order', 'tenure_days', 'orders_30d', 'orders_90d',
    'orders_365d', 'spend_30d', 'spend_90d', 'spend_365d', 'order_trend', 'spend_trend',
    'mean_gap_days', 'sd_gap_days', 'recency_over_gap', 'avg_basket_items', 'avg_order_value',
    'category_breadth', 'discount_share', 'promo_line_share', 'return_rate', 'online_share',
    'store_count', 'events_30d', 'views_30d', 'cart_adds_30d', 'dwell_minutes_30d',
    'days_since_last_event', 'event_trend', 'cart_conversion']::text[] $$;

-- One row per customer with an order before as_of: the features as of that moment, from the
-- registered orders, order_lines, products and events (retailiq.source; orders need the
-- optional item_count and discount_amount columns, order_lines returned).
CREATE FUNCTION retailiq.churn_features(as_of timestamptz)
RETURNS TABLE (customer_id int, features float8[])
LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF as_of = 'infinity' OR as_of = '-infinity' THEN
        RAISE EXCEPTION 'as_of must be a finite timestamp'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the cut-off date of the features, e.g. now() or ''2025-09-01''.';
    END IF;
    PERFORM retailiq_internal.source_require('orders', ARRAY['item_count', 'discount_amount']::name[]);
    PERFORM retailiq_internal.source_require('order_lines', ARRAY['returned']::name[]);
    RETURN QUERY EXECUTE format($q$
    WITH o AS (
        SELECT o.order_id, o.customer_id, o.store_id, o.channel, o.item_count,
               o.total_amount::float8 AS amount, o.discount_amount::float8 AS discount,
               extract(epoch FROM $1 - o.ordered_at)::float8 / 86400 AS age
        FROM %1$s o WHERE o.ordered_at < $1),
    g AS (
        SELECT customer_id, age - lead(age) OVER (PARTITION BY customer_id ORDER BY age DESC) AS gap
        FROM o),
    gs AS (
        SELECT customer_id, avg(gap) AS mean_gap, coalesce(stddev_pop(gap), 0) AS sd_gap
        FROM g WHERE gap IS NOT NULL GROUP BY customer_id),
    oa AS (
        SELECT customer_id, min(age) AS last_age, max(age) AS first_age,
               count(*) FILTER (WHERE age < 30) AS n30,
               count(*) FILTER (WHERE age < 90) AS n90,
               count(*) FILTER (WHERE age >= 90 AND age < 180) AS n90_180,
               count(*) FILTER (WHERE age < 365) AS n365,
               coalesce(sum(amount) FILTER (WHERE age < 30), 0) AS s30,
               coalesce(sum(amount) FILTER (WHERE age < 90), 0) AS s90,
               coalesce(sum(amount) FILTER (WHERE age >= 90 AND age < 180), 0) AS s90_180,
               coalesce(sum(amount) FILTER (WHERE age < 365), 0) AS s365,
               avg(item_count) AS avg_items, avg(amount) AS avg_value,
               sum(discount) / nullif(sum(amount) + sum(discount), 0) AS discount_share,
               avg((channel = 'online')::int) AS online_share,
               count(DISTINCT store_id) AS stores
        FROM o GROUP BY customer_id),
    l AS (
        SELECT o.customer_id, count(DISTINCT p.category) AS categories,
               avg((ol.promo_id IS NOT NULL)::int) AS promo_share,
               avg(ol.returned::int) AS return_rate
        FROM o JOIN %2$s ol USING (order_id)
               JOIN %3$s p ON p.product_id = ol.product_id
        WHERE o.age < 365 GROUP BY o.customer_id),
    e AS (
        SELECT e.customer_id,
               count(*) FILTER (WHERE a < 30) AS ev30,
               count(*) FILTER (WHERE a >= 30 AND a < 90) AS ev30_90,
               count(*) FILTER (WHERE a < 30 AND e.event_type = 'view') AS views30,
               count(*) FILTER (WHERE a < 30 AND e.event_type = 'cart_add') AS carts30,
               count(*) FILTER (WHERE a < 90 AND e.event_type = 'cart_add') AS carts90,
               coalesce(sum(e.duration_s) FILTER (WHERE a < 30 AND e.event_type = 'dwell'), 0) / 60.0 AS dwell30,
               min(a) AS last_event_age
        FROM (SELECT ev.*, extract(epoch FROM $1 - ev.occurred_at)::float8 / 86400 AS a
              FROM %4$s ev WHERE ev.occurred_at < $1 AND ev.occurred_at >= $1 - interval '365 days') e
        GROUP BY e.customer_id)
    SELECT oa.customer_id::int, ARRAY[
        oa.last_age, oa.first_age,
        ln(1 + oa.n30), ln(1 + oa.n90), ln(1 + oa.n365),
        ln(1 + oa.s30), ln(1 + oa.s90), ln(1 + oa.s365),
        ln(1 + oa.n90) - ln(1 + oa.n90_180), ln(1 + oa.s90) - ln(1 + oa.s90_180),
        coalesce(gs.mean_gap, oa.first_age), coalesce(gs.sd_gap, 0),
        oa.last_age / greatest(coalesce(gs.mean_gap, oa.first_age), 1),
        oa.avg_items, ln(1 + greatest(oa.avg_value, 0)),
        coalesce(l.categories, 0), coalesce(oa.discount_share, 0),
        coalesce(l.promo_share, 0), coalesce(l.return_rate, 0), oa.online_share, oa.stores,
        ln(1 + coalesce(e.ev30, 0)), ln(1 + coalesce(e.views30, 0)), ln(1 + coalesce(e.carts30, 0)),
        ln(1 + coalesce(e.dwell30, 0)), least(coalesce(e.last_event_age, 365), 365),
        ln(1 + coalesce(e.ev30, 0)) - ln(1 + coalesce(e.ev30_90, 0) / 2.0),
        oa.n90 / (1.0 + coalesce(e.carts90, 0))
      ]::float8[]
    FROM oa LEFT JOIN gs USING (customer_id) LEFT JOIN l USING (customer_id)
            LEFT JOIN e USING (customer_id)
    $q$, retailiq_internal.source_sql('orders'), retailiq_internal.source_sql('order_lines'), retailiq_internal.source_sql('products'),
       retailiq_internal.source_sql('events')) USING as_of;
END
$fn$;
COMMENT ON FUNCTION retailiq.churn_features(timestamptz) IS
    'behavioural churn features per customer as of a date (names: retailiq.churn_feature_names())';

-- churned = no order in [as_of, as_of + horizon_days) for every customer with an order before as_of.
-- Reads the registered orders (retailiq.source).
CREATE FUNCTION retailiq.churn_labels(as_of timestamptz, horizon_days int DEFAULT 90)
RETURNS TABLE (customer_id int, churned bool)
LANGUAGE plpgsql STABLE STRICT PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF horizon_days < 1 THEN
        RAISE EXCEPTION 'horizon_days must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('horizon_days is %s.', horizon_days),
                  HINT = 'Churn is usually "no purchase in the next 90 days".';
    END IF;
    RETURN QUERY EXECUTE format($q$
        SELECT o.customer_id::int,
               NOT bool_or(o.ordered_at >= $1 AND o.ordered_at < $1 + make_interval(days => $2))
        FROM %1$s o WHERE o.ordered_at < $1 + make_interval(days => $2)
        GROUP BY o.customer_id HAVING bool_or(o.ordered_at < $1)
    $q$, retailiq_internal.source_sql('orders')) USING as_of, horizon_days;
END
$fn$;
COMMENT ON FUNCTION retailiq.churn_labels(timestamptz, int) IS
    'churned = no purchase in the horizon_days after as_of, for customers who bought before as_of';

-- Logistic regression in one-pass steps with partial-sum states that are plain arrays /
-- bytea, not internal: a distributed engine (Citus) can run each step on its workers and add
-- the partial sums. logit_start gives the intercept-only model with the standardisation;
-- each logit_step is one Newton step over all rows.
CREATE FUNCTION retailiq_internal.logit_start_accum(float8[], float8[], bool) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_start_accum(float8[], float8[], bool, float8) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_start_combine(float8[], float8[]) RETURNS float8[]
    AS 'MODULE_PATHNAME', 'logit_start_combine' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_start_final(float8[]) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_start_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_start(features float8[], label bool) (
    SFUNC = retailiq_internal.logit_start_accum, STYPE = float8[], FINALFUNC = retailiq_internal.logit_start_final,
    COMBINEFUNC = retailiq_internal.logit_start_combine, PARALLEL = SAFE);
CREATE AGGREGATE retailiq.logit_start(features float8[], label bool, l2 float8) (
    SFUNC = retailiq_internal.logit_start_accum, STYPE = float8[], FINALFUNC = retailiq_internal.logit_start_final,
    COMBINEFUNC = retailiq_internal.logit_start_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.logit_start(float8[], bool, float8) IS
    'the intercept-only logistic model with feature means and scales: the start of logit_step';

CREATE FUNCTION retailiq_internal.logit_step_accum(bytea, float8[], bool, retailiq.model) RETURNS bytea
    AS 'MODULE_PATHNAME', 'logit_step_sfunc' LANGUAGE C PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_step_combine(bytea, bytea) RETURNS bytea
    AS 'MODULE_PATHNAME', 'logit_step_combine' LANGUAGE C STRICT PARALLEL SAFE;
CREATE FUNCTION retailiq_internal.logit_step_final(bytea) RETURNS retailiq.model
    AS 'MODULE_PATHNAME', 'logit_step_final' LANGUAGE C PARALLEL SAFE;
CREATE AGGREGATE retailiq.logit_step(features float8[], label bool, model retailiq.model) (
    SFUNC = retailiq_internal.logit_step_accum, STYPE = bytea, FINALFUNC = retailiq_internal.logit_step_final,
    COMBINEFUNC = retailiq_internal.logit_step_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE retailiq.logit_step(float8[], bool, retailiq.model) IS
    'one Newton step of logistic regression from model, by summing gradients and Hessians over the rows';

CREATE FUNCTION retailiq.logit_set_feature_names(model retailiq.model, feature_names text[])
    RETURNS retailiq.model AS 'MODULE_PATHNAME', 'logit_set_feature_names'
    LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- logit_start, then logit_step until the step is below 1e-8 (at most max_iter steps), over a
-- table or view; each step is one aggregate query over it.
CREATE FUNCTION retailiq.logit_fit_iterative(source regclass, features_column name, label_column name,
                                             l2 float8 DEFAULT 1.0, max_iter int DEFAULT 25,
                                             feature_names text[] DEFAULT NULL)
RETURNS retailiq.model LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m retailiq.model;
    q text;
BEGIN
    IF source IS NULL OR features_column IS NULL OR label_column IS NULL OR l2 IS NULL OR max_iter IS NULL THEN
        RAISE EXCEPTION 'logit_fit_iterative arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF max_iter NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_iter must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('max_iter is %s.', max_iter);
    END IF;
    EXECUTE format('SELECT retailiq.logit_start(%I, %I, $1) FROM %s', features_column, label_column, source)
        INTO m USING l2;
    q := format('SELECT retailiq.logit_step(%I, %I, $1) FROM %s', features_column, label_column, source);
    FOR i IN 1..max_iter LOOP
        EXECUTE q INTO m USING m;
        EXIT WHEN (m::text::jsonb #>> '{metrics,converged}')::bool;
    END LOOP;
    IF NOT (m::text::jsonb #>> '{metrics,converged}')::bool THEN
        RAISE WARNING 'logit_fit_iterative did not converge in % steps', max_iter
            USING HINT = 'Use l2 > 0 or more steps; the model is flagged converged = false.';
    END IF;
    IF feature_names IS NOT NULL THEN
        m := retailiq.logit_set_feature_names(m, feature_names);
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION retailiq.logit_fit_iterative(regclass, name, name, float8, int, text[]) IS
    'logistic regression by logit_start + logit_step passes over a table (partial sums, Citus-friendly)';

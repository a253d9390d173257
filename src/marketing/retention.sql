
-- marketing: retention offers for a campaign budget. Each customer's churn probability and
-- value (from the churn part's models), the offers the retention strategy suggests for their
-- risk tier and reason, and what each offer costs and saves: expected value saved =
-- churn probability x CLV x the offer's effect, ranked, within the budget (doc/marketing.md).

-- What an offer (a retention_strategy action) costs per customer and what share of the
-- churn risk it removes. The defaults are planning assumptions: replace them with what
-- your own campaigns measured (a holdout group per offer).
CREATE TABLE retailiq.retention_offer (
    action      text PRIMARY KEY,
    cost        float8 NOT NULL CHECK (cost >= 0 AND cost < 'Infinity'),
    effect      float8 NOT NULL CHECK (effect >= 0 AND effect <= 1),
    is_default  bool NOT NULL DEFAULT false
);
COMMENT ON TABLE retailiq.retention_offer IS
    'retention action -> cost per customer and share of churn risk it removes (edit to measured values)';
SELECT pg_catalog.pg_extension_config_dump('retailiq.retention_offer', 'WHERE NOT is_default');
-- Who reads the retention tables: every role that may call retention_offers or the churn
-- part's retention_action (both PUBLIC, running with the caller's rights, so the caller needs
-- SELECT on what they read). The tables hold configuration (tier x reason -> action, action ->
-- cost and effect, feature -> reason), no customer data; writing them stays with their owner.
GRANT SELECT ON retailiq.retention_offer, retailiq.retention_strategy, retailiq.churn_reason TO PUBLIC;

INSERT INTO retailiq.retention_offer (action, cost, effect, is_default) VALUES
    ('win-back offer: personal coupon by e-mail this week', 5, 0.15, true),
    ('loyalty bonus on the next purchase and a call from the store manager', 12, 0.25, true),
    ('coupon of 15% on the categories they buy', 8, 0.20, true),
    ('service call about the recent returns', 6, 0.20, true),
    ('re-engagement campaign with personalised recommendations', 2, 0.08, true),
    ('reminder of the abandoned cart with free delivery', 4, 0.12, true),
    ('bundle offer on complementary products', 5, 0.10, true),
    ('replenishment reminder timed to their purchase cycle', 1, 0.08, true),
    ('invite to the preferred channel (app or nearby store event)', 3, 0.08, true),
    ('welcome series with a second-purchase incentive', 4, 0.15, true),
    ('personal win-back offer', 6, 0.15, true),
    ('we-miss-you e-mail with a small incentive', 2, 0.08, true),
    ('loyalty points boost', 3, 0.08, true),
    ('early access to the next promotion', 1, 0.05, true),
    ('satisfaction survey about the returned items', 1, 0.05, true),
    ('newsletter with new arrivals in their categories', 0.2, 0.02, true),
    ('abandoned cart reminder', 0.2, 0.04, true),
    ('regular loyalty communication, watch next month', 0.1, 0.01, true),
    ('no action', 0, 0, true);

CREATE FUNCTION retailiq.retention_offers(budget float8, customers bigint[], probabilities float8[],
                                          lifetime_values float8[], reasons text[] DEFAULT NULL,
                                          thresholds float8[] DEFAULT '{0.6,0.3}')
RETURNS TABLE (rank int, customer_id bigint, tier text, reason text, offer text,
               churn_probability float8, clv float8, effect float8, cost float8,
               expected_value_saved float8, net_value float8, cumulative_cost float8,
               selected bool, why text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := cardinality(customers);
BEGIN
    IF budget IS NULL OR customers IS NULL OR probabilities IS NULL OR lifetime_values IS NULL THEN
        RAISE EXCEPTION 'retention_offers: budget, customers, probabilities and lifetime_values must not be NULL'
            USING ERRCODE = '22004', HINT = 'Build the arrays with array_agg over one row per customer.';
    END IF;
    IF NOT (budget >= 0) OR budget = 'Infinity' THEN
        RAISE EXCEPTION 'budget must be a finite number at least 0' USING ERRCODE = '22023',
            DETAIL = format('It is %s.', budget), HINT = 'The campaign''s spend on offers, in the currency of clv.';
    END IF;
    IF cardinality(probabilities) <> n OR cardinality(lifetime_values) <> n
       OR (reasons IS NOT NULL AND cardinality(reasons) <> n) THEN
        RAISE EXCEPTION 'customers, probabilities, lifetime_values and reasons must have the same length'
            USING ERRCODE = '2202E',
            DETAIL = format('Lengths %s, %s, %s, %s.', n, cardinality(probabilities), cardinality(lifetime_values),
                            coalesce(cardinality(reasons)::text, 'NULL')),
            HINT = 'Aggregate them in one query: array_agg(x ORDER BY customer_id) for each.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(probabilities) p WHERE p IS NULL OR NOT (p >= 0 AND p <= 1)) THEN
        RAISE EXCEPTION 'probabilities must hold churn probabilities from 0 to 1, without NULLs' USING ERRCODE = '22023',
            HINT = 'Use retailiq.churn_probability of a BG/NBD or logistic model.';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(lifetime_values) v WHERE v IS NULL OR v = 'NaN' OR v IN ('Infinity', '-Infinity'))
       OR EXISTS (SELECT 1 FROM unnest(customers) c WHERE c IS NULL) THEN
        RAISE EXCEPTION 'lifetime_values must hold finite numbers and customers no NULLs' USING ERRCODE = '22023',
            HINT = 'Use retailiq.clv; leave out customers without a value.';
    END IF;

    RETURN QUERY
    WITH c AS (
        SELECT u.cid, u.p, u.v, coalesce(u.why, 'general') AS reason,
               retailiq.churn_risk(u.p, thresholds) AS tier
        FROM unnest(customers, probabilities, lifetime_values, coalesce(reasons, array_fill(NULL::text, ARRAY[n])))
             AS u(cid, p, v, why)),
         o AS (   -- every offer the strategy allows for the customer's tier and reason: the best net value
        SELECT DISTINCT ON (c.cid) c.*, s.action, f.effect, f.cost,
               c.p * greatest(c.v, 0) * f.effect AS saved,
               c.p * greatest(c.v, 0) * f.effect - f.cost AS net
        FROM c JOIN retailiq.retention_strategy s ON s.tier = c.tier AND s.reason IN (c.reason, 'general')
               JOIN retailiq.retention_offer f ON f.action = s.action
        WHERE f.cost > 0
        ORDER BY c.cid, c.p * greatest(c.v, 0) * f.effect - f.cost DESC, s.reason = 'general', s.action),
         ranked AS (
        SELECT o.*, row_number() OVER (ORDER BY o.saved / o.cost DESC, o.net DESC, o.cid) AS rk
        FROM o WHERE o.net > 0),
         run AS (
        SELECT r.*, sum(r.cost) OVER (ORDER BY r.rk) AS cum FROM ranked r)
    SELECT r.rk::int, r.cid, r.tier, r.reason, r.action, r.p, r.v, r.effect, r.cost, r.saved, r.net,
           r.cum, r.cum <= budget,
           format('churn probability %s (%s risk), CLV %s, reason %s: "%s" removes %s%% of the risk, saving %s for %s (%s per unit spent)%s',
                  round(r.p::numeric, 2), r.tier, round(r.v::numeric, 2), r.reason, r.action,
                  round((100 * r.effect)::numeric), round(r.saved::numeric, 2), round(r.cost::numeric, 2),
                  round((r.saved / r.cost)::numeric, 2),
                  CASE WHEN r.cum > budget THEN '; over the budget' ELSE '' END)
    FROM run r ORDER BY r.rk;
END
$$;
COMMENT ON FUNCTION retailiq.retention_offers(float8, bigint[], float8[], float8[], text[], float8[]) IS
    'which customers get which retention offer within a budget: churn probability x CLV x effect, ranked by value per cost, with the reason';

-- Churn risk: BG/NBD, Gamma-Gamma value, a logistic model over behavioural features, tiers, reasons and actions
\set QUIET on
SELECT (max(ordered_at) AT TIME ZONE 'UTC')::date + 1 AS data_end,
       (max(ordered_at) AT TIME ZONE 'UTC')::date + 1 - 90 AS train_cutoff
FROM retail.orders \gset
\echo 'BG/NBD and Gamma-Gamma fitted on every customer''s order history, in weeks, as of' :data_end
CREATE TEMP TABLE demo_rfm AS
SELECT customer_id, (retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                               :'data_end'::date - 1, '7 days')).*
FROM retail.orders GROUP BY customer_id;
CREATE TEMP TABLE demo_models AS
SELECT (SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM demo_rfm) AS bgnbd,
       (SELECT retailiq.gammagamma_fit(frequency, monetary) FROM demo_rfm) AS gg;
SELECT round((j->'data'->>'r')::numeric, 3) AS r, round((j->'data'->>'alpha')::numeric, 3) AS alpha,
       round((j->'data'->>'a')::numeric, 3) AS a, round((j->'data'->>'b')::numeric, 3) AS b,
       j->'metrics'->'n_customers' AS customers, j->'metrics'->'converged' AS converged
FROM (SELECT bgnbd::text::jsonb AS j FROM demo_models) s;

\echo 'Logistic churn model: 28 features as of' :train_cutoff 'labelled churned when no purchase follows within 90 days'
CREATE TEMP TABLE demo_train AS
SELECT f.customer_id, f.features, l.churned
FROM retailiq.churn_features(:'train_cutoff') f JOIN retailiq.churn_labels(:'train_cutoff', 90) l USING (customer_id);
CREATE TEMP TABLE demo_logit AS
SELECT retailiq.logit_fit(features, churned, 1.0, retailiq.churn_feature_names()) AS m FROM demo_train;
SELECT j->'metrics'->'n_rows' AS customers, j->'metrics'->'n_positive' AS churned,
       j->'metrics'->'iterations' AS newton_iterations, j->'metrics'->'converged' AS converged
FROM (SELECT m::text::jsonb AS j FROM demo_logit) s;

\echo 'Every customer scored as of' :data_end 'into risk tiers, with the planted churners each tier caught'
CREATE TEMP TABLE demo_scores AS
SELECT f.customer_id, (retailiq.retention_action(l.m, f.features)).*,
       retailiq.churn_probability(m.bgnbd, r.frequency, r.recency, r.t) AS p_bgnbd,
       retailiq.clv(m.bgnbd, m.gg, r.frequency, r.recency, r.t, r.monetary, 12, 0.01, 4.345) AS clv_12m
FROM retailiq.churn_features(:'data_end') f JOIN demo_rfm r USING (customer_id), demo_logit l, demo_models m;
SELECT s.tier, count(*) AS customers, count(*) FILTER (WHERE p.churn_date IS NOT NULL) AS planted_churners,
       round(avg(s.probability)::numeric, 3) AS mean_probability, round(sum(s.clv_12m)::numeric) AS clv_12m_at_stake
FROM demo_scores s JOIN retail.planted_customers p USING (customer_id)
GROUP BY s.tier ORDER BY min(s.probability) DESC;

\echo 'The most valuable high-risk customers, why, and what to do'
SELECT customer_id, round(probability::numeric, 3) AS p_churn, round(p_bgnbd::numeric, 3) AS p_bgnbd,
       round(clv_12m::numeric, 2) AS clv_12m, reason, action
FROM demo_scores WHERE tier = 'high' ORDER BY clv_12m DESC, customer_id LIMIT 5;

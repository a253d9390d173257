-- The supervised churn model on generated sample data (2,000 customers, 400 days): trained
-- on features as of 2024-08-01 with 90-day labels, tested as of 2024-10-30. It must separate
-- churners well out of time and rank the planted churners (planted_customers.churn_date) high.
BEGIN;
SELECT plan(8);
SET LOCAL client_min_messages = warning;
SELECT lives_ok($$SELECT retailiq.generate_sample_data('churn_t', 2000, 5, 100, 400, 7)$$, 'sample data');
SELECT retailiq.register_event_source('churn_t');
CREATE TEMP TABLE tr AS
SELECT f.customer_id, f.features, l.churned
FROM retailiq.churn_features('2024-08-01') f
     JOIN retailiq.churn_labels('2024-08-01', 90) l USING (customer_id);
CREATE TEMP TABLE te AS
SELECT f.customer_id, f.features, l.churned,
       p.churn_date IS NOT NULL AND p.churn_date < date '2024-10-30' + 90 AS planted
FROM retailiq.churn_features('2024-10-30') f
     JOIN retailiq.churn_labels('2024-10-30', 90) l USING (customer_id)
     JOIN churn_t.planted_customers p USING (customer_id);
CREATE TEMP TABLE mm AS
SELECT retailiq.logit_fit(features, churned, 1.0, retailiq.churn_feature_names()) AS m FROM tr;
CREATE TEMP TABLE sc AS SELECT te.*, retailiq.churn_probability(m, features) AS p FROM te, mm;
-- AUC as the Mann-Whitney statistic
CREATE TEMP TABLE auc AS
WITH r AS (SELECT churned, planted, rank() OVER (ORDER BY p) AS rk FROM sc)
SELECT (sum(rk) FILTER (WHERE churned) - count(*) FILTER (WHERE churned) * (count(*) FILTER (WHERE churned) + 1) / 2.0)
       / (count(*) FILTER (WHERE churned) * count(*) FILTER (WHERE NOT churned)) AS auc,
       (sum(rk) FILTER (WHERE planted) - count(*) FILTER (WHERE planted) * (count(*) FILTER (WHERE planted) + 1) / 2.0)
       / (count(*) FILTER (WHERE planted) * count(*) FILTER (WHERE NOT planted)) AS planted_auc
FROM r;

SELECT ok((SELECT count(*) FROM tr) > 1000 AND (SELECT count(*) FROM te) > 1000, 'train and test have over 1000 customers');
SELECT ok((SELECT (m::text::jsonb->'metrics'->>'converged')::bool FROM mm), 'logit_fit converged');
SELECT ok(auc > 0.85, format('out-of-time AUC %s > 0.85', round(auc, 4))) FROM auc;
SELECT ok(planted_auc > 0.75, format('planted churners rank high: AUC %s > 0.75', round(planted_auc, 4))) FROM auc;
SELECT ok(abs(avg(p) - avg(churned::int)) < 0.05,
          format('calibrated on average: predicted %s, observed %s', round(avg(p)::numeric, 3), round(avg(churned::int), 3)))
FROM sc;
SELECT ok((SELECT count(*) FROM sc, mm WHERE (retailiq.retention_action(m, features)).action IS NULL) = 0,
          'every customer gets an action');
SELECT ok((SELECT avg(planted::int) FROM sc WHERE retailiq.churn_risk(p) = 'high')
          > 2 * (SELECT avg(planted::int) FROM sc),
          'the high tier holds planted churners at over twice their base rate');
SELECT * FROM finish();
ROLLBACK;

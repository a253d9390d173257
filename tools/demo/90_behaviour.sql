-- Behaviour and reports: customer tags from events, the customer profile, funnel, hot zones, reports and the HTML page
\set QUIET on
SELECT retailiq.register_event_source('retail') \g /dev/null
SELECT date_trunc('day', max(occurred_at)) + interval '1 day' AS data_end,
       (date_trunc('day', max(occurred_at)) + interval '1 day')::date - 28 AS report_from,
       (date_trunc('day', max(occurred_at)))::date AS report_to
  FROM retail.events \gset

\echo 'Tag rules (validated jsonb conditions) evaluated over every customer as of' :data_end
SELECT tag, condition FROM retailiq.tag_rule ORDER BY tag;
\timing on
SELECT * FROM retailiq.refresh_tags('-infinity', :'data_end');
\timing off
SELECT t.tag, count(*) AS customers,
       round(avg((p.customer_type = 'bargain hunter')::int), 2) AS share_bargain_hunters
  FROM retailiq.customer_tag t JOIN retail.planted_customers p USING (customer_id)
 GROUP BY 1 ORDER BY 1;

\echo 'Incremental: the same rules stepped through the last day in 10-minute refreshes'
CREATE TEMP TABLE demo_steps AS
SELECT s - interval '10 minutes' AS since, s AS as_of
  FROM generate_series(:'data_end'::timestamptz - interval '1 day' + interval '10 minutes', :'data_end'::timestamptz, interval '10 minutes') s;
DELETE FROM retailiq.customer_tag;
UPDATE retailiq.tag_rule SET pending = true;
SELECT customers_evaluated IS NULL AS full_run FROM retailiq.refresh_tags('-infinity', :'data_end'::timestamptz - interval '1 day');
\timing on
SELECT count(*) AS refreshes, sum(r.customers_evaluated) AS customers_evaluated, sum(r.tags_added) AS added,
       sum(r.tags_removed) AS removed
  FROM demo_steps, LATERAL retailiq.refresh_tags(demo_steps.since, demo_steps.as_of) r;
\timing off

\echo 'Customer profile: RFM segment, k-means cluster, BG/NBD churn and Gamma-Gamma CLV, tags'
SELECT retailiq.save_model('bgnbd', retailiq.bgnbd_fit(frequency, recency, t)) AS bgnbd_version,
       retailiq.save_model('gammagamma', retailiq.gammagamma_fit(frequency, monetary)) AS gammagamma_version
  FROM (SELECT (retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                           (:'data_end'::timestamptz AT TIME ZONE 'UTC')::date, '7 days')).*
          FROM retail.orders GROUP BY customer_id) s;
SELECT retailiq.save_model('customer_kmeans',
         retailiq.kmeans_segment(ARRAY[recency_days, frequency, monetary]::float8[], 4)) AS kmeans_version
  FROM retailiq.rfm_segments('retail.orders', :'data_end');
\timing on
SELECT retailiq.refresh_customer_profile(:'data_end') AS customers_profiled;
\timing off
SELECT customer_id, segment, rfm_code, cluster, round(churn_probability::numeric, 3) AS churn_p, churn_tier,
       round(clv::numeric, 0) AS clv_12m, tags
  FROM retailiq.customer_profile WHERE cardinality(tags) > 0 ORDER BY customer_id LIMIT 8;
SELECT churn_tier, count(*) AS customers,
       round(avg((p.churn_date IS NOT NULL AND p.churn_date < :'data_end'::date)::int), 2) AS planted_churned
  FROM retailiq.customer_profile c JOIN retail.planted_customers p USING (customer_id)
 GROUP BY 1 ORDER BY 1;

\echo 'Online funnel by segment over the last 28 days'
SELECT segment, sum(viewed) AS viewed, sum(carted) AS carted, sum(purchased) AS purchased,
       round(sum(purchased)::numeric / nullif(sum(viewed), 0), 3) AS conversion
  FROM retailiq.conversion_funnel(:'report_from', :'data_end') GROUP BY 1 ORDER BY 2 DESC LIMIT 6;
\echo 'In-store dwell hot spots (top 2 zone-hours per store, first 3 stores)'
SELECT * FROM retailiq.dwell_hot_spots(:'report_from', :'data_end', 2) WHERE store_id <= 3;
\echo 'Attach rates of the strongest associations vs the planted rules'
SELECT a.antecedent, a.consequent, round(a.attach_rate::numeric, 3) AS attach_rate, round(a.lift::numeric, 1) AS lift,
       p.probability AS planted_probability
  FROM retailiq.basket_attach_rates(:'report_from', :'data_end', top => 5) a
  LEFT JOIN retail.planted_rules p ON ARRAY[p.antecedent_product_id::bigint] = a.antecedent
                                  AND ARRAY[p.consequent_product_id::bigint] = a.consequent;

\echo 'Weekly sales report (forecast columns fill in once retailiq.forecast_result has rows)'
\timing on
SELECT period_start, orders, customers, units, sales, avg_basket, forecast_units, round(achievement::numeric, 3) AS achievement
  FROM retailiq.report_sales('weekly', :'report_from', :'report_to');
SELECT retailiq.materialize_report('monthly', :'report_to') AS monthly_rows_materialized;
\timing off
\pset format unaligned
\pset tuples_only on
\o /tmp/retailiq_demo_report.html
SELECT retailiq.report_html(:'report_from', :'report_to');
\o
\pset format aligned
\pset tuples_only off
\echo 'HTML report written to /tmp/retailiq_demo_report.html'

-- Customer profile, funnel, zones and attach rates on generated sample data (400 customers,
-- 5 stores, 40 products, 200 days), checked against the planted truth (planted_customers,
-- planted_rules) and against independent queries over the raw rows.
BEGIN;
SELECT plan(12);
SET LOCAL client_min_messages = warning;
SELECT lives_ok($$SELECT retailiq.generate_sample_data('beh_p', 400, 5, 40, 200, 5)$$, 'sample data');
SELECT retailiq.register_event_source('beh_p');
CREATE TEMP TABLE asof AS SELECT date_trunc('day', max(ordered_at)) + interval '1 day' AS t FROM beh_p.orders;
CREATE TEMP TABLE ps AS
SELECT customer_id, (retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                               ((SELECT t FROM asof) AT TIME ZONE 'UTC')::date, '7 days')).*
  FROM beh_p.orders GROUP BY customer_id;
SELECT retailiq.save_model('bgnbd', (SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM ps));
SELECT retailiq.save_model('gammagamma', (SELECT retailiq.gammagamma_fit(frequency, monetary) FROM ps));
SELECT retailiq.save_model('customer_kmeans',
         (SELECT retailiq.kmeans_segment(ARRAY[recency_days, frequency, monetary]::float8[], 4)
            FROM retailiq.rfm_segments('beh_p.orders', (SELECT t FROM asof))));

SELECT is(retailiq.refresh_customer_profile((SELECT t FROM asof)),
          (SELECT count(DISTINCT customer_id) FROM beh_p.orders)::bigint,
          'one profile per customer with an order');
SELECT is((SELECT count(*) FROM retailiq.customer_profile), (SELECT count(DISTINCT customer_id) FROM retailiq.customer_profile),
          'customer_profile has one row per customer');
SELECT set_eq($$SELECT customer_id, segment, rfm_code FROM retailiq.customer_profile_data$$,
              $$SELECT customer_id, segment, rfm_code FROM retailiq.rfm_segments('beh_p.orders', (SELECT t FROM asof))$$,
              'segments are rfm_segments''s');
SELECT ok((SELECT bool_and(cluster BETWEEN 1 AND 4) FROM retailiq.customer_profile_data), 'every customer has a k-means cluster');
SELECT ok((SELECT count(*) FROM retailiq.customer_profile_data WHERE frequency > 1 AND clv IS NULL) = 0
          AND (SELECT bool_and(churn_model = 'bgnbd' AND churn_tier IS NOT NULL) FROM retailiq.customer_profile_data),
          'BG/NBD churn, tier and CLV filled in');
-- the planted churners (churn date before as_of) score far higher than the others
SELECT ok(churned > 3 * stayed,
          format('planted churners: mean churn probability %s against %s for the others', round(churned::numeric, 3), round(stayed::numeric, 3)))
  FROM (SELECT avg(c.churn_probability) FILTER (WHERE p.churn_date < (SELECT t FROM asof)) AS churned,
               avg(c.churn_probability) FILTER (WHERE p.churn_date IS NULL OR p.churn_date >= (SELECT t FROM asof)) AS stayed
          FROM retailiq.customer_profile_data c JOIN beh_p.planted_customers p USING (customer_id)) s;

-- a saved logistic churn model takes precedence over BG/NBD for the probability
SELECT retailiq.save_model('churn',
         (SELECT retailiq.logit_fit(f.features, l.churned, 1.0)
            FROM retailiq.churn_features((SELECT t - interval '90 days' FROM asof)) f
            JOIN retailiq.churn_labels((SELECT t - interval '90 days' FROM asof), 90) l USING (customer_id)));
SELECT retailiq.refresh_customer_profile((SELECT t FROM asof));
SELECT is((SELECT count(*) FROM retailiq.customer_profile_data d
            WHERE churn_model = 'logit' AND churn_tier IS NOT NULL
              AND churn_probability = (SELECT retailiq.churn_probability(retailiq.load_model('churn'), cf.features)
                                         FROM retailiq.churn_features((SELECT t FROM asof)) cf
                                        WHERE cf.customer_id = d.customer_id)),
          (SELECT count(*) FROM retailiq.churn_features((SELECT t FROM asof)) cf
             JOIN retailiq.customer_profile_data d USING (customer_id)),
          'a saved logistic churn model scores every profiled customer it has features for');

-- the funnel's units are the raw (customer, product, day) views; zone traffic counts every dwell
SELECT is((SELECT sum(viewed) FROM retailiq.conversion_funnel((SELECT t - interval '28 days' FROM asof), (SELECT t FROM asof))),
          (SELECT count(*) FROM (SELECT DISTINCT customer_id, product_id, (occurred_at AT TIME ZONE 'UTC')::date
                                   FROM beh_p.events, asof
                                  WHERE event_type = 'view' AND occurred_at >= t - interval '28 days' AND occurred_at < t) v)::numeric,
          'funnel: viewed = distinct customer-product-days with a view');
SELECT is((SELECT sum(purchased) FROM retailiq.conversion_funnel((SELECT t - interval '28 days' FROM asof), (SELECT t FROM asof))),
          (SELECT count(*) FROM (SELECT DISTINCT e.customer_id, e.product_id, (e.occurred_at AT TIME ZONE 'UTC')::date
                                   FROM beh_p.events e, asof
                                  WHERE e.event_type = 'view' AND e.occurred_at >= t - interval '28 days' AND e.occurred_at < t
                                    AND EXISTS (SELECT 1 FROM beh_p.orders o JOIN beh_p.order_lines l USING (order_id)
                                                 WHERE o.customer_id = e.customer_id AND l.product_id = e.product_id
                                                   AND (o.ordered_at AT TIME ZONE 'UTC')::date = (e.occurred_at AT TIME ZONE 'UTC')::date
                                                   AND o.ordered_at >= t - interval '28 days' AND o.ordered_at < t)) v)::numeric,
          'funnel: purchased = viewed customer-product-days with an order of the product that day');
SELECT is((SELECT sum(visits) FROM retailiq.zone_traffic((SELECT t - interval '28 days' FROM asof), (SELECT t FROM asof))),
          (SELECT count(*) FROM beh_p.events, asof WHERE event_type = 'dwell' AND occurred_at >= t - interval '28 days' AND occurred_at < t)::numeric,
          'zone traffic counts every dwell event');
-- the planted bought-together rules: their attach rate is at least the planted probability
-- (less sampling noise), the consequent also being bought on its own
SELECT ok(count(*) >= 1 AND bool_and(a.attach_rate > p.probability - 0.1),
          format('planted rules found: %s; attach rates %s for planted probabilities %s', count(*),
                 string_agg(round(a.attach_rate::numeric, 3)::text, ', '), string_agg(p.probability::text, ', ')))
  FROM retailiq.basket_attach_rates((SELECT t - interval '200 days' FROM asof), (SELECT t FROM asof), top => 50,
                                    min_support => 0.001, min_confidence => 0.05) a
  JOIN beh_p.planted_rules p ON a.antecedent = ARRAY[p.antecedent_product_id::bigint]
                            AND a.consequent = ARRAY[p.consequent_product_id::bigint];
ROLLBACK;

-- marketing: the recommender on the sample schema. The parallel plan (partial states serialised,
-- combined) gives the same model as the serial one; a masked role trains and reads
-- recommendations over pseudonyms only, and gets what an unmasked fit on the same pseudonyms
-- gets. Everything runs in one transaction that is rolled back.
BEGIN;
SELECT plan(9);
SET LOCAL jit = off;
SET LOCAL client_min_messages = error;

DO $$ BEGIN PERFORM retailiq.generate_sample_data('reco', 300, 5, 40, 120, 7); END $$;
CREATE TEMP TABLE reco_lines AS
SELECT o.customer_id::bigint AS customer, l.product_id::bigint AS product, l.quantity::float8 AS quantity, o.ordered_at AS at
  FROM reco.orders o JOIN reco.order_lines l USING (order_id);

-- serial, then parallel with every partial state serialised and combined
CREATE TEMP TABLE reco_serial AS
SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 3}') AS m FROM reco_lines;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL force_parallel_mode = on;
ALTER TABLE reco_lines SET (parallel_workers = 2);
SELECT ok((SELECT count(*) > 0 FROM retailiq.recommend_for_customers((SELECT m FROM reco_serial), 5)),
          'the serial fit recommends');
CREATE TABLE public.reco_parallel AS
SELECT retailiq.recommender_fit(customer, product, quantity, at, '{"seed": 3}') AS m FROM reco_lines;
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;
SELECT is((SELECT m::text::jsonb - 'trained_at' FROM public.reco_parallel),
          (SELECT m::text::jsonb - 'trained_at' FROM reco_serial),
          'a parallel fit gives the same model as a serial one');
SELECT ok((SELECT (retailiq.model_info(m)->'metrics'->>'validation_customers')::int > 10 FROM reco_serial),
          'the fit validated its settings on held-back purchase days');
SELECT ok((SELECT (i->'metrics'->>'validation_repeat_ndcg10')::float8 >= (i->'metrics'->>'baseline_own_top_ndcg10')::float8
             FROM (SELECT retailiq.model_info(m) AS i FROM reco_serial) s),
          'on its own validation, the chosen blend is at least as good as the customer''s most-bought products');

-- the documented masking set-up (doc/privacy.md)
CREATE ROLE reco_analyst;
GRANT USAGE ON SCHEMA reco TO reco_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA reco TO reco_analyst;
SECURITY LABEL FOR retailiq ON ROLE reco_analyst IS 'MASKED';
SECURITY LABEL FOR retailiq ON COLUMN reco.customers.customer_id         IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN reco.customers.full_name           IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN reco.customers.phone               IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN reco.customers.email               IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN reco.orders.customer_id            IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN reco.events.customer_id            IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN reco.planted_customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN reco.orders.order_id               IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN reco.order_lines.order_id          IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN reco.events.event_id               IS 'PSEUDONYMIZED';
SELECT ok(retailiq.apply_masking() > 0, 'masking views built');

SET LOCAL ROLE reco_analyst;
SET LOCAL search_path = retailiq_mask, reco, public;
CREATE TEMP TABLE reco_masked AS
SELECT customer, rank, product
  FROM retailiq.recommend_for_customers(
        (SELECT retailiq.recommender_fit(o.customer_id, l.product_id, l.quantity, o.ordered_at, '{"seed": 3}')
           FROM orders o JOIN order_lines l USING (order_id)), 5);
CREATE TEMP TABLE reco_masked_ids AS SELECT DISTINCT customer_id::bigint AS id FROM orders;
SELECT throws_ok('SELECT count(*) FROM reco.orders', '42501', NULL, 'the masked role cannot read the raw orders');
RESET ROLE;
RESET search_path;

CREATE TEMP TABLE reco_truth AS
SELECT customer_id AS raw, retailiq.pseudonym(customer_id::bigint, (SELECT key FROM retailiq.pseudonym_key)) AS ps
  FROM reco.customers;
SELECT set_eq('SELECT DISTINCT customer FROM reco_masked', 'SELECT id FROM reco_masked_ids',
              'the masked role''s recommendations are keyed by the pseudonyms it reads');
SELECT is_empty('SELECT customer FROM reco_masked JOIN reco_truth ON raw = customer',
                'no raw customer id in them');
-- the same fit over the same pseudonyms by an unmasked role gives the same lists
SELECT results_eq(
    'SELECT customer, rank, product FROM reco_masked ORDER BY 1, 2',
    $$SELECT customer, rank, product FROM retailiq.recommend_for_customers(
          (SELECT retailiq.recommender_fit(t.ps, l.product, l.quantity, l.at, '{"seed": 3}')
             FROM reco_lines l JOIN reco_truth t ON t.raw = l.customer), 5) ORDER BY 1, 2$$,
    'the masked role gets the recommendations of the pseudonymised history');

SELECT * FROM finish();
ROLLBACK;

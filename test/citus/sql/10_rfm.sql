-- RFM per customer on orders distributed by customer_id: the per-customer aggregate is pushed
-- down whole (each shard scores its own customers); only the quintile breaks need all
-- customers, and they are computed from one row per customer. Exact: numeric sums.
SELECT citus_test.diff(
  $$SELECT * FROM retailiq.rfm_segments('retail.orders', '2024-05-30')$$,
  $$SELECT * FROM retailiq.rfm_segments('one.orders', '2024-05-30')$$) AS rows_differing,
  (SELECT count(*) FROM retailiq.rfm_segments('retail.orders', '2024-05-30')) AS customers;
-- the per-customer step runs on the workers: one task per shard, the aggregate inside it
SELECT * FROM citus_test.plan(
  $$SELECT customer_id, retailiq.rfm_agg(ordered_at, total_amount, '2024-05-30') FROM retail.orders GROUP BY customer_id$$,
  'Custom Scan|Task Count|Aggregate');
-- the segment counts, for reading
SELECT segment, count(*) FROM retailiq.rfm_segments('retail.orders', '2024-05-30') GROUP BY 1 ORDER BY 2 DESC, 1;

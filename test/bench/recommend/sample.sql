-- The sample (retailiq.generate_sample_data): purchase lines from orders and order lines; every
-- customer with at least two purchase dates has the distinct products of his last purchase
-- date held back, as in protocol P1 of the Online Retail README. psql variable seed: the
-- generator's seed (default 42, the bench's; sample_ceiling.sh develops on others).
\set ON_ERROR_STOP 1
\if :{?seed}
\else
\set seed 42
\endif
SELECT sum(row_count) AS sample_rows FROM retailiq.generate_sample_data('bench_reco', 2000, 10, 300, 365, :seed);
CREATE TABLE smp_lines AS
    SELECT o.customer_id::bigint AS customer, l.product_id::bigint AS product, l.quantity::float8 AS quantity,
           o.ordered_at AS at, (o.ordered_at AT TIME ZONE 'UTC')::date AS day
    FROM bench_reco.orders o JOIN bench_reco.order_lines l USING (order_id)
    WHERE l.quantity > 0;
CREATE TABLE smp_last AS
    SELECT customer, max(day) AS last_day FROM smp_lines GROUP BY customer HAVING count(DISTINCT day) >= 2;
CREATE TABLE smp_test AS
    SELECT DISTINCT l.customer, l.product FROM smp_lines l JOIN smp_last t USING (customer)
    WHERE l.day = t.last_day;
CREATE TABLE smp_train AS
    SELECT l.* FROM smp_lines l LEFT JOIN smp_last t ON t.customer = l.customer AND t.last_day = l.day
    WHERE t.customer IS NULL;
ANALYZE;

-- RFM: recency, frequency and monetary value of each customer, scored in quintiles and
-- named with the 11-segment map. Timestamps in UTC so the output reads the same anywhere.
SET jit = off;   -- llvmjit's dlopen trips a known valgrind false positive in glibc's ld.so
SET timezone = 'UTC';

-- A small shop, checkable by hand. as_of is 2024-07-01 00:00.
CREATE TABLE shop_orders (customer_id int, ordered_at timestamptz, amount numeric);
INSERT INTO shop_orders VALUES
  (1, '2024-06-30 10:00', 120.00), (1, '2024-06-01 09:00', 80.50), (1, '2024-05-02 18:30', 99.99),
  (2, '2024-01-15 12:00', 15.00),
  (3, '2024-06-25 08:00', 300.00), (3, '2024-07-05 08:00', 999.00),   -- after as_of: ignored
  (4, '2023-07-01 00:00', 42.00), (4, '2023-12-31 23:59', NULL),      -- NULL amount: ignored
  (5, '2024-08-01 00:00', 10.00);                                      -- only after as_of
SELECT customer_id, (retailiq.rfm_agg(ordered_at, amount, '2024-07-01')).*
FROM shop_orders GROUP BY customer_id ORDER BY customer_id;
-- recency counts whole days: 13h59m before as_of is 0 days, 24h is 1 day
SELECT (retailiq.rfm_agg(t, 1.0, '2024-07-01')).recency_days
FROM (VALUES ('2024-06-30 10:01'::timestamptz), ('2024-06-30 00:00')) v(t) GROUP BY t ORDER BY 1;
-- float8 amounts give the same composite (monetary as numeric)
SELECT customer_id, (retailiq.rfm_agg(ordered_at, amount::float8, '2024-07-01')).monetary
FROM shop_orders GROUP BY customer_id ORDER BY customer_id;

-- Breaks are percentile_disc(j / bins) of each measure across customers; a score is one
-- plus the number of breaks the value exceeds (recency reversed: recent = high score).
-- Equal values always get equal scores: ties never straddle a break.
CREATE TABLE shop_rfm AS
SELECT customer_id, retailiq.rfm_agg(ordered_at, amount, '2024-07-01') AS rfm
FROM shop_orders GROUP BY customer_id;
SELECT retailiq.rfm_breaks(rfm) FROM shop_rfm;               -- customer 5 (NULL rfm) left out
SELECT retailiq.rfm_breaks(rfm, 2) FROM shop_rfm;
SELECT customer_id, (retailiq.rfm_score(rfm, b)).*
FROM shop_rfm, (SELECT retailiq.rfm_breaks(rfm) AS b FROM shop_rfm) q
ORDER BY customer_id;
-- ties: ten customers, frequency 1,1,1,1,1,1,2,2,3,9; every frequency-1 customer gets F = 1
CREATE TABLE tied AS
SELECT i AS customer_id,
       ROW(i, (ARRAY[1,1,1,1,1,1,2,2,3,9])[i], i * 10.0, NULL, NULL)::retailiq.rfm AS rfm
FROM generate_series(1, 10) i;
SELECT retailiq.rfm_breaks(rfm) FROM tied;
SELECT (rfm).frequency, array_agg(DISTINCT (retailiq.rfm_score(rfm, b)).f) AS f_scores
FROM tied, (SELECT retailiq.rfm_breaks(rfm) AS b FROM tied) q GROUP BY 1 ORDER BY 1;

-- The segment map, on R and FM = round-half-up((F + M) / 2): every cell has one segment.
WITH grid AS (
  SELECT r, fm, (retailiq.rfm_score(ROW(6 - r, fm, fm, NULL, NULL)::retailiq.rfm,
                                    '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}')).segment
  FROM generate_series(1, 5) r, generate_series(1, 5) fm)
SELECT r, string_agg(format('%s=%s', fm, segment), ', ' ORDER BY fm) AS "FM=segment"
FROM grid GROUP BY r ORDER BY r DESC;
-- FM rounds half up: F = 4, M = 5 is FM 5; F = 3, M = 4 is FM 4
SELECT (retailiq.rfm_score(ROW(1, 4, 5, NULL, NULL)::retailiq.rfm, '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}')).*;
SELECT (retailiq.rfm_score(ROW(3, 3, 4, NULL, NULL)::retailiq.rfm, '{{1,2,3,4},{1,2,3,4},{1,2,3,4}}')).*;
-- other bin counts score the same way; the segment names need 5 bins
SELECT (retailiq.rfm_score(ROW(3, 3, 4, NULL, NULL)::retailiq.rfm, '{{2},{2},{2}}')).*;

-- On the sample retailer: rfm_agg equals plain SQL for every customer ...
SELECT count(*) > 0 AS generated FROM retailiq.generate_sample_data('rs', 400, 3, 60, 365, 7);
SELECT max(ordered_at) - interval '30 days' AS as_of FROM rs.orders \gset
CREATE TABLE rs_rfm AS
SELECT customer_id, retailiq.rfm_agg(ordered_at, total_amount, :'as_of') AS v
FROM rs.orders GROUP BY customer_id;
CREATE TABLE rs_plain AS
SELECT customer_id,
       floor(extract(epoch FROM (:'as_of'::timestamptz - max(ordered_at))) / 86400)::int AS recency_days,
       count(*) AS frequency, sum(total_amount) AS monetary,
       min(ordered_at) AS first_order, max(ordered_at) AS last_order
FROM rs.orders WHERE ordered_at <= :'as_of' AND total_amount IS NOT NULL GROUP BY customer_id;
SELECT (SELECT count(*) FROM rs_plain) AS customers,
       (SELECT count(*) FROM rs_rfm WHERE v IS NOT NULL) AS with_rfm,
       (SELECT count(*) FROM (SELECT customer_id, (v).* FROM rs_rfm WHERE v IS NOT NULL
                              EXCEPT SELECT * FROM rs_plain) d) AS differ,
       (SELECT count(*) FROM (SELECT * FROM rs_plain
                              EXCEPT SELECT customer_id, (v).* FROM rs_rfm) d) AS missing;
-- ... its breaks equal percentile_disc ...
SELECT retailiq.rfm_breaks(v) = ARRAY[
         percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY (v).recency_days)::float8[],
         percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY (v).frequency)::float8[],
         percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY (v).monetary)::float8[]]
       AS breaks_are_percentile_disc
FROM rs_rfm WHERE v IS NOT NULL;
-- ... and scores and segments equal a reference query written in plain SQL.
CREATE TABLE rs_reference AS
WITH b AS (
  SELECT percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY recency_days) AS br,
         percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY frequency) AS bf,
         percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY monetary) AS bm
  FROM rs_plain),
s AS (
  SELECT p.customer_id,
         5 - ((p.recency_days > br[1])::int + (p.recency_days > br[2])::int
              + (p.recency_days > br[3])::int + (p.recency_days > br[4])::int) AS r,
         1 + (p.frequency > bf[1])::int + (p.frequency > bf[2])::int
           + (p.frequency > bf[3])::int + (p.frequency > bf[4])::int AS f,
         1 + (p.monetary > bm[1])::int + (p.monetary > bm[2])::int
           + (p.monetary > bm[3])::int + (p.monetary > bm[4])::int AS m
  FROM rs_plain p, b)
SELECT customer_id, r, f, m, format('%s%s%s', r, f, m) AS rfm_code,
       CASE WHEN r <= 2 AND (f + m + 1) / 2 = 5 THEN 'Can''t Lose Them'
            WHEN r <= 2 AND (f + m + 1) / 2 >= 3 THEN 'At Risk'
            WHEN r = 1 AND (f + m + 1) / 2 = 1 THEN 'Lost'
            WHEN r <= 2 THEN 'Hibernating'
            WHEN r = 3 AND (f + m + 1) / 2 <= 2 THEN 'About to Sleep'
            WHEN r = 3 AND (f + m + 1) / 2 = 3 THEN 'Need Attention'
            WHEN r IN (3, 4) AND (f + m + 1) / 2 >= 4 THEN 'Loyal'
            WHEN r = 4 AND (f + m + 1) / 2 = 1 THEN 'Promising'
            WHEN r = 5 AND (f + m + 1) / 2 = 1 THEN 'New'
            WHEN (f + m + 1) / 2 <= 3 THEN 'Potential Loyalist'
            ELSE 'Champions' END AS segment
FROM s;
SELECT count(*) AS scored,
       count(*) FILTER (WHERE (x.r, x.f, x.m, x.rfm_code, x.segment)
                              IS DISTINCT FROM (y.r, y.f, y.m, y.rfm_code, y.segment)) AS differ
FROM (SELECT customer_id, (retailiq.rfm_score(v, b)).*
      FROM rs_rfm, (SELECT retailiq.rfm_breaks(v) AS b FROM rs_rfm) q WHERE v IS NOT NULL) x
FULL JOIN rs_reference y USING (customer_id);
-- the one-call convenience gives the same rows
SELECT count(*) AS rows,
       count(*) FILTER (WHERE (s.r, s.f, s.m, s.rfm_code, s.segment)
                              IS DISTINCT FROM (y.r, y.f, y.m, y.rfm_code, y.segment)) AS differ
FROM retailiq.rfm_segments('rs.orders', :'as_of') s FULL JOIN rs_reference y USING (customer_id);
SELECT segment, count(*) AS customers FROM rs_reference GROUP BY 1 ORDER BY 2 DESC, 1;

-- monetary is exactly sum(amount), display scale included (text compared), whether the sum
-- stays a 64-bit count of units of the finest scale (mixed scales, signs, zeros) or goes to
-- PostgreSQL's numeric accumulator (amounts of 18 or more digits, more than 18 decimals, a
-- sum that would overflow 64 bits), before, after or between ordinary amounts
CREATE TABLE amounts (g int, i int, a numeric);
INSERT INTO amounts VALUES
  (1, 1, 1.5), (1, 2, 2.25), (1, 3, -0.001), (2, 1, 0), (2, 2, 0.0000),
  (3, 1, 123456789012.12), (3, 2, 987654321098.99), (4, 1, 99999999999999999), (4, 2, 1),
  (5, 1, 1e-18), (5, 2, 1), (6, 1, 1), (6, 2, 1e-19), (6, 3, 2), (7, 1, -5), (7, 2, -7.5),
  (8, 1, 12345678901234567890.5), (8, 2, 0.25),
  (9, 1, 9000000000000000.5), (9, 2, 9000000000000000.5), (9, 3, 0.125),
  (10, 1, 0.1), (10, 2, 0.20), (10, 3, 100), (11, 1, 1e20), (11, 2, -1e20),
  (12, 1, 10000), (12, 2, 0.0001), (13, 1, 5e17), (13, 2, 5e17), (13, 3, 1.5);
SELECT g, (retailiq.rfm_agg('2024-06-01', a, '2024-07-01' ORDER BY i)).monetary,
       (retailiq.rfm_agg('2024-06-01', a, '2024-07-01' ORDER BY i)).monetary::text = sum(a)::text AS exact
FROM amounts GROUP BY g ORDER BY g;
-- the same in reverse order (the accumulator taking over at the first row or the last)
SELECT count(*) AS groups, count(*) FILTER (WHERE m IS DISTINCT FROM s) AS differ
FROM (SELECT (retailiq.rfm_agg('2024-06-01', a, '2024-07-01' ORDER BY i DESC)).monetary::text AS m,
             sum(a)::text AS s
      FROM amounts GROUP BY g) q;

-- monetary as float8 (breaks and scores) is numeric_float8's value: quotients of exact
-- doubles up to 2^53 units, numeric_float8 beyond; signs, 0 to 18 decimals, 1 to 18 digits
SELECT setseed(0.25);
SELECT count(*) AS values, count(*) FILTER (WHERE b[3][1] IS DISTINCT FROM m::float8) AS differ
FROM (SELECT m, retailiq.rfm_breaks(ROW(1, 1, m, NULL, NULL)::retailiq.rfm, 2) AS b
      FROM (SELECT i, round(floor(random()::numeric * 10::numeric ^ (1 + i % 18))
                              * (CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END) / 10::numeric ^ (i % 19), i % 19) AS m
            FROM generate_series(1, 20000) i) q
      GROUP BY i, m) r;

-- Bad input is an ERROR with a SQLSTATE and a hint.
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT retailiq.rfm_agg(ordered_at, amount, NULL) FROM shop_orders;
SELECT retailiq.rfm_agg(ordered_at, amount, now() - i * interval '1 day')
FROM shop_orders, generate_series(1, 2) i;
SELECT retailiq.rfm_agg(now(), 'NaN'::numeric, now());
-- a NaN after ordinary amounts too
SELECT retailiq.rfm_agg('2024-06-01', a, '2024-07-01' ORDER BY i)
FROM (VALUES (1, 1.5), (2, 'NaN'::numeric)) v(i, a);
SELECT retailiq.rfm_agg(now(), 'Infinity'::float8, now());
SELECT retailiq.rfm_agg('infinity', 1.0, now());
SELECT retailiq.rfm_agg(now(), 1.0, '-infinity');
SELECT retailiq.rfm_breaks(rfm, 1) FROM shop_rfm;
SELECT retailiq.rfm_breaks(rfm, 10) FROM shop_rfm;
SELECT retailiq.rfm_breaks(rfm, NULL) FROM shop_rfm;
SELECT retailiq.rfm_score(ROW(1, 1, 1, NULL, NULL)::retailiq.rfm, '{1,2,3,4}');
SELECT retailiq.rfm_score(ROW(1, 1, 1, NULL, NULL)::retailiq.rfm, '{{1,2},{1,2},{2,1}}');
SELECT retailiq.rfm_score(ROW(1, 1, 1, NULL, NULL)::retailiq.rfm, '{{1,NULL},{1,2},{1,2}}');
SELECT * FROM retailiq.rfm_segments('shop_orders', as_of => NULL);

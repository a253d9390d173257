#!/usr/bin/env bash
# Behaviour benchmark, in one run on the sample schema (retailiq.generate_sample_data):
#   1. tag latency: a feeder inserts BENCH_RATE events/s (default 1,000) for BENCH_MINUTES
#      (default 5) with occurred_at = the insert time, while retailiq.refresh_customer_tags()
#      runs every BENCH_REFRESH_S seconds (default 30; the scheduler's job does the same).
#      Ten times a second the feeder also plants a tag trigger: a 400-second fresh-produce
#      dwell of a customer who never had the tag. Event-to-tag latency = the tag's
#      first_tagged_at - the trigger's insert time (p50 / p95 / max), and each refresh's time;
#   2. the peer: a full recompute of the same four default rules in plain SQL over every
#      customer (what a nightly batch does), against one incremental refresh: the ratio;
#   3. reports over a year: report_sales (daily, by store), report_behaviour (monthly) and
#      report_html with nothing stored, refresh_report_days() (the year, then a night's), the
#      same with the stored days (goals: 3 s, 10 s, 10 s), report_forecast_accuracy and
#      materialize_report('monthly').
# Data: BENCH_CUSTOMERS (default 100,000) customers, 20 stores, 500 products, BENCH_DAYS
# (default 365) days, shifted so that the history ends now.
set -euo pipefail
. "$(dirname "$0")/../reports/reports_part.sh"
CUSTOMERS=${BENCH_CUSTOMERS:-100000}
DAYS=${BENCH_DAYS:-365}
RATE=${BENCH_RATE:-1000}
MINUTES=${BENCH_MINUTES:-5}
REFRESH_S=${BENCH_REFRESH_S:-30}
Q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
S=bench_beh

echo "   sample data: $CUSTOMERS customers, $DAYS days (generation and time shift, not timed)"
Q -c "DROP SCHEMA IF EXISTS $S CASCADE" 2>/dev/null
Q -c "SELECT sum(row_count) FROM retailiq.generate_sample_data('$S', $CUSTOMERS, 20, 500, $DAYS, 42)" >/dev/null
bench_shift_history
Q <<SQL
CREATE SEQUENCE $S.event_ids;
SELECT setval('$S.event_ids', (SELECT max(event_id) FROM $S.events)) AS ignore \gset
CREATE TABLE $S.triggers (customer_id bigint PRIMARY KEY, inserted_at timestamptz NOT NULL);
CREATE TABLE $S.refreshes (started_at timestamptz, seconds float8, customers bigint, added bigint, removed bigint);

-- the feeder: rate events a second in ten batches, each committed; a tenth of a second apart
CREATE PROCEDURE $S.feed(rate int, seconds int, ncust int) LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
    tick int := 0;
    trig bigint := 100000000;
    fresh int[];
BEGIN
    PERFORM setseed(0.42);
    SELECT array_agg(zone_id ORDER BY store_id) INTO fresh FROM $S.store_zones WHERE category = 'fresh produce';
    WHILE clock_timestamp() < t0 + seconds * interval '1 second' LOOP
        INSERT INTO $S.events
        SELECT nextval('$S.event_ids'), c, CASE WHEN k >= 0.6 THEN st END,
               CASE WHEN k >= 0.6 THEN 'store' ELSE 'online' END,
               CASE WHEN k < 0.4 THEN 'view' WHEN k < 0.6 THEN 'cart_add' ELSE 'dwell' END,
               CASE WHEN k < 0.6 THEN p END, CASE WHEN k >= 0.6 THEN z END, clock_timestamp(),
               CASE WHEN k >= 0.6 THEN 45 + floor(random() * 240)::int END
          FROM (SELECT 1 + floor(random() * ncust)::int AS c, random() AS k, 1 + floor(random() * 500)::int AS p,
                       1 + floor(random() * 20)::int AS st, 1 + floor(random() * 10)::int AS z
                  FROM generate_series(1, rate / 10)) r;
        -- the trigger: a new customer's long fresh-produce dwell
        trig := trig + 1;
        INSERT INTO $S.events VALUES (nextval('$S.event_ids'), trig, 1, 'store', 'dwell', NULL, fresh[1],
                                      clock_timestamp(), 400);
        INSERT INTO $S.triggers VALUES (trig, clock_timestamp());
        COMMIT;
        tick := tick + 1;
        PERFORM pg_sleep(greatest(0, extract(epoch FROM t0 + tick * interval '100 ms' - clock_timestamp())));
    END LOOP;
END
\$\$;
SELECT retailiq.register_event_source('$S');
SQL

echo "   initial full evaluation (retailiq.refresh_customer_tags() with no watermark)"
Q -c "SELECT retailiq.refresh_customer_tags()" >/dev/null
Q -c "SELECT format('   %s s, %s tags', round(extract(epoch FROM last_duration)::numeric, 2), (SELECT count(*) FROM retailiq.customer_tag)) FROM retailiq.tag_refresh_state"

SECS=$((MINUTES * 60))
echo "   feeding $RATE events/s for $MINUTES min, refresh_customer_tags() every $REFRESH_S s"
Q -c "CALL $S.feed($RATE, $SECS, $CUSTOMERS)" &
FEEDER=$!
end=$(( $(date +%s) + SECS + 2 ))
while [ "$(date +%s)" -lt "$end" ]; do
  sleep "$REFRESH_S"
  Q -c "SELECT retailiq.refresh_customer_tags()" >/dev/null
  Q -c "INSERT INTO $S.refreshes SELECT last_run_at, extract(epoch FROM last_duration), customers_evaluated, tags_added, tags_removed FROM retailiq.tag_refresh_state"
done
wait $FEEDER
Q -c "SELECT retailiq.refresh_customer_tags()" >/dev/null
Q -c "INSERT INTO $S.refreshes SELECT last_run_at, extract(epoch FROM last_duration), customers_evaluated, tags_added, tags_removed FROM retailiq.tag_refresh_state"

Q <<SQL
SELECT format('   events inserted: %s in %s s = %s events/s', count(*),
              round(extract(epoch FROM max(occurred_at) - min(occurred_at))::numeric, 1),
              round(count(*) / extract(epoch FROM max(occurred_at) - min(occurred_at))::numeric))
  FROM $S.events WHERE occurred_at >= (SELECT min(inserted_at) FROM $S.triggers);
SELECT format('   refresh_customer_tags: %s runs, time p50 %s s, max %s s; customers evaluated per run p50 %s, max %s',
              count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 2),
              round(max(seconds)::numeric, 2),
              percentile_disc(0.5) WITHIN GROUP (ORDER BY customers), max(customers))
  FROM $S.refreshes;
SELECT format('   event-to-tag latency over %s planted triggers (%s tagged): p50 %s s, p95 %s s, max %s s',
              count(*), count(c.customer_id),
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.first_tagged_at - t.inserted_at))::numeric, 1),
              round(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM c.first_tagged_at - t.inserted_at))::numeric, 1),
              round(max(extract(epoch FROM c.first_tagged_at - t.inserted_at))::numeric, 1))
  FROM $S.triggers t LEFT JOIN retailiq.customer_tag c ON c.customer_id = t.customer_id AND c.tag = 'fresh_dweller';
SQL

echo "   peer: the four default rules recomputed in plain SQL over every customer"
Q <<SQL
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
CREATE TABLE $S.peer_tags AS
SELECT e.customer_id::bigint AS customer_id, 'fresh_dweller' AS tag
  FROM $S.events e JOIN $S.store_zones z ON z.store_id = e.store_id AND z.zone_id = e.zone_id
 WHERE e.event_type = 'dwell' AND z.category = 'fresh produce' AND e.duration_s >= 300
   AND e.occurred_at > now() - interval '7 days' AND e.occurred_at <= now()
 GROUP BY 1
UNION ALL
SELECT DISTINCT customer_id, 'product_researcher' FROM (
  SELECT e.customer_id::bigint AS customer_id FROM $S.events e
   WHERE e.event_type = 'view' AND e.occurred_at > now() - interval '24 hours' AND e.occurred_at <= now()
     AND NOT EXISTS (SELECT 1 FROM $S.orders o JOIN $S.order_lines l USING (order_id)
                      WHERE o.customer_id = e.customer_id AND l.product_id = e.product_id
                        AND o.ordered_at >= e.occurred_at AND o.ordered_at <= now())
   GROUP BY e.customer_id, e.product_id HAVING count(*) >= 3) v
UNION ALL
SELECT DISTINCT e.customer_id, 'cart_abandoner' FROM $S.events e
 WHERE e.event_type = 'cart_add' AND e.occurred_at > now() - interval '24 hours'
   AND e.occurred_at <= now() - interval '30 minutes'
   AND NOT EXISTS (SELECT 1 FROM $S.orders o JOIN $S.order_lines l USING (order_id)
                    WHERE o.customer_id = e.customer_id AND l.product_id = e.product_id
                      AND o.ordered_at >= e.occurred_at AND o.ordered_at <= now())
UNION ALL
SELECT o.customer_id, 'price_sensitive' FROM $S.orders o JOIN $S.order_lines l USING (order_id)
 WHERE o.ordered_at > now() - interval '90 days' AND o.ordered_at <= now()
 GROUP BY o.customer_id
HAVING count(DISTINCT o.order_id) >= 3
   AND sum(l.quantity * l.unit_price - l.discount) FILTER (WHERE l.promo_id IS NOT NULL)
       >= 0.25 * sum(l.quantity * l.unit_price - l.discount);
SELECT extract(epoch FROM clock_timestamp() - t) AS peer_s FROM t0 \gset
SELECT format('   plain-SQL full recompute: %s s, %s tags', round(:peer_s::numeric, 2), count(*)) FROM $S.peer_tags;
-- retailiq's own full recompute, as of the same moment
CREATE TEMP TABLE t1 AS SELECT clock_timestamp() AS t;
UPDATE retailiq.tag_rule SET pending = true;
SELECT retailiq.refresh_tags('-infinity') \gset
SELECT extract(epoch FROM clock_timestamp() - t) AS full_s FROM t1 \gset
SELECT format('   retailiq.refresh_tags(''-infinity'') (full): %s s', round(:full_s::numeric, 2));
SELECT format('   ratio: plain-SQL full recompute / median incremental refresh = %s x (%s s / %s s)',
              round((:peer_s / percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds))::numeric, 1),
              round(:peer_s::numeric, 2), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds)::numeric, 2))
  FROM $S.refreshes;
-- the incremental state equals the plain-SQL answer for the tags whose rules it can see
SELECT format('   check: retailiq tags = plain-SQL tags for %s of %s (customer, tag) pairs',
              (SELECT count(*) FROM $S.peer_tags p JOIN retailiq.customer_tag c USING (customer_id, tag)),
              (SELECT count(*) FROM $S.peer_tags));
SQL

bench_reports
Q -c "DROP SCHEMA $S CASCADE" -c "DELETE FROM retailiq.customer_tag" -c "DELETE FROM retailiq.source" \
  -c "DELETE FROM retailiq.forecast_result WHERE model_name = 'bench'" 2>/dev/null || true

# What the behaviour and reports benchmarks share (sourced by both run.sh). Needs Q (psql)
# and S (the sample schema) defined by the caller.

# bench_shift_history: move schema $S's events and orders so the history ends now (the rules'
# windows of 24 hours, 7 and 90 days then hold the usual amount of data, as in a live shop),
# with the indexes the reports and rules read.
bench_shift_history() {
Q <<SQL
SELECT now() - (SELECT max(occurred_at) FROM $S.events) AS shift \gset
CREATE TABLE $S.events2 AS SELECT event_id, customer_id, store_id, channel, event_type, product_id,
       zone_id, occurred_at + :'shift'::interval AS occurred_at, duration_s FROM $S.events;
DROP TABLE $S.events;
ALTER TABLE $S.events2 RENAME TO events;
ALTER TABLE $S.events ADD PRIMARY KEY (event_id);
CREATE INDEX ON $S.events (customer_id, occurred_at);
CREATE INDEX ON $S.events (occurred_at);
UPDATE $S.orders SET ordered_at = ordered_at + :'shift'::interval;
VACUUM ANALYZE $S.orders;
ANALYZE $S.events;
SQL
}

# bench_reports: the reports over the last year of schema $S (CUSTOMERS customers), nothing
# stored, then with the stored days, each against its issue-20 goal.
bench_reports() {
echo "   reports over the last year ($CUSTOMERS customers)"
Q <<SQL
SELECT (now() AT TIME ZONE 'UTC')::date - 364 AS f, (now() AT TIME ZONE 'UTC')::date AS t \gset
-- forecasts for the last 28 days of every store/product series (5% over the actuals), so the
-- forecast columns and the accuracy report have rows to read
SELECT (now() AT TIME ZONE 'UTC')::date - (SELECT max(day) FROM $S.daily_sales) AS dshift \gset
DELETE FROM retailiq.forecast_result WHERE model_name = 'bench';
INSERT INTO retailiq.forecast_result (series, store_id, product_id, period_start, grain, horizon, yhat, yhat_lower, yhat_upper, model_name)
SELECT store_id || '/' || product_id, store_id, product_id, day + :dshift, 'day', 1, units * 1.05, units * 0.7, units * 1.4 + 1, 'bench'
  FROM $S.daily_sales WHERE day > (SELECT max(day) FROM $S.daily_sales) - 28;
CREATE TEMP TABLE tm (what text, s float8, goal float8);
CREATE TEMP TABLE c AS SELECT clock_timestamp() AS t;
-- nothing stored: every report computed from the tables (the definitions before issue 20)
SELECT count(*) FROM retailiq.report_sales('daily', :'f', :'t', by_store => true) \gset
INSERT INTO tm SELECT 'report_sales(daily, by store), nothing stored', extract(epoch FROM clock_timestamp() - t) FROM c;
UPDATE c SET t = clock_timestamp();
SELECT count(*) FROM retailiq.report_behaviour('monthly', :'f', :'t') \gset
INSERT INTO tm SELECT 'report_behaviour(monthly), nothing stored', extract(epoch FROM clock_timestamp() - t) FROM c;
UPDATE c SET t = clock_timestamp();
SELECT length(retailiq.report_html(:'f', :'t')) AS html_len \gset
INSERT INTO tm SELECT 'report_html(one year), nothing stored', extract(epoch FROM clock_timestamp() - t) FROM c;
-- the stored days, as the scheduler's daily report job keeps them: built once for the year
-- here, then each night's materialize_report('daily') adds a day
UPDATE c SET t = clock_timestamp();
SELECT retailiq.refresh_report_days() \gset
INSERT INTO tm SELECT 'refresh_report_days() (the whole year, once)', extract(epoch FROM clock_timestamp() - t) FROM c;
UPDATE c SET t = clock_timestamp();
SELECT retailiq.refresh_report_days() \gset
INSERT INTO tm SELECT 'refresh_report_days() (a night: the last 3 days)', extract(epoch FROM clock_timestamp() - t) FROM c;
UPDATE c SET t = clock_timestamp();
SELECT count(*) FROM retailiq.report_sales('daily', :'f', :'t', by_store => true) \gset
INSERT INTO tm SELECT 'report_sales(daily, by store)', extract(epoch FROM clock_timestamp() - t), 3 FROM c;
UPDATE c SET t = clock_timestamp();
SELECT count(*) FROM retailiq.report_behaviour('monthly', :'f', :'t') \gset
INSERT INTO tm SELECT 'report_behaviour(monthly)', extract(epoch FROM clock_timestamp() - t), 10 FROM c;
UPDATE c SET t = clock_timestamp();
SELECT count(*) FROM retailiq.report_forecast_accuracy('weekly', :'f', :'t') \gset
INSERT INTO tm SELECT 'report_forecast_accuracy(weekly)', extract(epoch FROM clock_timestamp() - t) FROM c;
UPDATE c SET t = clock_timestamp();
SELECT retailiq.materialize_report('monthly') \gset
INSERT INTO tm SELECT 'materialize_report(monthly)', extract(epoch FROM clock_timestamp() - t) FROM c;
UPDATE c SET t = clock_timestamp();
SELECT length(retailiq.report_html(:'f', :'t')) AS html_len \gset
INSERT INTO tm SELECT 'report_html(one year), ' || :html_len || ' bytes', extract(epoch FROM clock_timestamp() - t), 10 FROM c;
SELECT format('   %-50s %8s s%s', what, round(s::numeric, 2),
              CASE WHEN goal IS NOT NULL THEN format('  (goal <= %s s: %s; %s x faster than with nothing stored)', goal,
                   CASE WHEN s <= goal THEN 'met' ELSE 'NOT met' END,
                   round(((SELECT n.s FROM tm n WHERE n.what LIKE split_part(tm.what, ',', 1) || '%nothing stored') / s)::numeric, 1))
                   ELSE '' END)
  FROM tm;
SQL
}

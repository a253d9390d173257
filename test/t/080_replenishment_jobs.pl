# The built-in nightly chain of the planning part in a real server: nightly_forecast, then
# forecast_health_check (drift alert and early refit), then nightly_replenishment (the stored
# plan), then slow_mover_check (slow and dead stock, the daily share for the reports). Each is
# run by the scheduler (retailiq.run_job), not called directly, and each is scheduled after
# the one it reads from.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('replenishment_jobs');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'retailiq'
retailiq.database = 'postgres'
retailiq.scheduler_naptime = '200ms'
max_worker_processes = 16
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub run_job
{
	sql(qq{SELECT retailiq.run_job('$_[0]')});
	return sql(qq{SELECT status || coalesce(': ' || message, '') FROM retailiq.wait_for_job('$_[0]', '2 minutes')});
}

# --- the jobs exist, disabled like every built-in job, and run in the order they read
is(sql(q{CREATE EXTENSION retailiq;
	SELECT string_agg(job_id || ' ' || job_name || ' ' || enabled, ', ' ORDER BY job_id)
	  FROM retailiq.job WHERE job_name IN ('forecast_health_check', 'slow_mover_check')}),
	'9 forecast_health_check false, 10 slow_mover_check false', 'the two built-in jobs exist, disabled');
# on each of 60 days (and across a DST change of the server's zone) the next runs come in
# the order nightly_forecast < forecast_health_check < nightly_replenishment < slow_mover_check
is(sql(q{SELECT count(*) FROM generate_series(timestamptz '2026-03-01 12:00', '2026-04-29 12:00', '1 day') d
	WHERE (SELECT array_agg(retailiq.next_run(j.schedule, d)
	                        ORDER BY array_position(ARRAY['nightly_forecast', 'forecast_health_check',
	                                                      'nightly_replenishment', 'slow_mover_check'], j.job_name))
	         FROM retailiq.job j
	        WHERE j.job_name IN ('nightly_forecast', 'forecast_health_check', 'nightly_replenishment', 'slow_mover_check'))
	      IS DISTINCT FROM
	      (SELECT array_agg(retailiq.next_run(j.schedule, d) ORDER BY retailiq.next_run(j.schedule, d))
	         FROM retailiq.job j
	        WHERE j.job_name IN ('nightly_forecast', 'forecast_health_check', 'nightly_replenishment', 'slow_mover_check'))}),
	'0', 'forecast, health check, replenishment, slow movers: in that order every night');

# --- a shop: 3 products at one store, 16 weeks of daily sales; product 3 is stocked and sold
# only on the first day (dead stock); the forecasts issued for product 1 over its last week were twice what sold
sql(q{CREATE TABLE sales AS
	SELECT p || '/1' AS series, 1 AS store_id, p AS product_id, d::date AS day,
	       CASE WHEN p = 1 THEN 4 + (i % 3) WHEN p = 2 THEN (i % 2) * 3 WHEN i = 1 THEN 1 ELSE 0 END::float8 AS units
	FROM generate_series(1, 3) p, generate_series(date '2024-01-01', date '2024-04-21', '1 day') WITH ORDINALITY g(d, i);
	CREATE TABLE stock (store_id int, product_id int, on_hand float8);
	INSERT INTO stock VALUES (1, 1, 3), (1, 2, 40), (1, 3, 25);
	SELECT retailiq.register_sales_source('shop', 'sales', 'series', 'day', 'units', method => 'snaive',
	                                      store_column => 'store_id', product_column => 'product_id');
	SELECT retailiq.register_source('inventory', 'stock');
	INSERT INTO retailiq.forecast_issued (source, series, store_id, product_id, period_start, grain, horizon, yhat, issued_at)
	SELECT 'shop', '1/1', 1, 1, date '2024-04-15' + i, 'day', 1, 10, now() - interval '1 day' FROM generate_series(0, 6) i;});

is(run_job('nightly_forecast'), 'succeeded', 'nightly_forecast ran');
is(run_job('forecast_health_check'), 'succeeded', 'forecast_health_check ran');
is(sql(q{SELECT series || ' ' || (model_version IS NOT NULL) || ' ' || (before_bias > 0.5)
	FROM retailiq.forecast_refit WHERE source = 'shop'}), '1/1 true true',
	'the drifting series was refitted ahead of the schedule, its bias before recorded');
is(sql(q{SELECT count(*) FROM retailiq.alert WHERE kind = 'forecast_drift' AND subject ->> 'series' = '1/1'}), '1',
	'and alerted');
is(run_job('nightly_replenishment'), 'succeeded', 'nightly_replenishment ran');
is(sql(q{SELECT string_agg(product_id::text, ',' ORDER BY product_id) FROM retailiq.order_plan WHERE source = 'shop'}),
	'1,2,3', 'the plan is stored for every product');
is(run_job('slow_mover_check'), 'succeeded', 'slow_mover_check ran');
is(sql(q{SELECT status FROM retailiq.slow_mover_status WHERE source = 'shop' AND product_id = 3}), 'dead',
	'the product stocked and never sold is dead stock');
is(sql(q{SELECT as_of || ' ' || dead FROM retailiq.slow_mover_history WHERE source = 'shop'}), '2024-04-21 1',
	"the day's share is kept for the reports");

# --- without an inventory source the slow-mover job fails with the reason, and is recorded so
sql(q{SELECT retailiq.unregister_source('inventory')});
like(run_job('slow_mover_check'), qr/^failed: no inventory source is registered/, 'no inventory: a failed run with the reason');

$node->stop;
done_testing();

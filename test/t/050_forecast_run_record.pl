# The scheduler's run record of a forecast refresh (retailiq.job_run.progress): a job that
# runs refresh_forecasts keeps the fit's figures (series done of total, warm and skipped
# series, fitting time, rate, workers); the next night's run warm-starts (unchanged series
# skipped); a failed refresh keeps what was done before the failure; a job that fits
# nothing has no figures; a streamed refresh and an LSTM refresh are one fit each.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('forecast_run_record');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'retailiq'
retailiq.database = 'postgres'
retailiq.scheduler_naptime = '200ms'
max_worker_processes = 16
max_parallel_workers = 8
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# 40 daily series of 8 weeks, Croston (fast): enough series for the parallel workers
sql(q{CREATE EXTENSION retailiq;
	CREATE TABLE sales AS
	SELECT 's' || lpad(k::text, 2, '0') AS series, d::date AS ts,
	       CASE WHEN (i * k) % 3 = 0 THEN 1 + k % 5 ELSE 0 END::float8 AS y
	FROM generate_series(1, 40) k,
	     generate_series(date '2024-01-01', date '2024-02-25', '1 day') WITH ORDINALITY g(d, i);
	SELECT retailiq.register_sales_source('tap', 'sales', 'series', 'ts', 'y', method => 'croston',
	                                      options => '{"max_model_age": "0"}');
	SELECT retailiq.schedule('nightly_tap', '0 3 * * *', 'SELECT retailiq.refresh_forecasts(ARRAY[1, 7], ''tap'')');});

sub run_job
{
	sql(q{SELECT retailiq.run_job('nightly_tap')});
	return sql(q{SELECT status FROM retailiq.wait_for_job('nightly_tap', '2 minutes')});
}
sub progress { return sql(qq{SELECT progress ->> '$_[0]' FROM retailiq.job_run WHERE job_name = 'nightly_tap' ORDER BY run_id DESC LIMIT 1}); }

# --- night 1: every series fitted cold
is(run_job(), 'succeeded', 'the refresh job succeeded');
is(progress('fits'), '1', 'one fit recorded');
is(progress('series_total'), '40', 'series total');
is(progress('series_done'), '40', 'every series done');
is(progress('series_warm') . '/' . progress('series_skipped'), '0/0', 'night 1 is cold');
ok(progress('fit_seconds') > 0 && progress('series_per_second') > 0, 'fitting time and rate');
is(progress('workers'), '2', 'two parallel workers (retailiq.forecast_workers)');

# --- night 2: no new rows but in 10 series, which are refitted warm; the rest skipped
sql(q{INSERT INTO sales SELECT series, date '2024-02-26', 1 FROM sales WHERE series <= 's10' GROUP BY series});
is(run_job(), 'succeeded', 'the second refresh succeeded');
is(progress('series_warm') . '/' . progress('series_skipped') . '/' . progress('series_done'), '10/30/40',
	'night 2: 10 series warm, 30 skipped');

# --- a failed refresh keeps the figures of the fit up to the failure
sql(q{SELECT retailiq.alter_job('nightly_tap', command =>
	'SET retailiq.forecast_workers = 0; SET retailiq.debug_fail_series = ''s05''; SELECT retailiq.refresh_forecasts(ARRAY[1], ''tap'')')});
sql(q{INSERT INTO sales SELECT series, date '2024-02-27', 2 FROM sales GROUP BY series});
is(run_job(), 'failed', 'the failing refresh failed');
is(progress('series_done') . '/' . progress('series_total'), '4/40', 'done before the failure, of the total');
like(sql(q{SELECT message FROM retailiq.job_run WHERE job_name = 'nightly_tap' ORDER BY run_id DESC LIMIT 1}),
	qr/s05/, 'the failure names the series');

# --- a streamed refresh (1 MB: the rows go to group files) is one fit of all its series
# (about 7,200 rows: past an eighth of 1 MB)
sql(q{SELECT retailiq.alter_job('nightly_tap', command =>
	'SET retailiq.max_memory = ''1MB''; SELECT retailiq.refresh_forecasts(ARRAY[1], ''tap'')')});
sql(q{INSERT INTO sales SELECT series, date '2024-02-28', 2 FROM sales GROUP BY series;
	INSERT INTO sales SELECT s.series, d::date, 1 FROM (SELECT DISTINCT series FROM sales) s,
	       generate_series(date '2023-09-01', date '2023-12-31', '1 day') d;});
is(run_job(), 'succeeded', 'the streamed refresh succeeded');
is(progress('fits') . '/' . progress('series_done') . '/' . progress('series_total'), '1/40/40',
	'a streamed refresh: one fit, 40 of 40 series');

# --- an LSTM refresh is counted too
sql(q{SELECT (retailiq.register_sales_source('tap_lstm', 'sales', 'series', 'ts', 'y', method => 'lstm',
	options => '{"max_model_age": "0", "epochs": 2, "hidden": 4, "ensemble": 1}')).name});
sql(q{SELECT retailiq.alter_job('nightly_tap', command => 'SELECT retailiq.refresh_forecasts(ARRAY[1], ''tap_lstm'')')});
is(run_job(), 'succeeded', 'the LSTM refresh succeeded');
is(progress('fits') . '/' . progress('series_done') . '/' . progress('series_total'), '1/40/40',
	'an LSTM refresh: one fit, 40 of 40 series');
ok(progress('fit_seconds') > 0, 'its fitting time');

# --- a job without forecast fits has no figures
sql(q{SELECT retailiq.alter_job('nightly_tap', command => 'SELECT 1')});
is(run_job(), 'succeeded', 'a plain job succeeded');
is(sql(q{SELECT progress IS NULL FROM retailiq.job_run WHERE job_name = 'nightly_tap' ORDER BY run_id DESC LIMIT 1}),
	't', 'no forecast figures for a job that fits nothing');

$node->stop;
done_testing();

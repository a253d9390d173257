# forecast_fit in parallel workers in a server with retailiq preloaded: while a slow fit
# runs, a second session sees it in retailiq.forecast_progress (its label, two workers,
# some but not all series done); the row is gone when the fit ends; cancelling the fit
# stops its workers and leaves no row behind. A streamed fit (its rows in group files)
# shows one row for all its groups, and the LSTM shows its fit too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('forecast_parallel');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'retailiq'
max_worker_processes = 16
max_parallel_workers = 8
});
$node->start;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# 64 daily series of a year: an ETS fit of all of them takes several seconds even in parallel
sql(q{CREATE EXTENSION retailiq;
	CREATE TABLE sales AS
	SELECT 's' || lpad(k::text, 2, '0') AS series, d::date AS ts,
	       round(30 + k + 8 * sin(i * 2 * pi() / 7) + 5 * sin(i * k / 50.0) + (i % 5))::float8 AS y
	FROM generate_series(1, 64) k,
	     generate_series(date '2024-01-01', date '2024-12-31', '1 day') WITH ORDINALITY g(d, i);});

is(sql('SELECT count(*) FROM retailiq.forecast_progress'), '0', 'no row when no fit runs');

my $fit = q{SELECT retailiq.forecast_fit(series, ts, y, 'ets') IS NOT NULL FROM sales;};

# --- a running fit is visible from another session, with its label and its workers
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, "SET retailiq.progress_label = 'tap source';\n\\echo started\n$fit\n");
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM retailiq.forecast_progress
		  WHERE label = 'tap source' AND method = 'ets' AND workers = 2 AND series_total = 64
		    AND series_done > 0 AND series_done < series_total
		    AND series_per_second > 0 AND estimated_end > started AND datname = 'postgres'}),
	'a second session sees the running fit: label, method, 2 workers, 0 < done < total, rate, estimated end');
is(sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'}), '2',
	'two parallel workers are fitting');
my $done1 = sql('SELECT series_done FROM retailiq.forecast_progress');
ok($node->poll_query_until('postgres',
		"SELECT coalesce((SELECT series_done FROM retailiq.forecast_progress), 64) > $done1"),
	'the count of series done grows');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM retailiq.forecast_progress'),
	'the row is gone when the fit ends');
like($bg->query_safe('SELECT 1'), qr/^1$/m, 'the fitting session is fine afterwards');

# --- cancelling the fit stops every worker and leaves no row
$bg->query_until(qr/again/, "\\echo again\n$fit\n");
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM retailiq.forecast_progress WHERE workers = 2 AND series_done > 0}),
	'the second fit is running in parallel');
sql(q{SELECT pg_cancel_backend(pid) FROM retailiq.forecast_progress});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'parallel worker'}),
	'cancelling the fit stops its parallel workers');
is(sql('SELECT count(*) FROM retailiq.forecast_progress'), '0', 'and leaves no row in the view');
like($bg->query('SELECT 2'), qr/^2$/m, 'the cancelled session carries on');
like($bg->{stderr}, qr/canceling statement due to user request/, 'the fit was cancelled');
$bg->quit;

# --- a session that ends in the middle of a fit (terminated) leaves no row either
$bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/third/, "\\echo third\n$fit\n");
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM retailiq.forecast_progress WHERE series_done > 0}),
	'a third fit is running');
sql(q{SELECT pg_terminate_backend(pid) FROM retailiq.forecast_progress});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM retailiq.forecast_progress}),
	'a terminated session leaves no row');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'parallel worker'}),
	'and no parallel worker');
eval { $bg->quit; };

# --- a streamed fit (1 MB: the rows go to group files) is one row, over all its series
$bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/streamed/,
	"SET retailiq.max_memory = '1MB';\n\\echo streamed\n$fit\n");
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM retailiq.forecast_progress
		  WHERE method = 'ets' AND series_total = 64 AND series_done > 2 AND series_done < 64}),
	'a streamed fit shows one row: all 64 series, done counted across its groups');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM retailiq.forecast_progress'),
	'and none once it ends');
like($bg->query_safe('SELECT 3'), qr/^3$/m, 'the streamed fit ended well');

# --- the LSTM: its ETS bases counted (twice each: without the validation tail, then on the
# whole history), its workers shown (64 series are two jobs of bases: one worker)
$bg->query_until(qr/lstm/,
	"RESET retailiq.max_memory;\n\\echo lstm\nSELECT retailiq.forecast_lstm_fit(series, ts, y, NULL::float8[], '{\"epochs\": 2, \"hidden\": 4, \"ensemble\": 1}') IS NOT NULL FROM sales;\n");
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM retailiq.forecast_progress
		  WHERE method = 'lstm' AND series_total = 64 AND series_done > 0 AND series_done < 64
		    AND workers >= 1 AND series_per_second > 0 AND estimated_end > started}),
	'a running LSTM fit shows: method, 0 < done < total, its worker, rate, estimated end');
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM retailiq.forecast_progress'),
	'the LSTM row is gone when the fit ends');
like($bg->query_safe('SELECT 4'), qr/^4$/m, 'the LSTM fit ended well');
$bg->quit;

$node->stop;
done_testing();

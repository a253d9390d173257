# retailiq in shared_preload_libraries: the postmaster stays single-threaded (OpenBLAS is
# the serial build and _PG_init starts nothing), GUCs come from the configuration file and
# reload, and saved models survive a restart and a crash-restart byte for byte.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'retailiq'\nretailiq.max_memory = '1GB'\nrestart_after_crash = on\n");
$node->start;

sub threads_of
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return -1;
	while (<$fh>) { return $1 if /^Threads:\s+(\d+)/; }
	return -1;
}

my $pm_pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'});
my $postmaster = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
is(threads_of($postmaster), 1, 'the postmaster has exactly one thread with retailiq preloaded');
is(threads_of($pm_pid), 1, 'a child process (checkpointer) has exactly one thread');

$node->safe_psql('postgres', 'CREATE EXTENSION retailiq');
is($node->safe_psql('postgres', 'SHOW retailiq.max_memory'), '1GB', 'GUC read from postgresql.conf');
$node->append_conf('postgresql.conf', "retailiq.max_memory = '3GB'\n");
$node->reload;
is($node->safe_psql('postgres', 'SHOW retailiq.max_memory'), '3GB', 'GUC change picked up on reload');

my $model = q{{"kind": "kmeans", "trained_at": "2026-01-01T00:00:00+00:00", "trained_by": "tap", "params": {"k": 2}, "data": {"centroids": [[0.1, 0.2], [1e-300, -0.0]]}}};
$node->safe_psql('postgres', "SELECT retailiq.save_model('m', '$model')");
my $before = $node->safe_psql('postgres', q{SELECT encode(retailiq.model_send(retailiq.load_model('m')), 'hex')});

$node->restart;
is($node->safe_psql('postgres', q{SELECT encode(retailiq.model_send(retailiq.load_model('m')), 'hex')}),
	$before, 'a saved model is byte-identical after a restart');

# a process killed hard makes the postmaster reinitialise; committed models are still there
$node->safe_psql('postgres', "SELECT retailiq.save_model('m', '$model')");
my $victim = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum launcher'});
kill 'KILL', $victim;
sleep 1;
$node->poll_query_until('postgres', 'SELECT true') or die 'server did not come back';
is($node->safe_psql('postgres', q{SELECT string_agg(version::text, ',' ORDER BY version) FROM retailiq.models WHERE name = 'm'}),
	'1,2', 'both saved versions survive a crash-restart');
is(threads_of((split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0]), 1,
	'the postmaster is still single-threaded after the crash-restart');

$node->stop;
done_testing();

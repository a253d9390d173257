# Removal from a database where every part was used (test/t/every_part.sql): retailiq.uninstall()
# refuses while the audit log or objects of the user would be lost, then takes the store
# policies, masking views, stored masked rows, column rules and triggers down and drops the
# extension; nothing of retailiq is left in the database, row security is off again on the
# table it protected, no job worker is left, and CREATE EXTENSION works again
# (doc/operations.md, "Removal").
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('uninstall');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'retailiq'
retailiq.database = 'shop'
retailiq.scheduler_naptime = '200ms'
jit = off
});
$node->start;
$node->safe_psql('postgres', q{
CREATE ROLE analyst LOGIN; CREATE ROLE manager_suzhou LOGIN; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;
CREATE DATABASE shop;});
$node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('shop'), '-f', dirname(__FILE__) . '/every_part.sql'],
	'the documented set-up of every part');
sub sql { return $node->safe_psql('shop', $_[0]); }
sql(q{CREATE TABLE ticks (at timestamptz DEFAULT clock_timestamp());
      SELECT retailiq.schedule('tick', '@every 1 second', 'INSERT INTO ticks DEFAULT VALUES');
      CREATE TABLE my_models AS SELECT 'rules'::text AS name, retailiq.load_model('basket_rules') AS m;});
ok($node->poll_query_until('shop', 'SELECT count(*) > 0 FROM ticks'), 'jobs run');

# what a plain DROP EXTENSION says
my ($ret, $out, $err) = $node->psql('shop', 'DROP EXTENSION retailiq');
like($err, qr/cannot drop extension retailiq because other objects depend on it/, 'plain DROP EXTENSION is refused');

($ret, $out, $err) = $node->psql('shop', 'SELECT * FROM retailiq.uninstall()');
like($err, qr/the audit log holds \d+ records, which DROP EXTENSION would delete/, 'uninstall keeps the audit log unless told');
($ret, $out, $err) = $node->psql('shop', 'SELECT * FROM retailiq.uninstall(drop_audit_log => NULL)');
like($err, qr/drop_audit_log must not be NULL/, 'a NULL argument is refused, naming it');
($ret, $out, $err) = $node->psql('shop', 'SELECT * FROM retailiq.uninstall(drop_audit_log => true)');
like($err, qr/objects of yours depend on retailiq.*column m of table public\.my_models/s, 'and names the user objects it would drop');
is(sql(q{SELECT count(*) FROM pg_namespace WHERE nspname = 'retailiq_mask'}), '1', 'a refused uninstall changed nothing');
($ret, $out, $err) = $node->psql('shop', 'SELECT * FROM retailiq.uninstall(drop_audit_log => true)', extra_params => ['-U', 'alice']);
like($err, qr/permission denied for function uninstall|must be run by a superuser/, 'an ordinary role may not');

sql('DROP TABLE my_models');
my $steps = sql(q{SELECT string_agg(step || ': ' || object, E'\n') FROM retailiq.uninstall(drop_audit_log => true)});
like($steps, qr/store security removed: retail.daily_sales/, 'store security removed');
like($steps, qr/masking removed: schema retailiq_mask/, 'masking views removed');
like($steps, qr/trigger dropped: low_stock on retail.inventory/, 'the stock trigger dropped');
like($steps, qr/extension dropped: retailiq$/, 'the extension dropped');

is(sql(q{SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'retailiq%'}), '0', 'no retailiq schema is left');
is(sql(q{SELECT count(*) FROM pg_extension WHERE extname = 'retailiq'}), '0', 'no extension');
is(sql(q{SELECT count(*) FROM pg_seclabel WHERE provider = 'retailiq'}), '0', 'no masking rule is left');
is(sql(q{SELECT count(*) FROM pg_policy}), '0', 'no policy is left');
is(sql(q{SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname LIKE '%alert%' OR t.tgname LIKE 'retailiq%'}),
	'0', 'no retailiq trigger is left');
is(sql(q{SELECT count(*) FROM pg_class c WHERE c.relname LIKE 'audit_log%' OR c.relname LIKE '%masked_rows%'}), '0',
	'no audit partition or stored masked rows are left');
is(sql(q{SELECT count(*) FROM pg_proc WHERE probin LIKE '%retailiq%' OR prosrc LIKE '%retailiq.%'}), '0', 'no function of it');
is(sql(q{SELECT relrowsecurity FROM pg_class WHERE oid = 'retail.daily_sales'::regclass}), 'f',
	'row security is off again on the protected table');
is($node->safe_psql('shop', q{SELECT count(*) FROM retail.daily_sales}, extra_params => ['-U', 'manager_suzhou']),
	sql(q{SELECT count(*) FROM retail.daily_sales}), 'the store manager (SELECT granted) now sees every store');
ok($node->poll_query_until('shop', q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'retailiq job' AND datname = 'shop'}),
	'no job worker is left');
my $ticks = sql('SELECT count(*) FROM ticks');
sleep 2;
is(sql('SELECT count(*) FROM ticks'), $ticks, 'and no job runs any more');

# again
sql('CREATE EXTENSION retailiq');
is(sql(q{SELECT count(*) FROM retailiq.job WHERE NOT builtin}), '0', 'CREATE EXTENSION again: a fresh installation');
$node->safe_psql('shop', q{
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 4)';
SELECT retailiq.apply_masking();
SELECT retailiq.enable_store_security('retail.daily_sales', 'store_id');
SELECT retailiq.schedule('tick', '@every 1 second', 'INSERT INTO ticks DEFAULT VALUES');});
is(sql(q{SELECT count(*) FROM retailiq.audit_verify()}), '0', 'its audit log starts a new chain');
ok($node->poll_query_until('shop', qq{SELECT count(*) > $ticks FROM ticks}), 'and jobs run again');

$node->stop;
done_testing();

# Backup and restore of a database using every part (test/t/every_part.sql, the documented
# set-up): pg_dump -Fc + pg_restore --exit-on-error, pg_dump (plain) + psql ON_ERROR_STOP,
# and pg_dumpall into a new cluster, each without a single error. The restored database has
# the audit log exactly (rows, partitions, chain head; audit_verify() clean, and the next
# record chains on), labels, masking views and stored masked rows, masked and store-secured
# reads, approvals, jobs (running again in the new cluster), models, sources, tag rules and
# forecast results (doc/operations.md, "Backup and restore").
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $setup = dirname(__FILE__) . '/every_part.sql';
my $tmp = PostgreSQL::Test::Utils::tempdir;

# jobs do not run in the source (retailiq.database names no database of it), so it stays still
my $src = PostgreSQL::Test::Cluster->new('source');
$src->init;
$src->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'retailiq'
retailiq.database = 'nothing_here'
jit = off
});
$src->start;
$src->safe_psql('postgres', q{
CREATE ROLE analyst LOGIN; CREATE ROLE manager_suzhou LOGIN; CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;
CREATE DATABASE shop;});
$src->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $src->connstr('shop'), '-f', $setup],
	'the documented set-up of every part');
$src->safe_psql('shop', q{
CREATE TABLE ticks (at timestamptz DEFAULT clock_timestamp());
SELECT retailiq.schedule('tick', '@every 1 second', 'INSERT INTO ticks DEFAULT VALUES');
-- a model in a user's own column, beside the saved ones
CREATE TABLE my_models AS SELECT 'rules'::text AS name, retailiq.load_model('basket_rules') AS m;});

# What must come back, as text: compared between the source and each restored database.
my %state = (
	audit => q{SELECT string_agg(format('%s %s %s %s %s', id, logged_at, actor, action, encode(row_hash, 'hex')), E'\n' ORDER BY id)
	             || E'\nhead ' || (SELECT last_id || ' ' || encode(last_hash, 'hex') FROM retailiq.audit_head)
	             || E'\npartitions ' || (SELECT string_agg(c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid), ', ' ORDER BY c.relname)
	                                       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	                                      WHERE i.inhparent = 'retailiq.audit_log'::regclass)
	           FROM retailiq.audit_log},
	labels => q{SELECT string_agg(format('%s %s', pg_describe_object(classoid, objoid, objsubid), label), E'\n' ORDER BY pg_describe_object(classoid, objoid, objsubid))
	            FROM pg_seclabel WHERE provider = 'retailiq'},
	masking => q{SELECT string_agg(format('%s %s %s', c.relname, c.relkind, pg_get_userbyid(c.relowner)), ', ' ORDER BY c.relname)
	             FROM pg_class c WHERE c.relnamespace = 'retailiq_mask'::regnamespace},
	masked_rows => q{SELECT md5(string_agg(m::text, ',' ORDER BY m::text)) FROM retailiq_mask.customers__masked_rows m},
	policies => q{SELECT string_agg(format('%s %s %s', tablename, policyname, qual), E'\n' ORDER BY policyname)
	              || (SELECT string_agg(relname || ' rls ' || relrowsecurity, ',') FROM pg_class WHERE oid = 'retail.daily_sales'::regclass)
	              FROM pg_policies WHERE schemaname = 'retail'},
	stores => q{SELECT string_agg(format('%s %s', role_name, store_id), ', ' ORDER BY role_name::text, store_id) FROM retailiq.store_access},
	approvals => q{SELECT string_agg(format('%s %s %s %s %s', id, action, args, status, requested_by), E'\n' ORDER BY id) FROM retailiq.approval},
	jobs => q{SELECT string_agg(format('%s %s %s %s %s', job_name, schedule, command, owner, enabled), E'\n' ORDER BY job_name) FROM retailiq.job WHERE NOT builtin},
	models => q{SELECT string_agg(format('%s %s %s', name, version, md5(model::text)), E'\n' ORDER BY name, version) FROM retailiq.models},
	my_models => q{SELECT md5(m::text) FROM my_models},
	sources => q{SELECT string_agg(format('%s %s %s %s', role, name, relation, columns), E'\n' ORDER BY role, name) FROM retailiq.source},
	tag_rules => q{SELECT string_agg(format('%s %s %s', tag, condition, enabled), E'\n' ORDER BY tag) FROM retailiq.tag_rule},
	forecasts => q{SELECT count(*) || ' ' || md5(string_agg(f::text, ',' ORDER BY f::text)) FROM retailiq.forecast_result f},
	pseudonym_key => q{SELECT md5(key::text) FROM retailiq.pseudonym_key},
	alerts_trigger => q{SELECT string_agg(tgname, ',') FROM pg_trigger WHERE tgrelid = 'retail.inventory'::regclass AND NOT tgisinternal},
);
my %as_role = (
	analyst => q{SELECT md5(string_agg(c::text, ',' ORDER BY c::text)) FROM customers c},
	manager_suzhou => q{SELECT string_agg(DISTINCT store_id::text, ',') FROM retail.daily_sales},
);

sub snapshot
{
	my ($node, $db) = @_;
	my %s;
	$s{$_} = $node->safe_psql($db, $state{$_}) for keys %state;
	$s{"as $_"} = $node->safe_psql($db, $as_role{$_}, extra_params => ['-U', $_]) for keys %as_role;
	return \%s;
}

my $before = snapshot($src, 'shop');
is($before->{'as manager_suzhou'}, '3', 'the store manager sees store 3 only');
like($before->{audit}, qr/security_label/, 'the set-up left audit records');

# checks every restored database gets
sub check_restored
{
	my ($node, $db, $how) = @_;
	my $after = snapshot($node, $db);
	is($after->{$_}, $before->{$_}, "$how: $_ as before") for sort keys %$before;
	is($node->safe_psql($db, 'SELECT count(*) FROM retailiq.audit_verify()'), '0', "$how: audit_verify() is clean");
	# the next record chains on from the restored head, and the chain still verifies
	my $last = $node->safe_psql($db, 'SELECT last_id FROM retailiq.audit_head');
	$node->safe_psql($db, q{SELECT retailiq.grant_store('manager_suzhou', 2)});
	is($node->safe_psql($db, q{SELECT id || ' ' || action FROM retailiq.audit_log ORDER BY id DESC LIMIT 1}),
		($last + 1) . ' grant_store', "$how: the next audit record follows the restored head");
	is($node->safe_psql($db, 'SELECT count(*) FROM retailiq.audit_verify()'), '0', "$how: and the chain verifies");
	is($node->safe_psql($db, q{SELECT string_agg(DISTINCT store_id::text, ',' ORDER BY store_id::text) FROM retail.daily_sales},
		extra_params => ['-U', 'manager_suzhou']), '2,3', "$how: store security follows store_access");
	# the approval made before the dump is used once by its requester
	is($node->safe_psql($db, q{SELECT count(*) FROM retailiq.export_unmasked('retail.customers')}, extra_params => ['-U', 'alice']),
		'300', "$how: the restored approval lets alice export once");
	my ($ret, $out, $err) = $node->psql($db, q{SELECT retailiq.export_unmasked('retail.customers')}, extra_params => ['-U', 'alice']);
	like($err, qr/approv/, "$how: and only once");
	# the masked role still cannot reach raw rows
	($ret, $out, $err) = $node->psql($db, q{SELECT phone FROM retail.customers LIMIT 1}, extra_params => ['-U', 'analyst']);
	isnt($ret, 0, "$how: the masked role is refused the raw table");
	# models load and predict
	is($node->safe_psql($db, q{SELECT count(*) > 0 FROM retailiq.recommend(ARRAY[1]::bigint[], retailiq.load_model('basket_rules'), 3)}),
		't', "$how: the saved model loads and recommends");
	# the stored masked rows follow new rows (their triggers came back)
	$node->safe_psql($db, q{INSERT INTO retail.customers
		SELECT 100000, 'New Customer', '+86 139 1234 5678', 'new@example.com', birth_date, gender, city, home_store_id, signup_date
		  FROM retail.customers LIMIT 1});
	is($node->safe_psql($db, q{SELECT count(*) FROM customers WHERE full_name IS NULL}, extra_params => ['-U', 'analyst']),
		'301', "$how: a new customer reaches the masked rows");
}

# 1. custom format, pg_restore --exit-on-error into a new database
my $dump = "$tmp/shop.dump";
$src->command_ok(['pg_dump', '-Fc', '-f', $dump, '-d', $src->connstr('shop')], 'pg_dump -Fc');
$src->safe_psql('postgres', 'CREATE DATABASE shop_custom');
$src->command_ok(['pg_restore', '--exit-on-error', '-d', $src->connstr('shop_custom'), $dump],
	'pg_restore --exit-on-error: no error');
check_restored($src, 'shop_custom', 'custom');

# 2. plain format, psql with ON_ERROR_STOP
my $plain = "$tmp/shop.sql";
$src->command_ok(['pg_dump', '-f', $plain, '-d', $src->connstr('shop')], 'pg_dump (plain)');
$src->safe_psql('postgres', 'CREATE DATABASE shop_plain');
$src->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $src->connstr('shop_plain'), '-f', $plain],
	'psql ON_ERROR_STOP: no error');
check_restored($src, 'shop_plain', 'plain');

# 3. pg_dumpall into a new cluster whose bootstrap superuser is another role (pg_dumpall's
#    CREATE ROLE of the role restoring it would fail), with jobs enabled for shop
$src->safe_psql('postgres', 'DROP DATABASE shop_custom; DROP DATABASE shop_plain');
my $all = "$tmp/all.sql";
$src->command_ok(['pg_dumpall', '-f', $all, '-d', $src->connstr('postgres')], 'pg_dumpall');
my $dst = PostgreSQL::Test::Cluster->new('target');
$dst->init(extra => ['-U', 'restorer']);
$dst->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'retailiq'
retailiq.database = 'shop'
retailiq.scheduler_naptime = '200ms'
jit = off
});
$dst->start;
$dst->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', 'restorer', '-d', $dst->connstr('postgres'), '-f', $all],
	'pg_dumpall output restores into a new cluster with ON_ERROR_STOP: no error');
check_restored($dst, 'shop', 'dumpall');
ok($dst->poll_query_until('shop', q{SELECT count(*) >= 2 FROM ticks}), 'dumpall: jobs run again in the new cluster');
is($dst->safe_psql('shop', q{SELECT count(*) FROM retailiq.job_run WHERE job_name = 'tick' AND status = 'failed'}), '0',
	'dumpall: and succeed');

$src->stop;
$dst->stop;
done_testing();

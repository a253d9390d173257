# privacy without shared_preload_libraries: a masked role's sessions load retailiq through
# the session_preload_libraries that apply_masking gives the role, so the hooks are in place
# even when a DBA grants the role the raw table again; the role cannot switch that off;
# pg_dump as the masked role gets no raw value; the label provider needs the library loaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('privacy');
$node->init;
$node->append_conf('postgresql.conf', "jit = off\n");
$node->start;

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '', 'retailiq is not preloaded');
$node->safe_psql('postgres', q{
CREATE EXTENSION retailiq;
CREATE TABLE customers (customer_id int PRIMARY KEY, phone text, email text);
INSERT INTO customers SELECT i, '+86 139 0000 ' || lpad(i::text, 4, '0'), 'user' || i || '@example.com'
  FROM generate_series(1, 50) i;
CREATE ROLE analyst LOGIN;
GRANT SELECT ON customers TO analyst;
});

# a fresh session has not loaded the library: the provider is unknown until LOAD
my ($ret, $out, $err) = $node->psql('postgres',
	q{SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2)'});
like($err, qr/security label provider "retailiq" is not loaded/, 'SECURITY LABEL needs the library loaded');

$node->safe_psql('postgres', q{
LOAD 'retailiq';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2)';
SECURITY LABEL FOR retailiq ON COLUMN customers.email IS 'MASKED WITH FUNCTION retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON ROLE analyst IS 'MASKED';
SELECT retailiq.apply_masking();
-- the DBA's later mistake
GRANT SELECT ON customers TO analyst;
});

my $analyst = $node->connstr('postgres') . ' user=analyst';
like($node->safe_psql('postgres', q{SELECT array_to_string(setconfig, ';') FROM pg_db_role_setting WHERE setrole = 'analyst'::regrole}),
	qr/session_preload_libraries=retailiq/, 'apply_masking set session_preload_libraries for the masked role');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_settings WHERE name = 'retailiq.audit_retention'}, extra_params => ['-U', 'analyst']),
	'1', 'a masked role\'s fresh session has retailiq loaded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM customers WHERE phone LIKE '+86*%'}, extra_params => ['-U', 'analyst']),
	'50', 'the ordinary name gives masked rows');
($ret, $out, $err) = $node->psql('postgres', 'SELECT phone FROM public.customers', extra_params => ['-U', 'analyst']);
isnt($ret, 0, 'the granted base table is refused');
like($err, qr/masked role "analyst" cannot access table "customers" directly/, 'by the executor hook');
unlike($out, qr/0001/, 'and no raw phone came out');

# the role cannot turn the preload off at connection time
{
	local $ENV{PGOPTIONS} = '-c session_preload_libraries=';
	($ret, $out, $err) = $node->psql('postgres', 'SELECT phone FROM public.customers', extra_params => ['-U', 'analyst']);
	isnt($ret, 0, 'session_preload_libraries cannot be overridden by the masked role');
	like($err, qr/permission denied to set parameter "session_preload_libraries"/, 'it is a superuser setting');
}

# pg_dump as the masked role: fails, and prints no raw value
my ($stdout, $stderr) = run_command(['pg_dump', '--dbname', $analyst, '--table', 'public.customers', '--data-only']);
unlike($stdout, qr/\+86 139 0000/, 'pg_dump of the base table yields no raw phone');
like($stderr, qr/cannot access table "customers" directly|permission denied/, 'pg_dump is refused');

# an unmasked role is unaffected
$node->safe_psql('postgres', 'CREATE ROLE clerk LOGIN; GRANT SELECT ON customers TO clerk;');
is($node->safe_psql('postgres', q{SELECT count(*) FROM public.customers WHERE phone LIKE '+86 139%'}, extra_params => ['-U', 'clerk']),
	'50', 'an unmasked role reads raw values');

$node->stop;
done_testing();

-- A role that is not a superuser, running split aggregates over distributed tables. Citus
-- checks EXECUTE on the support functions of an aggregate it splits (worker_partial_agg,
-- coord_combine_agg) for the calling role; one node checks only the aggregate. The support
-- functions are not PUBLIC, so the DBA grants them to the roles that need them with
-- retailiq.grant_distributed_aggregates (here and on every worker). (Run after 50_forecast,
-- which builds one.fc / retail.fc.)
SET client_min_messages = warning;
CREATE ROLE citus_grantee LOGIN;
GRANT USAGE ON SCHEMA retail, one TO citus_grantee;
GRANT SELECT ON retail.fc, one.fc TO citus_grantee;
RESET client_min_messages;
SET ROLE citus_grantee;
SELECT retailiq.wape(actual, forecast) > 0 AS one_node_works FROM one.fc;
\set VERBOSITY terse
SELECT retailiq.wape(actual, forecast) FROM retail.fc;
-- granting is the extension owner's (or a superuser's)
SELECT retailiq.grant_distributed_aggregates('citus_grantee');
\set VERBOSITY default
RESET ROLE;
SELECT retailiq.grant_distributed_aggregates('citus_grantee') > 0 AS granted;
-- the same grants on the workers
SELECT bool_and(result::int > 0) AS granted_on_workers
FROM run_command_on_workers($$SELECT count(*) FROM pg_proc p WHERE has_function_privilege('citus_grantee', p.oid, 'EXECUTE')
                                 AND p.oid IN (SELECT aggcombinefn FROM pg_aggregate)
                                 AND p.pronamespace = 'retailiq_internal'::regnamespace$$);
SET ROLE citus_grantee;
SELECT abs((SELECT retailiq.wape(actual, forecast) FROM retail.fc) - (SELECT retailiq.wape(actual, forecast) FROM one.fc)) < 1e-12 AS wape_agrees,
       abs((SELECT retailiq.rmse(actual, forecast) FROM retail.fc) - (SELECT retailiq.rmse(actual, forecast) FROM one.fc)) < 1e-9 AS rmse_agrees;
RESET ROLE;
-- and taken back
SELECT retailiq.grant_distributed_aggregates('citus_grantee', revoke => true) > 0 AS revoked;
SET ROLE citus_grantee;
\set VERBOSITY terse
SELECT retailiq.wape(actual, forecast) FROM retail.fc;
\set VERBOSITY default
RESET ROLE;
SELECT retailiq.grant_distributed_aggregates(NULL);

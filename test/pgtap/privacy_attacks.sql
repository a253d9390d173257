-- privacy: a masked role attacks the masking by every path it has. No raw value of a
-- masked column may reach it: not by the table's qualified name, a view, a function, COPY,
-- statistics, planner estimators, error messages, search_path, nor after a DBA grants it
-- the table again. Everything runs in one transaction that is rolled back.
BEGIN;
SELECT plan(51);
SET LOCAL jit = off;
SET LOCAL client_min_messages = warning;

DO $$ BEGIN PERFORM retailiq.generate_sample_data('tap_priv', 300, 5, 40, 120, 7); END $$;
-- a partitioned table with a masking rule: its partitions are covered too
CREATE TABLE tap_priv.visits (visit_id int, customer_id int, phone text, day date) PARTITION BY RANGE (day);
CREATE TABLE tap_priv.visits_2026 PARTITION OF tap_priv.visits FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO tap_priv.visits SELECT customer_id, customer_id, phone, '2026-03-01' FROM tap_priv.customers;

SECURITY LABEL FOR retailiq ON COLUMN tap_priv.customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN tap_priv.customers.full_name IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN tap_priv.customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2)';
SECURITY LABEL FOR retailiq ON COLUMN tap_priv.customers.email IS 'MASKED WITH FUNCTION retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN tap_priv.customers.city IS 'MASKED WITH VALUE ''(city)''';
SECURITY LABEL FOR retailiq ON COLUMN tap_priv.customers.birth_date IS 'MASKED WITH FUNCTION retailiq.generalize_date(birth_date, ''year'')';
SECURITY LABEL FOR retailiq ON COLUMN tap_priv.orders.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN tap_priv.visits.phone IS 'MASKED WITH VALUE NULL';
ANALYZE tap_priv.customers;

-- the raw values, for checking that none of them comes out (readable by the attacker)
CREATE TABLE public.tap_raw AS
SELECT v FROM tap_priv.customers, LATERAL (VALUES (full_name), (phone), (email), (city), (customer_id::text)) x(v);
-- what the attacker manages to see through side channels
CREATE TABLE public.tap_leaked (v text);

CREATE ROLE tap_analyst;
CREATE ROLE tap_analyst_member IN ROLE tap_analyst;
SECURITY LABEL FOR retailiq ON ROLE tap_analyst IS 'MASKED';
GRANT USAGE ON SCHEMA tap_priv TO tap_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA tap_priv TO tap_analyst;
GRANT SELECT ON public.tap_raw TO tap_analyst;
GRANT ALL ON public.tap_leaked TO tap_analyst;
GRANT CREATE ON SCHEMA public TO tap_analyst;
GRANT pg_write_server_files TO tap_analyst;
SELECT is(retailiq.apply_masking(), 3, 'apply_masking builds one view per labelled table');
SELECT ok(retailiq.is_masked('tap_analyst') AND retailiq.is_masked('tap_analyst_member')
          AND NOT retailiq.is_masked(current_user::regrole), 'masked: the labelled role and its members; not the superuser');
SELECT ok(NOT has_table_privilege('tap_analyst', 'tap_priv.customers', 'SELECT'), 'apply_masking revoked the direct grant');

-- a DBA's own view over the table, granted to the masked role
CREATE VIEW public.tap_dba_view AS SELECT * FROM tap_priv.customers;
GRANT SELECT ON public.tap_dba_view TO tap_analyst;
-- a DBA's SECURITY DEFINER function: runs as the DBA, but the session is still the analyst's
CREATE FUNCTION public.tap_dba_phones() RETURNS SETOF text LANGUAGE sql SECURITY DEFINER
    AS 'SELECT phone FROM tap_priv.customers';
-- a DBA's materialized views (a stored copy), directly and over a view, granted to the role
CREATE MATERIALIZED VIEW public.tap_dba_matview AS SELECT phone FROM tap_priv.customers;
CREATE MATERIALIZED VIEW public.tap_dba_matview2 AS SELECT phone FROM public.tap_dba_view;
CREATE MATERIALIZED VIEW public.tap_dba_matview_ok AS SELECT store_id FROM tap_priv.stores;
GRANT SELECT ON public.tap_dba_matview, public.tap_dba_matview2, public.tap_dba_matview_ok TO tap_analyst;

-- The attacker. The search_path is what apply_masking set for the role.
SET LOCAL ROLE tap_analyst;
SET LOCAL search_path = retailiq_mask, "$user", public;

SELECT is((SELECT count(*) FROM customers), 300::bigint, 'the ordinary name gives all rows');
SELECT is((SELECT count(*) FROM customers c JOIN tap_raw r ON r.v IN (c.full_name, c.phone, c.email, c.city, c.customer_id::text)),
          0::bigint, 'no raw value in any masked column');
SELECT is((SELECT count(*) FROM customers WHERE phone ~ '^\+86\*+[0-9]{2}$'), 300::bigint, 'phones show their prefix and last 2 digits only');
SELECT is((SELECT count(DISTINCT customer_id) FROM customers), 300::bigint, 'pseudonyms are distinct');
SELECT is((SELECT count(*) FROM orders o JOIN customers c USING (customer_id)),
          (SELECT count(*) FROM orders), 'pseudonymised ids join orders to customers');
SELECT ok((SELECT count(*) FROM (SELECT customer_id, retailiq.rfm_agg(ordered_at, total_amount, '2026-01-01') AS r
                                   FROM orders GROUP BY customer_id) s) > 0, 'RFM runs on masked data');

-- the base table, by any name
SELECT throws_ok('SELECT * FROM tap_priv.customers', '42501', NULL, 'qualified name refused');
SELECT throws_ok('SELECT phone FROM ONLY tap_priv.customers', '42501', NULL, 'ONLY refused');
SELECT throws_ok('TABLE tap_priv.orders', '42501', NULL, 'TABLE refused');
SELECT throws_ok('SELECT count(*) FROM tap_raw WHERE EXISTS (SELECT 1 FROM tap_priv.customers c WHERE c.phone = tap_raw.v)',
                 '42501', NULL, 'a subquery refused');
SELECT throws_ok('WITH c AS (SELECT phone FROM tap_priv.customers) SELECT * FROM c', '42501', NULL, 'a CTE refused');
SELECT throws_ok('SELECT * FROM tap_priv.visits', '42501', NULL, 'a partitioned table with rules refused');
SELECT throws_ok('SELECT * FROM tap_priv.visits_2026', '42501', NULL, 'its partition refused');
SET LOCAL search_path = tap_priv, public;
SELECT throws_ok('SELECT * FROM customers', '42501', NULL, 'changing search_path finds the base table, refused');
SET LOCAL search_path = retailiq_mask, "$user", public;
SELECT throws_ok('COPY tap_priv.customers TO ''/dev/null''', '42501', NULL, 'COPY table TO refused');
SELECT throws_ok('COPY (SELECT phone FROM tap_priv.customers) TO ''/dev/null''', '42501', NULL, 'COPY (query) TO refused');

-- views and functions
SELECT throws_ok('SELECT * FROM public.tap_dba_view', '42501', NULL, 'a DBA''s view granted to the role refused');
RESET ROLE;
SET LOCAL SESSION AUTHORIZATION tap_analyst;
SELECT throws_ok('SELECT public.tap_dba_phones()', '42501', NULL, 'a DBA''s SECURITY DEFINER function refused to a masked session');
SELECT throws_ok('SELECT * FROM public.tap_dba_matview', '42501', NULL, 'a DBA''s materialized view of the table refused');
SELECT throws_ok('SELECT * FROM public.tap_dba_matview2', '42501', NULL, 'a DBA''s materialized view over a view of it refused');
SELECT lives_ok('SELECT * FROM public.tap_dba_matview_ok', 'a materialized view of other tables is readable');
RESET SESSION AUTHORIZATION;
SET LOCAL ROLE tap_analyst;
CREATE VIEW public.tap_own_view AS SELECT * FROM tap_priv.customers;
SELECT throws_ok('SELECT * FROM public.tap_own_view', '42501', NULL, 'its own view refused');
CREATE FUNCTION public.tap_sql_fn() RETURNS SETOF text LANGUAGE sql AS 'SELECT phone FROM tap_priv.customers';
SELECT throws_ok('SELECT public.tap_sql_fn()', '42501', NULL, 'its own SQL function refused');
CREATE FUNCTION public.tap_plpgsql_fn() RETURNS text LANGUAGE plpgsql AS
    $$ DECLARE x text; BEGIN EXECUTE 'SELECT phone FROM tap_priv.customers LIMIT 1' INTO x; RETURN x; END $$;
SELECT throws_ok('SELECT public.tap_plpgsql_fn()', '42501', NULL, 'its own PL/pgSQL dynamic SQL refused');
CREATE FUNCTION public.tap_definer_fn() RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT max(phone) FROM tap_priv.customers';
SELECT throws_ok('SELECT public.tap_definer_fn()', '42501', NULL, 'its own SECURITY DEFINER function refused');

-- the pseudonym key
SELECT throws_ok('SELECT key FROM retailiq.pseudonym_key', '42501', NULL, 'the pseudonym key is unreadable');
SELECT throws_ok('SELECT retailiq.export_unmasked(''tap_priv.customers'')', '42501', NULL, 'export_unmasked is not granted');

-- statistics
SELECT throws_ok('SELECT most_common_vals::text FROM pg_stats WHERE tablename = ''customers''', '42501', NULL, 'pg_stats refused');
SELECT throws_ok('SELECT * FROM pg_stats_ext', '42501', NULL, 'pg_stats_ext refused');

-- leaky functions and operators: they see masked values only
CREATE FUNCTION public.tap_leak(a text, b text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
    $$ BEGIN INSERT INTO public.tap_leaked VALUES (a), (b); RETURN a = b; END $$;
CREATE OPERATOR public.=== (FUNCTION = public.tap_leak, LEFTARG = text, RIGHTARG = text, RESTRICT = eqsel);
SELECT ok((SELECT count(*) FROM customers WHERE public.tap_leak(city, 'x')) = 0, 'a leaky function in WHERE ran');
SELECT ok((SELECT count(*) FROM customers WHERE city === 'Suzhou') = 0, 'a leaky operator with a selectivity estimator ran');
SELECT throws_ok('EXPLAIN SELECT * FROM tap_priv.customers WHERE city === ''Suzhou''', '42501', NULL,
                 'planning on the base table with a leaky estimator refused');
SELECT is((SELECT count(*) FROM tap_leaked l JOIN tap_raw r ON r.v = l.v AND l.v <> 'Suzhou'), 0::bigint,
          'the leaky function and estimator saw no raw value');
SELECT ok((SELECT count(*) FROM tap_leaked) > 0, 'the leak table did receive the masked values');

-- error messages carry masked values only
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS
    $$ BEGIN EXECUTE q; RETURN NULL; EXCEPTION WHEN OTHERS THEN RETURN SQLERRM; END $$;
SELECT is((SELECT count(*) FROM customers c, tap_raw r
            WHERE r.v LIKE '+86 %' AND pg_temp.error_of(format('SELECT %L::int', c.phone)) LIKE '%' || r.v || '%'),
          0::bigint, 'a cast error shows the masked phone, not the raw one');

-- DDL on the table, whatever the role is granted
RESET ROLE;
GRANT ALL ON tap_priv.customers TO tap_analyst;
SET LOCAL ROLE tap_analyst;
SELECT throws_ok('SELECT phone FROM tap_priv.customers', '42501', NULL, 'after a DBA grants SELECT again: still refused');
SELECT throws_ok('UPDATE tap_priv.customers SET city = city RETURNING phone', '42501', NULL, 'UPDATE ... RETURNING refused');
SELECT throws_ok('CREATE TRIGGER t BEFORE UPDATE ON tap_priv.customers FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()',
                 '42501', NULL, 'a trigger on the table refused');
SELECT throws_ok('CREATE RULE r AS ON UPDATE TO tap_priv.customers DO ALSO NOTHING', '42501', NULL, 'a rule refused');
SELECT throws_ok('CREATE POLICY p ON tap_priv.customers USING (true)', '42501', NULL, 'a policy refused');
SELECT throws_ok('ALTER TABLE tap_priv.customers ADD COLUMN x int', '42501', NULL, 'ALTER TABLE refused');
SELECT throws_ok('CREATE INDEX ON tap_priv.customers (phone)', '42501', NULL, 'an index refused');
SELECT throws_ok('CREATE STATISTICS s ON city, phone FROM tap_priv.customers', '42501', NULL, 'extended statistics refused');
SELECT throws_ok('ANALYZE tap_priv.customers', '42501', NULL, 'ANALYZE refused');

-- a member of the masked role is masked too; the session user counts as well as SET ROLE
RESET ROLE;
SET LOCAL ROLE tap_analyst_member;
SELECT throws_ok('SELECT phone FROM tap_priv.customers', '42501', NULL, 'a member of a masked role refused');
RESET ROLE;

-- parallel workers check the same (forced parallel plan)
SET LOCAL force_parallel_mode = on;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL ROLE tap_analyst;
SELECT throws_ok('SELECT count(*) FROM tap_priv.customers', '42501', NULL, 'refused under a parallel plan');
SELECT is((SELECT count(*) FROM customers c JOIN tap_raw r ON r.v = c.phone), 0::bigint, 'masked under a parallel plan');
RESET ROLE;

-- the unmasked owner still reads the raw table
SELECT is((SELECT count(*) FROM tap_priv.customers c JOIN tap_raw r ON r.v = c.phone), 300::bigint, 'a DBA reads raw values');

SELECT * FROM finish();
ROLLBACK;

-- Privacy: masking rules, a masked analyst, store managers, two-person approval, the audit chain
SET client_min_messages = warning;
-- The refusals this step shows on purpose, as rows: what was tried, and the error it got.
CREATE FUNCTION pg_temp.expect_refusal(attempt text, statement text)
RETURNS TABLE (tried text, outcome text, sqlstate text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN QUERY SELECT attempt, 'NOT refused: this is a bug'::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT attempt, 'refused: ' || SQLERRM, SQLSTATE;
END $$;
\echo 'Masking rules are security labels, first on the personal columns of the sample customers:'
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.full_name IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 4)';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.email IS 'MASKED WITH FUNCTION retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.birth_date IS 'MASKED WITH FUNCTION retailiq.generalize_date(birth_date, ''year'')';
SECURITY LABEL FOR retailiq ON COLUMN retail.orders.customer_id IS 'PSEUDONYMIZED';
\echo 'A masked analyst who may read the whole sample schema:'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'demo_analyst') THEN CREATE ROLE demo_analyst; END IF;
END $$;
GRANT USAGE ON SCHEMA retail TO demo_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA retail TO demo_analyst;
SECURITY LABEL FOR retailiq ON ROLE demo_analyst IS 'MASKED';
\echo 'What it could still read raw that identifies a customer (retailiq.masking_gaps):'
SELECT table_name, column_name, suggested_label, reason FROM retailiq.masking_gaps();
\echo 'so every copy of the customer id is pseudonymised too, and so are the order and event ids,'
\echo 'which the generator numbers customer by customer (their order would give the raw id away):'
SECURITY LABEL FOR retailiq ON COLUMN retail.events.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.planted_customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.orders.order_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.order_lines.order_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.events.event_id IS 'PSEUDONYMIZED';
SELECT table_name, column_name, rule FROM retailiq.masking_rules ORDER BY 1, 2;
SELECT count(*) AS gaps_left FROM retailiq.masking_gaps();
\echo 'The masking views built for the analyst:'
SELECT retailiq.apply_masking() AS masking_views;
-- a DBA's later mistake: the table granted to the masked role again
GRANT SELECT ON retail.customers TO demo_analyst;
SET ROLE demo_analyst;
SET search_path = retailiq_mask, retail, public;
SELECT customer_id, full_name, phone, email, birth_date, city FROM customers ORDER BY phone LIMIT 5;
\echo 'The analyst''s RFM still joins orders to customers, by pseudonym:'
SELECT c.city, count(DISTINCT c.customer_id) AS customers, round(sum(o.total_amount), 2) AS revenue
  FROM customers c JOIN orders o USING (customer_id) GROUP BY c.city ORDER BY revenue DESC LIMIT 5;
\echo 'Its events joined to its orders on store and time (store 3, one day) match by pseudonym, never a raw id:'
SELECT count(*) AS event_order_pairs, count(*) FILTER (WHERE e.customer_id = o.customer_id) AS same_customer,
       count(*) FILTER (WHERE e.customer_id <= 10000000) AS raw_sized_ids  -- pseudonyms are 63-bit
  FROM orders o JOIN events e ON e.store_id = o.store_id
   AND e.occurred_at BETWEEN o.ordered_at - interval '1 hour' AND o.ordered_at
 WHERE o.store_id = 3 AND e.store_id = 3
   AND o.ordered_at >= '2025-06-01' AND o.ordered_at < '2025-06-02'
   AND e.occurred_at >= '2025-05-31 23:00' AND e.occurred_at < '2025-06-02';
\echo 'and the raw table stays closed to it, by its qualified name, even after the grant:'
SELECT * FROM pg_temp.expect_refusal('the masked analyst reads retail.customers.phone',
                                     'SELECT phone FROM retail.customers LIMIT 1');
RESET ROLE;
RESET search_path;
\echo 'k-anonymity of (city, generalised birth year, gender) in the masked view:'
SELECT retailiq.k_anonymity('retailiq_mask.customers', ARRAY['city', 'birth_date', 'gender']) AS k_city_year_gender,
       retailiq.k_anonymity('retailiq_mask.customers', ARRAY['city', 'gender']) AS k_city_gender;

\echo 'Store managers see their own stores only:'
SELECT retailiq.create_standard_roles() \g /dev/null
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'demo_manager_3') THEN CREATE ROLE demo_manager_3 IN ROLE retailiq_store_manager; END IF;
END $$;
GRANT USAGE ON SCHEMA retail TO retailiq_store_manager;
SELECT retailiq.grant_store('demo_manager_3', 3) \g /dev/null
SELECT retailiq.enable_store_security('retail.daily_sales', 'store_id') \g /dev/null
SET ROLE demo_manager_3;
SELECT store_id, count(*) AS days_x_products, sum(revenue) AS revenue FROM retail.daily_sales GROUP BY store_id;
RESET ROLE;

\echo 'Two-person approval: an export needs a second admin, and is used once:'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'demo_alice') THEN CREATE ROLE demo_alice IN ROLE retailiq_admin; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'demo_bob') THEN CREATE ROLE demo_bob IN ROLE retailiq_admin; END IF;
END $$;
GRANT USAGE ON SCHEMA retail TO retailiq_admin;
GRANT SELECT ON retail.stores TO retailiq_admin;
SET SESSION AUTHORIZATION demo_alice;
SELECT retailiq.request_approval('export_unmasked', '{"table": "retail.stores"}') AS approval \gset
SELECT * FROM pg_temp.expect_refusal('demo_alice approves her own request',
                                     format('SELECT retailiq.approve(%s)', :approval));
SET SESSION AUTHORIZATION demo_bob;
\echo 'demo_bob approves it:'
SELECT retailiq.approve(:approval) \g /dev/null
SELECT id, action, status, requested_by, decided_by FROM retailiq.approval WHERE id = :approval;
SET SESSION AUTHORIZATION demo_alice;
SELECT count(*) AS exported_rows FROM retailiq.export_unmasked('retail.stores');
SELECT * FROM pg_temp.expect_refusal('demo_alice exports again with the same approval',
                                     'SELECT count(*) FROM retailiq.export_unmasked(''retail.stores'')');
RESET SESSION AUTHORIZATION;

\echo 'The audit log, and its hash chain verified:'
SELECT id, actor, action, left(details::text, 70) AS details FROM retailiq.audit_log ORDER BY id DESC LIMIT 8;
SELECT count(*) AS problems FROM retailiq.audit_verify();

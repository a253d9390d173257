-- privacy: masked rows stored beside a table (src/privacy/masking_copy.sql). A masked role
-- reads exactly what the view over the table computes (the rules applied to the table's rows
-- now, with the key now): after inserts, updates (of the key too), deletes, TRUNCATE, COPY,
-- an upsert, a change of the pseudonym key and of the labels (apply_masking). Tables where storing could
-- change what is seen keep the computed view. Nobody but the masking owner reads the
-- stored rows. Everything is rolled back.
BEGIN;
SELECT plan(28);
SET LOCAL client_min_messages = warning;

CREATE SCHEMA tap_mr;
CREATE TABLE tap_mr.customers (customer_id bigint PRIMARY KEY, full_name text, phone text, email text,
                               birth_date date, city text, store_id int);
INSERT INTO tap_mr.customers
SELECT i, 'Name ' || i, '+44 7700 ' || lpad(i::text, 6, '0'), 'user' || i || '@example.com',
       date '1950-01-01' + i * 37, (ARRAY['Leeds', 'York', 'Hull'])[1 + i % 3], 1 + i % 4
  FROM generate_series(1, 500) i;
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.customers.full_name IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2)';
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.customers.email IS 'MASKED WITH FUNCTION retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.customers.birth_date IS 'MASKED WITH FUNCTION retailiq.generalize_date(birth_date, ''year'')';
-- tables that keep the computed view: no primary key; a volatile rule; row security; a
-- partially masked key
CREATE TABLE tap_mr.nokey (customer_id bigint, phone text);
INSERT INTO tap_mr.nokey SELECT i, '0113 ' || i FROM generate_series(1, 10) i;
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.nokey.phone IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.nokey.customer_id IS 'PSEUDONYMIZED';
CREATE FUNCTION tap_mr.blur(d date) RETURNS date LANGUAGE sql VOLATILE AS 'SELECT d - (random() * 0)::int';
CREATE TABLE tap_mr.volatile (id int PRIMARY KEY, seen date);
INSERT INTO tap_mr.volatile VALUES (1, '2020-05-05');
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.volatile.seen IS 'MASKED WITH FUNCTION tap_mr.blur(seen)';
CREATE TABLE tap_mr.secured (id int PRIMARY KEY, phone text);
INSERT INTO tap_mr.secured VALUES (1, '0113 1');
ALTER TABLE tap_mr.secured ENABLE ROW LEVEL SECURITY;
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.secured.phone IS 'MASKED WITH VALUE NULL';
-- an immutable function owned by an ordinary role, who could replace its body: it would run
-- with the extension owner's rights in the triggers
CREATE ROLE tap_mr_dev;
CREATE FUNCTION tap_mr.tidy(t text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT upper(t)';
ALTER FUNCTION tap_mr.tidy(text) OWNER TO tap_mr_dev;
CREATE TABLE tap_mr.devfn (id int PRIMARY KEY, note text);
INSERT INTO tap_mr.devfn VALUES (1, 'x');
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.devfn.note IS 'MASKED WITH FUNCTION tap_mr.tidy(note)';
CREATE DOMAIN tap_mr.phone_text AS text CHECK (length(VALUE) < 40);
CREATE TABLE tap_mr.dom (id int PRIMARY KEY, phone tap_mr.phone_text);
INSERT INTO tap_mr.dom VALUES (1, '0113 1');
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.dom.phone IS 'MASKED WITH VALUE NULL';
CREATE TABLE tap_mr.partkey (code text PRIMARY KEY, note text);
INSERT INTO tap_mr.partkey VALUES ('ABC123', 'x');
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.partkey.code IS 'MASKED WITH FUNCTION retailiq.mask_partial(code, 1, 1)';

CREATE ROLE tap_mr_masked;
SECURITY LABEL FOR retailiq ON ROLE tap_mr_masked IS 'MASKED';
CREATE ROLE tap_mr_writer;
GRANT USAGE ON SCHEMA tap_mr TO tap_mr_masked, tap_mr_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA tap_mr TO tap_mr_masked;
GRANT SELECT, INSERT, UPDATE, DELETE ON tap_mr.customers TO tap_mr_writer;
SELECT retailiq.apply_masking();

-- what the view over the table computes now (the definition the stored rows must equal)
CREATE FUNCTION pg_temp.same() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    live text := format('SELECT %s FROM tap_mr.customers t', retailiq.masking_select_list('tap_mr.customers', 't'));
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((SELECT * FROM retailiq_mask.customers EXCEPT ALL %s)
                                          UNION ALL (%s EXCEPT ALL SELECT * FROM retailiq_mask.customers)) x', live, live)
       INTO n;
    RETURN n;
END
$f$;

SELECT ok(to_regclass('retailiq_mask.customers__masked_rows') IS NOT NULL, 'customers: masked rows stored');
SELECT ok(NOT EXISTS (SELECT FROM pg_depend d JOIN pg_rewrite w ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
                       WHERE w.ev_class = 'retailiq_mask.customers'::regclass AND d.refobjid = 'tap_mr.customers'::regclass),
          'its masking view reads the stored rows, not the table');
SELECT is(pg_temp.same(), 0::bigint, 'stored rows = the rules applied to the table');
SELECT set_eq($$SELECT customer_id FROM retailiq_mask.customers$$,
              $$SELECT retailiq.pseudonym(customer_id, key) FROM tap_mr.customers, retailiq.pseudonym_key$$,
              'pseudonyms are retailiq.pseudonym with the key');
SELECT is((SELECT count(*) FROM retailiq_mask.customers), 500::bigint, 'every row');
SELECT ok(to_regclass('retailiq_mask.nokey__masked_rows') IS NULL, 'no primary key: computed view');
SELECT ok(to_regclass('retailiq_mask.volatile__masked_rows') IS NULL, 'a rule calling a non-immutable function: computed view');
SELECT ok(to_regclass('retailiq_mask.secured__masked_rows') IS NULL, 'row security: computed view');
SELECT ok(to_regclass('retailiq_mask.partkey__masked_rows') IS NULL, 'a partially masked key: computed view');
SELECT ok(to_regclass('retailiq_mask.devfn__masked_rows') IS NULL, 'a rule calling an ordinary role''s function: computed view');
SELECT ok(to_regclass('retailiq_mask.dom__masked_rows') IS NULL, 'a column of a domain: computed view');

-- writes keep them current, whoever writes
SET LOCAL ROLE tap_mr_writer;
INSERT INTO tap_mr.customers VALUES (1001, 'New One', '+44 7700 999999', 'new@example.com', '1990-02-02', 'York', 2);
UPDATE tap_mr.customers SET phone = '+44 7700 123123', city = 'Hull' WHERE customer_id BETWEEN 10 AND 20;
UPDATE tap_mr.customers SET customer_id = customer_id + 5000 WHERE customer_id IN (30, 31);
DELETE FROM tap_mr.customers WHERE customer_id BETWEEN 40 AND 49;
RESET ROLE;
SELECT is(pg_temp.same(), 0::bigint, 'after an ordinary role''s insert, updates (of the key too) and delete');
SELECT is((SELECT count(*) FROM retailiq_mask.customers), 491::bigint, 'rows added and removed');
INSERT INTO tap_mr.customers VALUES (1001, 'X', '+44 1', 'x@example.com', '2000-01-01', 'Leeds', 1), (1002, 'Y', '+44 2', 'y@example.com', NULL, NULL, 1)
    ON CONFLICT (customer_id) DO UPDATE SET phone = excluded.phone;
SELECT is(pg_temp.same(), 0::bigint, 'after an upsert');
CREATE TEMP TABLE more AS SELECT customer_id + 2000 AS customer_id, full_name, phone, email, birth_date, city, store_id
  FROM tap_mr.customers WHERE customer_id < 100;
INSERT INTO tap_mr.customers SELECT * FROM more;
WITH d AS (DELETE FROM tap_mr.customers WHERE customer_id > 2050 AND customer_id < 3000 RETURNING *)
UPDATE tap_mr.customers c SET email = 'changed@example.com' FROM d WHERE c.customer_id = d.customer_id - 2000;
SELECT is(pg_temp.same(), 0::bigint, 'after an insert from a query and a writable CTE');
SAVEPOINT before_truncate;
TRUNCATE tap_mr.customers;
SELECT is((SELECT count(*) FROM retailiq_mask.customers), 0::bigint, 'TRUNCATE empties them');
ROLLBACK TO before_truncate;
SELECT is(pg_temp.same(), 0::bigint, 'a rolled-back TRUNCATE leaves them as they were');

-- a new key: every pseudonym computed again
CREATE TEMP TABLE old_ids AS SELECT customer_id FROM retailiq_mask.customers;
UPDATE retailiq.pseudonym_key SET key = retailiq.new_pseudonym_key();
SELECT is(pg_temp.same(), 0::bigint, 'after a new pseudonym key');
SELECT is((SELECT count(*) FROM retailiq_mask.customers c JOIN old_ids o USING (customer_id)), 0::bigint,
          'no pseudonym of the old key is left');

-- labels changed, then apply_masking (as set_masking_rule does)
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.customers.city IS 'MASKED WITH VALUE ''(city)''';
SELECT retailiq.apply_masking();
SELECT is((SELECT DISTINCT city FROM retailiq_mask.customers WHERE city IS NOT NULL), '(city)', 'a new rule is applied to the stored rows');
SELECT is(pg_temp.same(), 0::bigint, 'and they equal the new rules');
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.customers.birth_date IS 'MASKED WITH FUNCTION tap_mr.blur(birth_date)';
SELECT retailiq.apply_masking();
SELECT ok(to_regclass('retailiq_mask.customers__masked_rows') IS NULL
          AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'tap_mr.customers'::regclass AND tgname LIKE 'retailiq_masked_rows%'),
          'a non-immutable rule: the stored rows and their triggers are gone');
SELECT is(pg_temp.same(), 0::bigint, 'the computed view reads the same');
SECURITY LABEL FOR retailiq ON COLUMN tap_mr.customers.birth_date IS 'MASKED WITH FUNCTION retailiq.generalize_date(birth_date, ''year'')';
SELECT retailiq.apply_masking();
SELECT ok(to_regclass('retailiq_mask.customers__masked_rows') IS NOT NULL, 'stored again once the rules allow it');

-- nobody but the masking owner reads the stored rows
SET LOCAL ROLE tap_mr_masked;
SELECT ok((SELECT count(*) FROM retailiq_mask.customers WHERE full_name IS NOT NULL) = 0
          AND (SELECT count(*) FROM retailiq_mask.customers) > 0, 'the masked role reads masked rows through its view');
SELECT throws_ok($$SELECT * FROM retailiq_mask.customers__masked_rows$$, '42501', NULL, 'but not the stored rows themselves');
RESET ROLE;
SET LOCAL ROLE tap_mr_writer;
SELECT throws_ok($$SELECT * FROM retailiq_mask.customers__masked_rows$$, '42501', NULL, 'nor does a writer of the table');
SELECT throws_ok($$DELETE FROM retailiq_mask.customers__masked_rows$$, '42501', NULL, 'nor change them');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;

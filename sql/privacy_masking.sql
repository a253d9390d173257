-- privacy: masking functions, masking rules as security labels, masking views.
-- (The attacks on the masking are in test/pgtap/privacy_attacks.sql.)
SET client_min_messages = warning;

-- HMAC-SHA-256: RFC 4231 test cases 1, 2, 3, 4, 6 and 7 (published digests).
SELECT n, encode(retailiq.hmac_sha256(data, key), 'hex') = digest AS rfc4231
  FROM (VALUES
    (1, '\x0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b'::bytea, 'Hi There'::bytea,
        'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'),
    (2, 'Jefe', 'what do ya want for nothing?',
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'),
    (3, decode(repeat('aa', 20), 'hex'), decode(repeat('dd', 50), 'hex'),
        '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'),
    (4, '\x0102030405060708090a0b0c0d0e0f10111213141516171819', decode(repeat('cd', 50), 'hex'),
        '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'),
    (6, decode(repeat('aa', 131), 'hex'), 'Test Using Larger Than Block-Size Key - Hash Key First',
        '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'),
    (7, decode(repeat('aa', 131), 'hex'),
        'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
        '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2')
  ) v(n, key, data, digest)
 ORDER BY n;

-- The same as an HMAC built from PostgreSQL's own sha256() by RFC 2104, for every message
-- length from 0 to 300 bytes (all padding cases, one to six blocks) and keys of 1 to 150
-- bytes (short, block-sized and hashed keys): this checks the SHA-256 too.
CREATE FUNCTION pg_temp.key_pad(k bytea, pad int) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE b bytea := CASE WHEN length(k) > 64 THEN sha256(k) ELSE k END;
BEGIN
    b := b || decode(repeat('00', 64 - length(b)), 'hex');
    FOR i IN 0 .. 63 LOOP b := set_byte(b, i, get_byte(b, i) # pad); END LOOP;
    RETURN b;
END $$;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE retailiq.hmac_sha256(m, k) =
           sha256(pg_temp.key_pad(k, 92) || sha256(pg_temp.key_pad(k, 54) || m))) AS equal
  FROM (SELECT substr(decode(repeat('0123456789abcdef', 40), 'hex'), 1, len) AS m,
               decode(repeat(lpad(to_hex(len % 251), 2, '0'), 1 + len % 150), 'hex') AS k
          FROM generate_series(0, 300) len) t;

-- On x86-64 with the SHA extensions the compression runs on them; the same checks again with
-- the portable C compression (forced for the rest of this session).
SELECT retailiq.sha256_implementation() IN ('sha-ni', 'c') AS known_implementation;
SELECT retailiq.sha256_implementation(true) AS forced;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE retailiq.hmac_sha256(m, k) =
           sha256(pg_temp.key_pad(k, 92) || sha256(pg_temp.key_pad(k, 54) || m))) AS equal
  FROM (SELECT substr(decode(repeat('0123456789abcdef', 40), 'hex'), 1, len) AS m,
               decode(repeat(lpad(to_hex(len % 251), 2, '0'), 1 + len % 150), 'hex') AS k
          FROM generate_series(0, 300) len) t;
SELECT encode(retailiq.hmac_sha256('what do ya want for nothing?', 'Jefe'), 'hex') =
       '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843' AS rfc4231_case_2;

-- Keyed pseudonyms: stable, 63-bit positive for integers, 32 hex digits for text.
INSERT INTO retailiq.pseudonym_key (key) VALUES (decode(repeat('5a', 32), 'hex'))
    ON CONFLICT (id) DO UPDATE SET key = excluded.key;
SELECT retailiq.pseudonym(42::bigint, key) AS p42, retailiq.pseudonym(42::bigint, key) AS again,
       retailiq.pseudonym(43::bigint, key) AS p43, retailiq.pseudonym('alice@example.com', key) AS ptext
  FROM retailiq.pseudonym_key;
-- the integer pseudonym is the first 8 bytes of HMAC(key, value as 8 big-endian bytes), sign bit cleared
SELECT retailiq.pseudonym(42::bigint, key) =
       ('x' || encode(substr(retailiq.hmac_sha256('\x000000000000002a', key), 1, 8), 'hex'))::bit(64)::bigint
       & 9223372036854775807 AS matches_hmac
  FROM retailiq.pseudonym_key;
-- no collisions among 100,000 ids; another key gives other pseudonyms
SELECT count(DISTINCT retailiq.pseudonym(i, key)) AS distinct_pseudonyms,
       count(*) FILTER (WHERE retailiq.pseudonym(i, key) = retailiq.pseudonym(i, decode(repeat('5b', 32), 'hex'))) AS same_under_other_key,
       min(retailiq.pseudonym(i, key)) > 0 AS all_positive
  FROM retailiq.pseudonym_key, generate_series(1::bigint, 100000) i;
SELECT retailiq.pseudonym(1::bigint, 'short');

-- Partial masking keeps the ends; too-short values are masked entirely; characters, not bytes.
SELECT retailiq.mask_partial('+86 140 8211 9575', 3, 4) AS phone,
       retailiq.mask_partial('13800138000', 3, 4, 'X') AS pad_x,
       retailiq.mask_partial('abc', 2, 1) AS too_short,
       retailiq.mask_partial('张三丰先生', 1, 1) AS multibyte,
       retailiq.mask_partial('', 1, 1) AS empty;
SELECT retailiq.mask_partial('abc', -1, 1);
SELECT retailiq.mask_partial('abc', 1, 1, '**');

-- E-mail: first character, three asterisks whatever the length, the domain.
SELECT retailiq.mask_email('anna.liu1@example.com') AS e1, retailiq.mask_email('x@shop.cn') AS e2,
       retailiq.mask_email('no-at-sign') AS e3, retailiq.mask_email('@example.com') AS e4;

-- Noise: within the ratio, the same for the same value and seed, other for another seed.
SELECT bool_and(abs(retailiq.add_noise(v, 0.1) - v) <= 0.1 * abs(v)) AS bounded,
       bool_and(retailiq.add_noise(v, 0.1) = retailiq.add_noise(v, 0.1)) AS stable,
       count(*) FILTER (WHERE retailiq.add_noise(v, 0.1) <> v) > 9900 AS moved,
       count(*) FILTER (WHERE retailiq.add_noise(v, 0.1, 1) = retailiq.add_noise(v, 0.1, 2)) AS same_across_seeds,
       round(avg((retailiq.add_noise(v, 0.1) - v) / v)::numeric, 2) AS mean_relative_noise
  FROM (SELECT i * 1.37::float8 AS v FROM generate_series(1, 10000) i) t;
SELECT retailiq.add_noise(123.45::numeric, 0.0) AS no_noise, scale(retailiq.add_noise(123.45::numeric, 0.2)) AS keeps_scale,
       retailiq.add_noise('NaN'::float8, 0.5) AS nan;
SELECT retailiq.add_noise(1.0::float8, 1.5);

-- Generalisation.
SELECT retailiq.generalize_date('1997-08-24', 'month') AS month, retailiq.generalize_date('1997-08-24', 'quarter') AS quarter,
       retailiq.generalize_date('1997-08-24', 'year') AS year;
SELECT retailiq.generalize_date('1997-08-24', 'week');
SELECT retailiq.band(123.45, 50) AS amount, retailiq.band(-0.5, 10) AS negative,
       retailiq.age_band('1986-06-15', 10, '2026-06-14') AS age_39, retailiq.age_band('1986-06-15', 10, '2026-06-15') AS age_40,
       retailiq.age_band('2000-01-01', 5, '2026-01-01') AS age_26_by_5,
       retailiq.postcode_prefix('SW1A 1AA') AS uk, retailiq.postcode_prefix('200030', 2) AS cn;
SELECT retailiq.band(1, 0);

-- k-anonymity of a set of quasi-identifiers.
CREATE TABLE people (id int, city text, birth_year int, gender text);
INSERT INTO people SELECT i, CASE WHEN i <= 6 THEN 'Suzhou' ELSE 'Ningbo' END, 1990 + i % 2, 'F' FROM generate_series(1, 10) i;
SELECT retailiq.k_anonymity('people', ARRAY['city']) AS by_city,
       retailiq.k_anonymity('people', ARRAY['city', 'birth_year']) AS by_city_year,
       retailiq.k_anonymity('people', ARRAY['city', 'birth_year', 'id']) AS with_id;
SELECT retailiq.k_anonymity('people', ARRAY['postcode']);

-- Masking rules are security labels, checked when they are set.
CREATE TABLE customers (customer_id int PRIMARY KEY, full_name text, phone text, email text,
                        birth_date date, city text, spend numeric(12,2));
INSERT INTO customers VALUES
  (1, 'Anna Liu', '+86 140 8211 9575', 'anna.liu1@example.com', '1997-01-24', 'Suzhou', 1234.56),
  (2, 'Yuki Li', '+86 185 2353 7624', 'yuki.li2@example.com', '1948-09-14', 'Nanjing', 80.00);
CREATE TABLE orders (order_id int, customer_id int, amount numeric(12,2));
INSERT INTO orders VALUES (10, 1, 10.00), (11, 1, 20.00), (12, 2, 5.00);
SECURITY LABEL FOR retailiq ON COLUMN customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN customers.full_name IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 4)';
SECURITY LABEL FOR retailiq ON COLUMN customers.email IS 'masked with function retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN customers.birth_date IS 'MASKED WITH FUNCTION retailiq.generalize_date(birth_date, ''year'')';
SECURITY LABEL FOR retailiq ON COLUMN customers.city IS 'MASKED WITH VALUE ''(city)''';
SECURITY LABEL FOR retailiq ON COLUMN orders.customer_id IS 'PSEUDONYMIZED';
SELECT table_name, column_name, rule FROM retailiq.masking_rules ORDER BY table_name::text, column_name;
-- rejected rules
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION mask_partial(phone, 3, 4)';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION retailiq.no_such_function(phone)';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(no_such_column, 3, 4)';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial((SELECT phone FROM customers LIMIT 1), 3, 4)';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 4); DROP TABLE orders';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION pg_catalog.max(phone)';
SECURITY LABEL FOR retailiq ON COLUMN customers.spend IS 'MASKED WITH FUNCTION retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN customers.birth_date IS 'MASKED WITH VALUE ''not a date''';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH VALUE phone';
SECURITY LABEL FOR retailiq ON COLUMN customers.birth_date IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'HIDDEN';
SECURITY LABEL FOR retailiq ON COLUMN customers.phone IS 'MASKED WITH FUNCTION (';
SECURITY LABEL FOR retailiq ON TABLE customers IS 'MASKED';
-- the rule of a rejected label is unchanged
SELECT rule FROM retailiq.masking_rules WHERE column_name = 'phone';

-- Masking views: apply_masking() builds retailiq_mask.<table> for every labelled table.
CREATE ROLE priv_reg_analyst;
SECURITY LABEL FOR retailiq ON ROLE priv_reg_analyst IS 'MASKED';
SECURITY LABEL FOR retailiq ON ROLE priv_reg_analyst IS 'UNMASKED';
SELECT role_name FROM retailiq.masked_roles;
GRANT SELECT ON customers, orders TO priv_reg_analyst;
SELECT retailiq.apply_masking() AS views;
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner, c.reloptions
  FROM pg_class c WHERE c.relnamespace = 'retailiq_mask'::regnamespace ORDER BY 1;
SELECT has_table_privilege('priv_reg_analyst', 'customers', 'SELECT') AS base_grant_left,
       has_table_privilege('priv_reg_analyst', 'retailiq_mask.customers', 'SELECT') AS view_granted;
SELECT unnest(setconfig) AS setting FROM pg_db_role_setting
 WHERE setrole = 'priv_reg_analyst'::regrole ORDER BY 1;
SET ROLE priv_reg_analyst;
SET search_path = retailiq_mask, public;
SELECT * FROM customers ORDER BY phone;
-- pseudonymised ids still join, and analytics group by them
SELECT c.email, count(*) AS orders, sum(o.amount) AS amount
  FROM customers c JOIN orders o USING (customer_id) GROUP BY c.email ORDER BY 1;
SELECT count(*) FROM public.customers;
RESET ROLE;
RESET search_path;
-- the pseudonyms are those of the key
SELECT (SELECT customer_id FROM retailiq_mask.customers WHERE email LIKE 'a%') =
       retailiq.pseudonym(1::bigint, (SELECT key FROM retailiq.pseudonym_key)) AS same_pseudonym;

-- Masking gaps: columns a masked role can read that carry no rule but identify a customer.
-- A table of visits keyed by the raw customer id, granted to the analyst: apply_masking
-- builds the views all the same, warns, and masking_gaps says what to label.
CREATE TABLE visits (visit_id int, customer_id int REFERENCES customers, visited_on date);
INSERT INTO visits VALUES (1, 1, '2026-03-01'), (2, 2, '2026-03-02');
GRANT SELECT ON visits TO priv_reg_analyst;
SELECT retailiq.apply_masking() AS views;
SELECT * FROM retailiq.masking_gaps();
SECURITY LABEL FOR retailiq ON COLUMN visits.customer_id IS 'PSEUDONYMIZED';
SELECT retailiq.apply_masking() AS views;
SELECT count(*) AS gaps FROM retailiq.masking_gaps();
SET ROLE priv_reg_analyst;
SET search_path = retailiq_mask, public;
SELECT c.email, v.visited_on FROM visits v JOIN customers c USING (customer_id) ORDER BY 2;
RESET ROLE;
RESET search_path;

-- Static anonymisation: a masked copy.
SELECT retailiq.anonymize_copy('customers', 'customers_anon') AS rows;
SELECT full_name, phone, email, birth_date, city, spend FROM customers_anon ORDER BY phone;
SELECT retailiq.anonymize_copy('people', 'people_anon');

-- Clean up the cluster-wide role.
DROP SCHEMA retailiq_mask CASCADE;
DROP OWNED BY priv_reg_analyst;
DROP ROLE priv_reg_analyst;

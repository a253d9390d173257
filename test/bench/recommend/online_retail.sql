-- Online Retail (UCI) protocol P1 of ../shared/data/online_retail/README.md: every customer
-- with at least two purchase dates has the distinct products of his last purchase date held
-- back; everything else trains. psql variables: csv (the clean file).
\set ON_ERROR_STOP 1
CREATE TABLE orl (invoice_no text, stock_code text, description text, quantity int,
                  invoice_date timestamp, unit_price numeric, customer_id int, country text);
COPY orl FROM PROGRAM :'gunzip' (FORMAT csv, HEADER true);
-- products as bigint ids (the stock codes in order), back to codes for the scorer
CREATE TABLE orl_items AS
    SELECT stock_code, row_number() OVER (ORDER BY stock_code)::bigint AS product
    FROM (SELECT DISTINCT stock_code FROM orl) s;
CREATE TABLE orl_lines AS
    SELECT o.customer_id::bigint AS customer, i.product, o.quantity::float8 AS quantity,
           o.invoice_date AT TIME ZONE 'UTC' AS at, o.invoice_date::date AS day
    FROM orl o JOIN orl_items i USING (stock_code);
CREATE TABLE orl_last AS
    SELECT customer, max(day) AS last_day FROM orl_lines GROUP BY customer HAVING count(DISTINCT day) >= 2;
CREATE TABLE orl_test AS
    SELECT DISTINCT l.customer, l.product FROM orl_lines l JOIN orl_last t USING (customer)
    WHERE l.day = t.last_day;
CREATE TABLE orl_train AS
    SELECT l.* FROM orl_lines l LEFT JOIN orl_last t ON t.customer = l.customer AND t.last_day = l.day
    WHERE t.customer IS NULL;
ANALYZE;

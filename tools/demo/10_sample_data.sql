-- Sample data: a simulated retailer (customers, stores, products, orders, behaviour events, stock)
\echo 'retailiq.generate_sample_data(''retail'', customers, stores, products, days, seed):'
SELECT table_name AS "table", to_char(row_count, 'FM999,999,999') AS "rows"
FROM retailiq.generate_sample_data('retail', :customers, :stores, :products, :days, :seed);
\echo 'Registered as the tables churn, behaviour and reports read: retailiq.register_event_source(''retail'')'
SELECT retailiq.register_event_source('retail') \gset
SELECT role, relation, (SELECT count(*) FROM jsonb_object_keys(columns)) AS columns FROM retailiq.source ORDER BY role;
\echo 'What the simulation planted (checked by test/pgtap/sample_generator.sql):'
SELECT customer_type, count(*) AS customers, count(churn_date) AS churn_during_period
FROM retail.planted_customers GROUP BY 1 ORDER BY 2 DESC;
SELECT to_char(ordered_at AT TIME ZONE 'UTC', 'Dy') AS weekday, count(*) AS orders
FROM retail.orders GROUP BY 1, extract(isodow FROM ordered_at AT TIME ZONE 'UTC')
ORDER BY extract(isodow FROM ordered_at AT TIME ZONE 'UTC');

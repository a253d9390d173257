-- A small database using every part of retailiq, set up as README.md and doc/privacy.md
-- say (the round trips of test/t/060_dump_restore.pl and 070_remove_reinstall.pl use it).
-- Roles analyst, manager_suzhou, alice and bob exist (created by the test).
CREATE EXTENSION retailiq;
SELECT * FROM retailiq.generate_sample_data('retail', customers => 300, stores => 3, products => 20, days => 120);

-- models: a basket-rules model saved by name
SELECT retailiq.save_model('basket_rules',
       retailiq.rules_model(retailiq.assoc_rules_lines(order_id, product_id, 0.01, 0.2)))
FROM retail.order_lines;

-- forecasts: a registered sales source and one nightly refresh into forecast_result
CREATE VIEW sales_by_item AS
SELECT s.store_id || '/' || s.product_id AS series, s.store_id, s.product_id, s.day, s.units::float8 AS units
FROM retail.daily_sales s WHERE s.store_id = 1 AND s.product_id <= 3;
SELECT retailiq.register_sales_source('shop', 'sales_by_item', 'series', 'day', 'units', method => 'ets',
                                      store_column => 'store_id', product_column => 'product_id');
SELECT retailiq.refresh_forecasts(ARRAY[1, 7]);
SELECT retailiq.register_source('inventory', 'retail.inventory');

-- alerts: the stock trigger
CREATE TRIGGER low_stock AFTER INSERT OR UPDATE ON retail.inventory FOR EACH ROW
    EXECUTE FUNCTION retailiq.stock_alert('store_id,product_id', 'on_hand', 'reorder_level');

-- behaviour: a tag rule of our own, tags refreshed
SELECT retailiq.register_event_source('retail');
INSERT INTO retailiq.tag_rule (tag, condition) VALUES
  ('bakery_regular', '{"event": "dwell", "zone_name": "bakery", "min_count": 3, "window": "30 days"}');
SELECT count(*) FROM retailiq.refresh_tags('-infinity', '2025-12-31');

-- reports stored for a month
SELECT retailiq.refresh_report_days('2025-10-01', '2025-10-31');

-- privacy, doc/privacy.md's five steps
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.full_name   IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.phone       IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 4)';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.email       IS 'MASKED WITH FUNCTION retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN retail.customers.birth_date  IS 'MASKED WITH FUNCTION retailiq.generalize_date(birth_date, ''year'')';
SECURITY LABEL FOR retailiq ON COLUMN retail.orders.customer_id            IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.events.customer_id            IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.planted_customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.orders.order_id      IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.order_lines.order_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN retail.events.event_id      IS 'PSEUDONYMIZED';
GRANT USAGE ON SCHEMA retail TO analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA retail TO analyst;
SECURITY LABEL FOR retailiq ON ROLE analyst IS 'MASKED';
SELECT retailiq.apply_masking();
SELECT retailiq.create_standard_roles();
GRANT retailiq_store_manager TO manager_suzhou;
GRANT USAGE ON SCHEMA retail TO retailiq_store_manager;
GRANT SELECT ON retail.daily_sales TO retailiq_store_manager;
SELECT retailiq.grant_store('manager_suzhou', 3);
SELECT retailiq.enable_store_security('retail.daily_sales', 'store_id');
GRANT retailiq_admin TO alice, bob;
GRANT USAGE ON SCHEMA retail TO retailiq_admin;

-- an approval requested by alice, approved by bob
\c - alice
SELECT retailiq.request_approval('export_unmasked', '{"table": "retail.customers"}') AS approval_id \gset
\c - bob
SELECT retailiq.approve(:approval_id);
\c - postgres

-- a job
SELECT retailiq.schedule('nightly_rules', '0 2 * * *',
       $$SELECT retailiq.save_model('basket_rules', retailiq.rules_model(
             retailiq.assoc_rules_lines(order_id, product_id, 0.01, 0.2))) FROM retail.order_lines$$);

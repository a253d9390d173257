-- Forecast parameters under the two-person rule (doc/privacy.md, change_forecast_parameters):
-- an operator's change of a sales source or a planning threshold takes effect only with a
-- second admin's approval of exactly that change, and the audit log keeps the values before
-- and after. (test/isolation/specs/privacy_forecast_approval.spec runs it across sessions.)
SELECT retailiq.create_standard_roles();
CREATE ROLE fa_oper LOGIN;
CREATE ROLE fa_admin1 LOGIN;
CREATE ROLE fa_admin2 LOGIN;
GRANT retailiq_operator TO fa_oper;
GRANT retailiq_admin TO fa_admin1, fa_admin2;
GRANT retailiq_operator TO fa_admin1;
CREATE SCHEMA fa;
CREATE TABLE fa.sales (series text, day date, units float8);
INSERT INTO fa.sales SELECT s, date '2025-03-01' + i, 3 + i % 2 FROM unnest(ARRAY['x', 'y']) s, generate_series(0, 13) i;
GRANT USAGE ON SCHEMA fa TO PUBLIC;
GRANT SELECT ON fa.sales TO PUBLIC;

-- an operator alone: refused, and told the exact request to make
SET SESSION AUTHORIZATION fa_oper;
SELECT retailiq.register_sales_source('shop', 'fa.sales', 'series', 'day', 'units', method => 'ets');
SELECT retailiq.request_approval('change_forecast_parameters',
    '{"change": "register", "source": "shop", "relation": "fa.sales", "method": "ets", "options": {},
      "columns": {"date": "day", "value": "units", "series": "series", "factors": []}}') AS request \gset
SELECT retailiq.register_sales_source('shop', 'fa.sales', 'series', 'day', 'units', method => 'ets');
-- no one approves their own request
SET SESSION AUTHORIZATION fa_admin1;
SELECT retailiq.request_approval('change_forecast_parameters', '{"change": "threshold", "source": "", "name": "health_threshold", "value": 0.2}') AS own \gset
SELECT retailiq.approve(:own);
-- a second admin approves the operator's request: now (and only now) it takes effect, once
SET SESSION AUTHORIZATION fa_admin2;
SELECT retailiq.approve(:request);
SET SESSION AUTHORIZATION fa_oper;
SELECT name, relation, method, options FROM retailiq.sales_source WHERE name = 'shop';
SELECT (retailiq.register_sales_source('shop', 'fa.sales', 'series', 'day', 'units', method => 'ets')).method;
SELECT name, relation, method, options FROM retailiq.sales_source WHERE name = 'shop';
SET SESSION AUTHORIZATION fa_admin2;
SELECT status, decided_by FROM retailiq.approval WHERE id = :request;
SET SESSION AUTHORIZATION fa_oper;
SELECT retailiq.register_sales_source('shop', 'fa.sales', 'series', 'day', 'units', method => 'ets');
-- the operator runs the forecast: the refresh's bookkeeping needs no approval
SELECT retailiq.refresh_forecasts(ARRAY[1, 2], 'shop') AS written;
SELECT name, last_model_version, last_rows FROM retailiq.sales_source WHERE name = 'shop';
SELECT series, period_start, horizon FROM retailiq.forecast_issued WHERE source = 'shop' ORDER BY series;
-- an approval covers exactly its change: not another method, not a direct write
SELECT retailiq.request_approval('change_forecast_parameters',
    '{"change": "register", "source": "shop", "relation": "fa.sales", "method": "theta", "options": {},
      "columns": {"date": "day", "value": "units", "series": "series", "factors": []}}') AS theta \gset
SET SESSION AUTHORIZATION fa_admin2;
SELECT retailiq.approve(:theta);
SET SESSION AUTHORIZATION fa_oper;
SELECT retailiq.register_sales_source('shop', 'fa.sales', 'series', 'day', 'units', method => 'croston');
UPDATE retailiq.sales_source_state SET method = 'croston' WHERE name = 'shop';
UPDATE retailiq.source SET columns = columns || '{"value": "series"}' WHERE name = 'shop';
INSERT INTO retailiq.source (role, relation, columns) VALUES ('orders', 'fa.sales', '{}');
BEGIN;
SELECT (retailiq.register_sales_source('shop', 'fa.sales', 'series', 'day', 'units', method => 'theta')).method;
UPDATE retailiq.sales_source_state SET method = 'croston' WHERE name = 'shop';   -- approved theta, not croston
ROLLBACK;
SELECT name, method FROM retailiq.sales_source WHERE name = 'shop';
-- thresholds too
SELECT retailiq.set_planning_threshold('health_threshold', 0.2);
SELECT retailiq.request_approval('change_forecast_parameters', '{"change": "threshold", "source": "", "name": "health_threshold", "value": 0.2}') AS thr \gset
SET SESSION AUTHORIZATION fa_admin2;
SELECT retailiq.approve(:thr);
SET SESSION AUTHORIZATION fa_oper;
SELECT retailiq.set_planning_threshold('health_threshold', 0.2);
SELECT source, name, value, changed_by FROM retailiq.planning_threshold WHERE changed_by = 'fa_oper';
-- and removing a source
SELECT retailiq.unregister_sales_source('shop');
SELECT retailiq.request_approval('change_forecast_parameters', '{"change": "unregister", "source": "shop"}') AS unreg \gset
SET SESSION AUTHORIZATION fa_admin2;
SELECT retailiq.approve(:unreg);
SET SESSION AUTHORIZATION fa_oper;
SELECT retailiq.unregister_sales_source('shop');
SELECT count(*) AS sources FROM retailiq.sales_source WHERE name = 'shop';
RESET SESSION AUTHORIZATION;

-- the audit log: each change with its values before and after, and the approval used
SELECT actor, details ->> 'change' AS change, details ->> 'source' AS source, details -> 'before' AS before,
       details -> 'after' AS after, details ->> 'approval' IS NOT NULL AS approved
  FROM retailiq.audit_log WHERE action = 'forecast_parameters_changed' AND actor LIKE 'fa\_%' ORDER BY id;
SELECT count(*) AS broken FROM retailiq.audit_verify();

-- a superuser changes without an approval, audited all the same
SELECT retailiq.request_approval('change_forecast_parameters', '[]');
SELECT retailiq.set_planning_threshold('health_threshold', NULL);
SELECT actor, details -> 'before' AS before, details -> 'after' AS after, details -> 'approval' AS approval
  FROM retailiq.audit_log WHERE action = 'forecast_parameters_changed' ORDER BY id DESC LIMIT 1;

DELETE FROM retailiq.planning_threshold;
DELETE FROM retailiq.forecast_result WHERE model_name = 'forecast:shop';
DELETE FROM retailiq.forecast_issued WHERE source = 'shop';
DELETE FROM retailiq.models WHERE name = 'forecast:shop';
DELETE FROM retailiq.approval WHERE requested_by::text LIKE 'fa\_%';
DROP SCHEMA fa CASCADE;
DROP ROLE fa_oper, fa_admin1, fa_admin2;

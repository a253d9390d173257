-- Retention offers for a campaign budget (marketing, issue 25): expected value saved =
-- churn probability x CLV x the offer's effect, ranked by value per unit spent.
SET extra_float_digits = 0;
-- customer 1: high risk (0.8), lapsing, CLV 500: the win-back coupon (cost 5, 15% of the
-- risk) saves 0.8 x 500 x 0.15 = 60; the manager's call (cost 12, 25%) would save 100 but is
-- only for 'declining', so the general high-risk offer (cost 6, 15%) competes: the coupon wins.
-- customer 2: medium risk, declining, CLV 200: loyalty points (cost 3, 8%): 0.4 x 200 x 0.08 = 6.4.
-- customer 3: low risk: no offer pays.  customer 4: high risk but worthless (CLV 10): no offer pays.
SELECT rank, customer_id, tier, reason, offer, round(expected_value_saved::numeric, 2) AS saved,
       cost, round(net_value::numeric, 2) AS net, cumulative_cost, selected, why
FROM retailiq.retention_offers(8, ARRAY[1, 2, 3, 4]::bigint[], ARRAY[0.8, 0.4, 0.1, 0.9],
                               ARRAY[500, 200, 1000, 10], ARRAY['lapsing', 'declining', 'lapsing', 'lapsing']);
-- a bigger budget takes both; no reasons: each tier's general offer
SELECT rank, customer_id, offer, selected
FROM retailiq.retention_offers(100, ARRAY[1, 2]::bigint[], ARRAY[0.8, 0.4], ARRAY[500, 200]);
-- the offer table is the user's to edit: a cheaper, stronger win-back coupon
UPDATE retailiq.retention_offer SET cost = 2, effect = 0.3 WHERE action LIKE 'win-back offer%';
SELECT customer_id, offer, round(expected_value_saved::numeric, 2) AS saved
FROM retailiq.retention_offers(8, ARRAY[1]::bigint[], ARRAY[0.8], ARRAY[500], ARRAY['lapsing']);
-- bad input
SELECT * FROM retailiq.retention_offers(-1, ARRAY[1]::bigint[], ARRAY[0.5], ARRAY[100]);
SELECT * FROM retailiq.retention_offers(10, ARRAY[1, 2]::bigint[], ARRAY[0.5], ARRAY[100]);
SELECT * FROM retailiq.retention_offers(10, ARRAY[1]::bigint[], ARRAY[1.5], ARRAY[100]);
SELECT * FROM retailiq.retention_offers(10, ARRAY[1]::bigint[], ARRAY[0.5], ARRAY['NaN']::float8[]);
SELECT * FROM retailiq.retention_offers(NULL, ARRAY[1]::bigint[], ARRAY[0.5], ARRAY[100]);
INSERT INTO retailiq.retention_offer (action, cost, effect) VALUES ('free cake', 1, 2);
-- an ordinary role plans a campaign with no grant of its own: the strategy, the offers and
-- the churn reasons are readable by every role; changing them is not
CREATE ROLE crm_analyst;
SET ROLE crm_analyst;
SELECT count(*) FROM retailiq.retention_offers(50, ARRAY[1, 2]::bigint[], ARRAY[0.8, 0.4], ARRAY[500, 200]) WHERE selected;
SELECT count(*) > 0 AS reads_reasons FROM retailiq.churn_reason;
UPDATE retailiq.retention_offer SET cost = 0 WHERE action = 'no action';
DELETE FROM retailiq.retention_strategy;
RESET ROLE;
DROP OWNED BY crm_analyst;
DROP ROLE crm_analyst;
UPDATE retailiq.retention_offer SET cost = 5, effect = 0.15 WHERE action LIKE 'win-back offer%';

-- The replenishment backtest: one series replayed by hand, then policies compared on a small
-- sample shop (20 store x product series, 120 days; the last 28 replayed).
SET jit = off;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET extra_float_digits = 0;

-- replenishment_simulate returns {demand, sold, ordered, sum of end-of-period stock, periods,
-- stock-out periods, cycles, cycles served, start stock}. 'naive' orders what sold in the
-- last review period. History 2, 2; then demand 3, 0, 4, 1, 2, 2; lead 1, daily review,
-- starting with 1 unit:
--   period  order (sold last period)  arrives  stock before  demand  sold  lost  stock after
--   1       2 (history)                -        1             3       1     2     0
--   2       1                          2        2             0       0     0     2
--   3       0                          1        3             4       3     1     0
--   4       3                          0        0             1       0     1     0
--   5       0                          3        3             2       2     0     1
--   6       2                          0        1             2       1     1     0
-- 12 demanded, 7 sold, 8 ordered, stock 0+2+0+0+1+0 = 3, 4 stock-out periods; cycles (the
-- period after each review, 5 inside the replay): served in periods 2 and 5 only.
SELECT retailiq_internal.replenishment_simulate(ARRAY[2, 2, 3, 0, 4, 1, 2, 2]::float8[], 2, 1, 1, 'naive', 0.9, 1, 56,
                                                NULL, NULL) AS naive;
-- 'reorder_point' over a window of 2 periods (1, 3: mean 2, sd 1.414), lead 1 + review 1:
-- 2 x 2 + 1.2816 x 1.414 x sqrt(2) = 6.56, so it starts with 7 units; 'plan' with forecasts
-- of mean 2 and variance 2 per period: Poisson(4), whose 90% quantile is 7 (P(D <= 6) = 0.889).
SELECT retailiq_internal.replenishment_simulate(ARRAY[1, 3, 2]::float8[], 2, 1, 1, 'reorder_point', 0.9, NULL, 2,
                                                NULL, NULL) AS reorder_point,
       retailiq_internal.replenishment_simulate(ARRAY[1, 3, 2]::float8[], 2, 1, 1, 'plan', 0.9, NULL, 2,
                                                ARRAY[2, 2]::float8[], ARRAY[2, 2]::float8[]) AS plan;
SELECT retailiq_internal.replenishment_simulate(ARRAY[1, 3, 2]::float8[], 2, 1, 1, 'plan', 0.9, NULL, 2,
                                                ARRAY[2]::float8[], ARRAY[2]::float8[]);
SELECT retailiq_internal.replenishment_simulate(ARRAY[1, -3, 2]::float8[], 2, 1, 1, 'naive', 0.9, NULL, 2, NULL, NULL);
SELECT retailiq_internal.replenishment_simulate(ARRAY[1, 3, 2]::float8[], 3, 1, 1, 'naive', 0.9, NULL, 2, NULL, NULL);

-- Pooled service levels (the backtest's 'plan_pooled'): per series, the level of the cheapest
-- order-up-to stock such that the levels' mean reaches the target. Worked by hand with
-- Poisson demand over the protection period:
--   A, mean 0.2: F(0) = 0.8187, F(1) = 0.9825, F(2) = 0.9989; a unit more serves 0.1638, 0.0164
--   B, mean 0:   F(0) = 1 (no demand, no stock)
--   C, mean 1:   F(0) = 0.3679, F(1) = 0.7358, F(2) = 0.9197, F(3) = 0.9810, F(4) = 0.9963;
--                a unit more serves 0.3679, 0.1839, 0.0613, 0.0153
-- A and B at 90%: B's 1 leaves A 0.8 to reach; no stock gives A 0.8187 (mean 0.909).
-- A and C at 95%: holding each at 95% takes A 1 unit, C 3 (mean 0.982, 4 units); pooled,
-- C's third unit (0.0613) is dearer than the mean needs: A 1, C 2, mean 0.9511, 3 units.
-- With a floor of 0.93 no series goes below it: C needs its third unit (0.9810).
SELECT retailiq_internal.replenishment_pooled_levels(ARRAY[0.2, 0], ARRAY[0.2, 0], 0.9)::numeric(6,4)[] AS a_b_90,
       retailiq_internal.replenishment_pooled_levels(ARRAY[0.2, 1], ARRAY[0.2, 1], 0.95)::numeric(6,4)[] AS a_c_95,
       retailiq_internal.replenishment_pooled_levels(ARRAY[0.2, 1], ARRAY[0.2, 1], 0.95, 0.93)::numeric(6,4)[] AS floor_93,
       retailiq_internal.replenishment_pooled_levels('{}', '{}', 0.9) AS none;
-- A fast mover beside three slow ones at 70% without a floor: Poisson(50)'s units serve
-- little each (at most about 0.8 / 57 a unit up to its body), so the pooled target is bought
-- on the slow movers (one unit each: 3 x 0.9825 / 4 = 0.737) and the fast one is left
-- without stock (F(0) = e^-50); with a floor of 0.8 at 90% it keeps at least 80%.
SELECT retailiq_internal.replenishment_pooled_levels(ARRAY[0.2, 0.2, 0.2, 50], ARRAY[0.2, 0.2, 0.2, 50], 0.7)::numeric(6,4)[]
           AS no_floor,
       (retailiq_internal.replenishment_pooled_levels(ARRAY[0.2, 0.2, 0.2, 50], ARRAY[0.2, 0.2, 0.2, 50], 0.9, 0.8))[4] >= 0.8
           AS floored;
SELECT retailiq_internal.replenishment_pooled_levels(ARRAY[1, 2], ARRAY[1]::float8[], 0.9);
SELECT retailiq_internal.replenishment_pooled_levels(ARRAY[1, -2], ARRAY[1, 1]::float8[], 0.9);
SELECT retailiq_internal.replenishment_pooled_levels(ARRAY[1], ARRAY[1]::float8[], 1);
SELECT retailiq_internal.replenishment_pooled_levels(ARRAY[1], ARRAY[1]::float8[], 0.9, 0.95);
SELECT retailiq_internal.replenishment_pooled_levels(ARRAY[1], ARRAY[1]::float8[], NULL);
-- The simulation with a level per review: the 'plan' case above at 90% (7 units at the start),
-- then with levels 0.5 (Poisson(4)'s median, 4: P(D <= 3) = 0.433) and 0 (no stock ordered).
SELECT retailiq_internal.replenishment_simulate(ARRAY[1, 3, 2]::float8[], 2, 1, 1, 'plan', 0.9, NULL, 2,
                                                ARRAY[2, 2]::float8[], ARRAY[2, 2]::float8[], ARRAY[0.5]) AS median,
       retailiq_internal.replenishment_simulate(ARRAY[1, 3, 2]::float8[], 2, 1, 1, 'plan', 0.9, 0, 2,
                                                ARRAY[2, 2]::float8[], ARRAY[2, 2]::float8[], ARRAY[0]) AS nothing;
SELECT retailiq_internal.replenishment_simulate(ARRAY[1, 3, 2]::float8[], 2, 1, 1, 'plan', 0.9, NULL, 2,
                                                ARRAY[2, 2]::float8[], ARRAY[2, 2]::float8[], ARRAY[0.5, 0.5]);
SELECT retailiq_internal.replenishment_simulate(ARRAY[1, 3, 2]::float8[], 2, 1, 1, 'plan', 0.9, NULL, 2,
                                                ARRAY[2, 2]::float8[], ARRAY[2, 2]::float8[], ARRAY[1.5]);

SELECT count(*) AS tables FROM retailiq.generate_sample_data('bt', 300, 2, 10, 120, 7);
CREATE VIEW bt.sales_by_item AS
SELECT s.store_id || '/' || p.product_id AS series, s.store_id, p.product_id, c.day, coalesce(d.units, 0) AS units
  FROM bt.stores s CROSS JOIN bt.products p CROSS JOIN bt.calendar c
  LEFT JOIN bt.daily_sales d ON d.store_id = s.store_id AND d.product_id = p.product_id AND d.day = c.day;
SELECT name FROM retailiq.register_sales_source('bt', 'bt.sales_by_item', 'series', 'day', 'units',
                                               method => 'sba', store_column => 'store_id', product_column => 'product_id');

-- Each policy on the last 28 days, lead 2 days, daily review, 90%: the total row (series NULL)
-- sums the series; 'plan' refits every 7 days (4 fits; the notice says so when defaulted);
-- 'plan_pooled' orders from the same forecasts at the pooled levels.
SELECT b.policy, t.periods, t.demand, t.units_sold, round(t.fill_rate::numeric, 3) AS fill_rate,
       round(t.cycle_service_level::numeric, 3) AS csl, t.cycles, round(t.avg_on_hand::numeric, 1) AS avg_on_hand,
       t.stockout_days, t.units_ordered, round(t.turnover::numeric, 2) AS turnover
  FROM unnest(ARRAY['plan', 'plan_pooled', 'reorder_point', 'naive']) b(policy)
 CROSS JOIN LATERAL retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', 2, 1, 0.9,
                                                    b.policy, 7) t
 WHERE t.series IS NULL;
-- per series: 20 rows and the total; the total is the sum of the series
SELECT count(*) FILTER (WHERE series IS NOT NULL) AS series,
       sum(demand) FILTER (WHERE series IS NOT NULL) = sum(demand) FILTER (WHERE series IS NULL) AS demand_adds_up,
       bool_and(store_id || '/' || product_id = series) FILTER (WHERE series IS NOT NULL) AS keys
  FROM retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', 2, 1, 0.9, 'reorder_point');
-- the default refit schedule: at most 16 fits
SELECT count(*) FROM retailiq.replenishment_backtest('bt', date '2024-03-20', date '2024-04-29', 2, 1, 0.9, 'plan');

-- Bad input.
SELECT * FROM retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', -1, 1, 0.9, 'plan');
SELECT * FROM retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', 2, 0, 0.9, 'plan');
SELECT * FROM retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', 2, 1, 0, 'plan');
SELECT * FROM retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', 2, 1, 1, 'plan');
SELECT * FROM retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', 2, 1, 0.9, 'hope');
SELECT * FROM retailiq.replenishment_backtest('bt', date '2024-04-29', date '2024-04-02', 2, 1, 0.9, 'plan');
SELECT * FROM retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', 2, 2, 0.9, 'plan', 3);
SELECT * FROM retailiq.replenishment_backtest('nowhere', date '2024-04-02', date '2024-04-29', 2, 1, 0.9, 'plan');
SELECT * FROM retailiq.replenishment_backtest('bt', NULL, date '2024-04-29', 2, 1, 0.9, 'plan');

-- An ordinary role runs it on what it may read.
CREATE ROLE riq_bt_analyst LOGIN;
GRANT USAGE ON SCHEMA bt TO riq_bt_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA bt TO riq_bt_analyst;
SET ROLE riq_bt_analyst;
SELECT round(cycle_service_level::numeric, 3) AS csl
  FROM retailiq.replenishment_backtest('bt', date '2024-04-02', date '2024-04-29', 2, 1, 0.9, 'reorder_point')
 WHERE series IS NULL;
RESET ROLE;
DROP OWNED BY riq_bt_analyst;
DROP ROLE riq_bt_analyst;
SELECT retailiq.unregister_sales_source('bt', drop_forecasts => true);
DROP SCHEMA bt CASCADE;

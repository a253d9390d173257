-- replenishment: the backtest (doc/replenishment.md). A past period of a sales source
-- replayed period by period for a policy: demand is what sold, an order arrives after the
-- lead time, demand beyond the stock is lost. 'plan' orders up to the service-level
-- quantile of forecasts refitted on what was known at the time (the registered method and
-- options, rows before the refit date); 'reorder_point' up to mean x (L + R) + z x sd x
-- sqrt(L + R) of the last 8 weeks' demand; 'naive' orders what sold in the last review
-- period. The replay of each series is C (replenishment_simulate, simulate.c).

CREATE FUNCTION retailiq.replenishment_backtest(source text, from_date date, to_date date,
                                                lead_time int, review_period int, service_level float8,
                                                policy text DEFAULT 'plan', refit_every int DEFAULT NULL)
RETURNS TABLE (series text, store_id bigint, product_id bigint, periods int, demand float8,
               units_sold float8, fill_rate float8, cycle_service_level float8, cycles int,
               avg_on_hand float8, stockout_days int, units_ordered float8, turnover float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    src retailiq.sales_source;
    v_data text;
    v_pd int;
    v_first date;
    v_last date;
    v_n int;
    v_hist int;
    v_window int;
    v_l int;
    v_r int;
    v_reviews int;
    v_f int;
    v_fits int;
    v_origin date;
    v_model retailiq.model;
    v_fit_options jsonb;
    v_level float8;
    v_keys text;
    v_inventory boolean;
    j int;
BEGIN
    IF source IS NULL OR from_date IS NULL OR to_date IS NULL OR lead_time IS NULL
       OR review_period IS NULL OR service_level IS NULL OR policy IS NULL THEN
        RAISE EXCEPTION 'arguments of replenishment_backtest must not be NULL (refit_every excepted)'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Example: retailiq.replenishment_backtest(''store_sales'', ''2025-10-01'', ''2025-12-31'', 2, 1, 0.95, ''plan'').';
    END IF;
    IF lead_time < 0 OR lead_time > 3660 THEN
        RAISE EXCEPTION 'lead_time must be between 0 and 3660 days'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('lead_time is %s.', lead_time),
                  HINT = 'Pass the days between placing an order and receiving it.';
    END IF;
    IF review_period < 1 OR review_period > 3660 THEN
        RAISE EXCEPTION 'review_period must be between 1 and 3660 days'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('review_period is %s.', review_period),
                  HINT = 'Pass the days between two orders, e.g. 1 for a daily order, 7 for a weekly one.';
    END IF;
    IF NOT (service_level > 0 AND service_level < 1) THEN
        RAISE EXCEPTION 'service_level must be strictly between 0 and 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('service_level is %s.', service_level),
                  HINT = 'Pass the share of review cycles without a stock-out to aim for, e.g. 0.95.';
    END IF;
    IF policy NOT IN ('plan', 'plan_pooled', 'reorder_point', 'naive') THEN
        RAISE EXCEPTION 'policy "%" is not a replenishment policy', policy
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use plan, plan_pooled, reorder_point or naive.';
    END IF;
    IF to_date < from_date THEN
        RAISE EXCEPTION 'to_date must not be before from_date'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('from_date is %s, to_date %s.', from_date, to_date);
    END IF;
    src := retailiq_internal.sales_source_named(source);
    v_data := retailiq_internal.sales_source_query(src, false);

    -- the source's period (smallest gap between its dates) and the replayed periods
    EXECUTE format('SELECT min(d), min(g) FROM (SELECT d, d - lag(d) OVER (ORDER BY d) AS g'
                   ' FROM (SELECT DISTINCT a.d FROM (%s) a) x) y', v_data)
      INTO v_first, v_pd;
    IF v_pd IS NULL OR v_pd NOT IN (1, 7) THEN
        RAISE EXCEPTION 'sales source "%" is neither daily nor weekly', source
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Its dates are %s days apart at the closest.', coalesce(v_pd::text, 'never two')),
                  HINT = 'The backtest replays daily or weekly sales.';
    END IF;
    IF lead_time % v_pd <> 0 OR review_period % v_pd <> 0 THEN
        RAISE EXCEPTION 'lead_time and review_period must be whole periods of the source (% days)', v_pd
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('lead_time is %s, review_period %s.', lead_time, review_period),
                  HINT = 'For a weekly source pass 7, 14, ... days.';
    END IF;
    v_l := lead_time / v_pd;
    v_r := review_period / v_pd;
    v_first := v_first + ((greatest(from_date - v_first, 0) + v_pd - 1) / v_pd) * v_pd;
    v_last := v_first + ((to_date - v_first) / v_pd) * v_pd;
    IF v_last < v_first THEN
        RAISE EXCEPTION 'the period from % to % holds no date of sales source "%"', from_date, to_date, source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_n := (v_last - v_first) / v_pd + 1;
    v_window := 56 / v_pd;                       -- the classic policy's 8 weeks
    v_hist := greatest(v_window, v_r + v_l);
    v_reviews := (v_n + v_r - 1) / v_r;

    IF src.store_column IS NOT NULL AND src.product_column IS NOT NULL THEN
        v_keys := format('SELECT %1$I::text AS s, max(%2$I)::bigint AS store_id, max(%3$I)::bigint AS product_id'
                         ' FROM %4$s WHERE %1$I IS NOT NULL GROUP BY 1',
                         src.series_column, src.store_column, src.product_column, src.relation::text);
    ELSE
        v_keys := 'SELECT NULL::text AS s, NULL::bigint AS store_id, NULL::bigint AS product_id WHERE false';
    END IF;
    -- an earlier call in the same transaction left them (ON COMMIT DROP)
    IF to_regclass('pg_temp.riq_backtest_series') IS NOT NULL THEN
        DROP TABLE pg_temp.riq_backtest_series;
    END IF;
    IF to_regclass('pg_temp.riq_backtest_forecast') IS NOT NULL THEN
        DROP TABLE pg_temp.riq_backtest_forecast;
    END IF;
    IF to_regclass('pg_temp.riq_backtest_level') IS NOT NULL THEN
        DROP TABLE pg_temp.riq_backtest_level;
    END IF;
    -- per series: the demand of the history and replayed periods (no row: 0)
    EXECUTE format($q$
        CREATE TEMP TABLE riq_backtest_series ON COMMIT DROP AS
        WITH a AS MATERIALIZED (SELECT * FROM (%s) a WHERE a.d >= $1 AND a.d <= $2),
        g AS (SELECT g.d::date AS d FROM generate_series($1, $2, make_interval(days => $3)) g(d)),
        k AS (%s)
        SELECT s.s AS series, k.store_id, k.product_id,
               array_agg(coalesce(a.y, 0)::float8 ORDER BY g.d) AS y
          FROM (SELECT DISTINCT a.s FROM a) s
         CROSS JOIN g
          LEFT JOIN a ON a.s = s.s AND a.d = g.d
          LEFT JOIN k ON k.s = s.s
         GROUP BY s.s, k.store_id, k.product_id$q$, v_data, v_keys)
      USING v_first - v_hist * v_pd, v_last, v_pd;

    CREATE TEMP TABLE riq_backtest_forecast (series text, fit int, step int, mu float8, var float8)
        ON COMMIT DROP;
    CREATE TEMP TABLE riq_backtest_level (series text, k int, level float8) ON COMMIT DROP;
    IF policy IN ('plan', 'plan_pooled') THEN
        -- refits: at each review, or every refit_every days (a whole number of reviews)
        IF refit_every IS NOT NULL THEN
            IF refit_every < review_period OR refit_every % review_period <> 0 THEN
                RAISE EXCEPTION 'refit_every must be a whole number of review periods'
                    USING ERRCODE = 'invalid_parameter_value',
                          DETAIL = format('refit_every is %s, review_period %s.', refit_every, review_period);
            END IF;
            v_f := refit_every / v_pd;
        ELSE
            v_f := v_r * greatest(1, (v_reviews + 15) / 16);
            IF v_f > v_r THEN
                RAISE NOTICE 'refitting the forecasts every % days (% fits), not at each of the % reviews',
                             v_f * v_pd, (v_n + v_f - 1) / v_f, v_reviews
                    USING HINT = 'Pass refit_every => the review period to refit at each review (slower).';
            END IF;
        END IF;
        v_fits := (v_n + v_f - 1) / v_f;
        v_fit_options := retailiq_internal.sales_source_options(src.options);
        v_level := coalesce((v_fit_options ->> 'level')::float8, 0.8);
        FOR j IN 0 .. v_fits - 1 LOOP
            v_origin := v_first + j * v_f * v_pd;
            EXECUTE retailiq_internal.sales_source_fit_query(src, src.method, true, src.options ? 'history_days')
               INTO v_model
              USING src.method, v_fit_options, v_origin, (src.options ->> 'history_days')::int;
            CONTINUE WHEN v_model IS NULL;
            INSERT INTO riq_backtest_forecast
            SELECT f.series, j, f.step, mv.mean, mv.var
              FROM retailiq.forecast_all(v_model, v_f + v_l + v_r,
                       CASE WHEN cardinality(src.exog_columns) > 0
                                 AND (SELECT fm.factors FROM retailiq.forecast_methods fm WHERE fm.name = src.method)
                            THEN retailiq_internal.sales_source_future_exog(src, v_model, v_f + v_l + v_r, v_origin) END) f
             CROSS JOIN LATERAL retailiq_internal.replenishment_moments(f.yhat, f.yhat_lower, f.yhat_upper, v_level) mv
             WHERE f.series IN (SELECT b.series FROM riq_backtest_series b);
        END LOOP;
        CREATE INDEX ON riq_backtest_forecast (series, fit, step);
        ANALYZE riq_backtest_forecast;
    END IF;
    IF policy = 'plan_pooled' THEN
        -- at each review, the service levels of the series that make their mean the target at
        -- the least total stock, from each series' demand over lead time + review period;
        -- none below 2 x target - 1 (80% at a 90% target)
        INSERT INTO riq_backtest_level
        WITH s AS (
            SELECT b.series, k.k, sum(coalesce(f.mu, 0)) AS m, sum(coalesce(f.var, 0)) AS v
              FROM riq_backtest_series b
             CROSS JOIN generate_series(0, v_reviews - 1) k(k)
             CROSS JOIN generate_series(0, v_l + v_r - 1) i(i)
              LEFT JOIN riq_backtest_forecast f
                ON f.series = b.series AND f.fit = (k.k * v_r) / v_f
               AND f.step = k.k * v_r - ((k.k * v_r) / v_f) * v_f + i.i + 1
             GROUP BY b.series, k.k),
        a AS (
            SELECT s.k, array_agg(s.series ORDER BY s.series) AS ss,
                   retailiq_internal.replenishment_pooled_levels(array_agg(s.m ORDER BY s.series),
                                                                 array_agg(s.v ORDER BY s.series),
                                                                 service_level, 2 * service_level - 1) AS lv
              FROM s GROUP BY s.k)
        SELECT u.series, a.k, u.level FROM a CROSS JOIN LATERAL unnest(a.ss, a.lv) u(series, level);
        CREATE INDEX ON riq_backtest_level (series, k);
        ANALYZE riq_backtest_level;
    END IF;

    v_inventory := EXISTS (SELECT FROM retailiq.source s WHERE s.role = 'inventory')
                   AND src.store_column IS NOT NULL AND src.product_column IS NOT NULL;
    RETURN QUERY EXECUTE format($q$
        WITH inv AS (%s),
        sim AS (
            SELECT b.series, b.store_id, b.product_id,
                   retailiq_internal.replenishment_simulate(
                       b.y, $1, $2, $3, CASE $4 WHEN 'plan_pooled' THEN 'plan' ELSE $4 END, $5,
                       (SELECT sum(i.on_hand)::float8 FROM inv i
                         WHERE i.store_id = b.store_id AND i.product_id = b.product_id),
                       $6, fc.mu, fc.var,
                       (SELECT array_agg(l.level ORDER BY l.k) FROM riq_backtest_level l
                         WHERE l.series = b.series AND $4 = 'plan_pooled')) AS r
              FROM riq_backtest_series b
              LEFT JOIN LATERAL (
                  -- review k uses the newest fit at or before it: steps from the review on
                  SELECT array_agg(coalesce(f.mu, 0) ORDER BY k.k, i.i) AS mu,
                         array_agg(coalesce(f.var, 0) ORDER BY k.k, i.i) AS var
                    FROM generate_series(0, $7 - 1) k(k)
                   CROSS JOIN generate_series(0, $2 + $3 - 1) i(i)
                    LEFT JOIN riq_backtest_forecast f
                      ON f.series = b.series AND f.fit = (k.k * $3) / $8
                     AND f.step = k.k * $3 - ((k.k * $3) / $8) * $8 + i.i + 1
                   WHERE $4 IN ('plan', 'plan_pooled')) fc ON true),
        rows AS (
            SELECT s.series, s.store_id, s.product_id, s.r[5]::int AS periods, s.r[1] AS demand, s.r[2] AS sold,
                   s.r[8] AS served, s.r[7]::int AS cycles, s.r[4] / s.r[5] AS avg_on_hand,
                   s.r[6]::int AS stockouts, s.r[3] AS ordered
              FROM sim s)
        SELECT r.series, r.store_id, r.product_id, r.periods, r.demand, r.sold,
               r.sold / nullif(r.demand, 0), r.served / nullif(r.cycles, 0), r.cycles, r.avg_on_hand,
               r.stockouts, r.ordered, r.sold / nullif(r.avg_on_hand, 0)
          FROM rows r
        UNION ALL
        SELECT NULL, NULL, NULL, max(r.periods), sum(r.demand), sum(r.sold),
               sum(r.sold) / nullif(sum(r.demand), 0), sum(r.served) / nullif(sum(r.cycles), 0),
               sum(r.cycles)::int, sum(r.avg_on_hand), sum(r.stockouts)::int, sum(r.ordered),
               sum(r.sold) / nullif(sum(r.avg_on_hand), 0)
          FROM rows r
        ORDER BY 1 NULLS LAST$q$,
        CASE WHEN v_inventory
             THEN format('SELECT i.store_id::bigint AS store_id, i.product_id::bigint AS product_id, i.on_hand FROM %s i',
                         retailiq_internal.source_sql('inventory'))
             ELSE 'SELECT NULL::bigint AS store_id, NULL::bigint AS product_id, NULL::float8 AS on_hand WHERE false' END)
      USING v_hist, v_l, v_r, policy, service_level, v_window, v_reviews, coalesce(v_f, v_r);
END
$$;
COMMENT ON FUNCTION retailiq.replenishment_backtest(text, date, date, int, int, float8, text, int) IS
    'replays a past period of a sales source period by period under a replenishment policy (plan, reorder_point, naive): fill rate, cycle service level, average stock, stock-outs, units ordered and turnover per series and in total (series NULL)';

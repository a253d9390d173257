-- reports: the purchaser's daily page (doc/replenishment.md). The orders to place from the
-- replenishment plan (the stored nightly plan of the day, else computed now), the stock-outs
-- they avoid, and, where this installation has them, the slow movers and the forecast
-- health of the same source (looked up by signature: the page does not depend on them).

CREATE FUNCTION retailiq.report_purchaser(source text, as_of date DEFAULT NULL, store int DEFAULT NULL,
                                          max_rows int DEFAULT 50)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_date date;
    v_from text;
    k record;
    orders text;
    bars text;
    slow text;
    health text;
BEGIN
    IF source IS NULL OR max_rows IS NULL THEN
        RAISE EXCEPTION 'source and max_rows must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', HINT = 'Example: retailiq.report_purchaser(''store_sales'').';
    END IF;
    IF max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 10000'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('max_rows is %s.', max_rows);
    END IF;
    v_date := coalesce(as_of, (SELECT max(o.plan_date) FROM retailiq.order_plan o WHERE o.source = report_purchaser.source));
    CREATE TEMP TABLE riq_purchaser_plan ON COMMIT DROP AS
    SELECT o.store_id, o.product_id, o.on_hand, o.on_order, o.demand_mean, o.demand_quantile, o.order_qty,
           o.expected_fill_rate, o.days_of_cover, o.reason
      FROM retailiq.order_plan o
     WHERE o.source = report_purchaser.source AND o.plan_date = v_date
       AND (store IS NULL OR o.store_id = store);
    IF NOT EXISTS (SELECT FROM riq_purchaser_plan) THEN
        -- no stored plan for the day: compute it (with the caller's rights)
        v_from := 'computed now';
        INSERT INTO riq_purchaser_plan
        SELECT p.store_id, p.product_id, p.on_hand, p.on_order, p.demand_mean, p.demand_quantile, p.order_qty,
               p.expected_fill_rate, p.days_of_cover, p.reason
          FROM retailiq.replenishment_plan(source, as_of, CASE WHEN store IS NULL THEN NULL ELSE ARRAY[store::bigint] END) p;
        v_date := coalesce(as_of, v_date);
    ELSE
        v_from := 'the nightly plan';
    END IF;

    -- an expected stock-out averted: the stock and what is on order fall short of the expected
    -- demand over lead time + review period (at the forecasts' mean the series runs out before
    -- the delivery after this one), and today's order lifts it to at least that demand. An
    -- expectation from the forecasts: the page has no day-by-day record of the stock.
    SELECT count(*) FILTER (WHERE p.order_qty > 0) AS n_orders, coalesce(sum(p.order_qty), 0) AS units,
           count(*) FILTER (WHERE p.order_qty > 0 AND p.on_hand + p.on_order < p.demand_mean
                                AND p.on_hand + p.on_order + p.order_qty >= p.demand_mean) AS avoided,
           count(*) FILTER (WHERE p.on_hand <= 0) AS out_now,
           count(*) AS series,
           sum(p.expected_fill_rate * p.demand_mean) / nullif(sum(p.demand_mean), 0) AS fill
      INTO k FROM riq_purchaser_plan p;

    SELECT coalesce(string_agg(format('<tr><td>%s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td>'
                                      '<td class="num">%s</td><td class="num">%s</td><td class="num"><b>%s</b></td>'
                                      '<td class="num">%s</td><td class="num">%s</td><td>%s</td></tr>',
                                      p.store_id, p.product_id, retailiq_internal.fmt(p.on_hand::numeric),
                                      retailiq_internal.fmt(p.on_order::numeric),
                                      retailiq_internal.fmt(p.demand_mean::numeric, 1),
                                      retailiq_internal.fmt(p.demand_quantile::numeric),
                                      retailiq_internal.fmt(p.order_qty::numeric),
                                      retailiq_internal.fmt((100 * p.expected_fill_rate)::numeric, 1) || '%',
                                      retailiq_internal.fmt(p.days_of_cover::numeric, 1),
                                      retailiq_internal.html(p.reason)), '' ORDER BY p.rk), '')
      INTO orders
      FROM (SELECT q.*, row_number() OVER (ORDER BY q.on_hand + q.on_order - q.demand_mean, q.order_qty DESC,
                                                    q.store_id, q.product_id) AS rk
              FROM riq_purchaser_plan q WHERE q.order_qty > 0) p
     WHERE p.rk <= max_rows;
    SELECT retailiq_internal.svg_bars(array_agg('store ' || s.store_id ORDER BY s.units DESC, s.store_id),
                                      array_agg(s.units ORDER BY s.units DESC, s.store_id),
                                      array_agg(retailiq_internal.fmt(s.units::numeric) || ' units, ' || s.n || ' orders'
                                                ORDER BY s.units DESC, s.store_id), 900)
      INTO bars
      FROM (SELECT q.store_id, sum(q.order_qty) AS units, count(*) AS n FROM riq_purchaser_plan q
             WHERE q.order_qty > 0 GROUP BY q.store_id ORDER BY units DESC, q.store_id LIMIT 20) s;

    -- sections of other parts, when this installation has them
    IF to_regprocedure('retailiq.slow_movers(text,date)') IS NOT NULL THEN
        EXECUTE $q$
            SELECT coalesce(string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td>'
                                              '<td class="num">%s</td><td>%s%s</td><td>%s</td></tr>',
                                              m.store_id, m.product_id, retailiq_internal.html(m.status),
                                              retailiq_internal.fmt(m.stock_value::numeric),
                                              retailiq_internal.fmt(m.weeks_since_last_sale::numeric, 1),
                                              retailiq_internal.html(coalesce(m.abc, '')),
                                              retailiq_internal.html(coalesce(m.xyz, '')),
                                              retailiq_internal.html(coalesce(m.action, ''))),
                                       '' ORDER BY m.stock_value DESC NULLS LAST, m.store_id, m.product_id), '')
              FROM (SELECT * FROM retailiq.slow_movers($1, $2) s
                     WHERE s.status IS DISTINCT FROM 'ok' AND s.status IS DISTINCT FROM 'normal'
                       AND ($3 IS NULL OR s.store_id = $3)
                     ORDER BY s.stock_value DESC NULLS LAST, s.store_id, s.product_id LIMIT $4) m$q$
          INTO slow USING source, as_of, store, max_rows;
        slow := '<table><tr><th>store</th><th>product</th><th>status</th><th class="num">stock value</th>'
                '<th class="num">weeks since last sale</th><th>class</th><th>action</th></tr>' || slow || '</table>';
    ELSE
        slow := '<p class="note">Slow movers are not available in this installation.</p>';
    END IF;
    IF to_regprocedure('retailiq.forecast_health(text,integer)') IS NOT NULL THEN
        EXECUTE $q$
            SELECT coalesce(string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td>'
                                              '<td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
                                              h.store_id, h.product_id, retailiq_internal.html(h.status),
                                              retailiq_internal.fmt((100 * h.wape)::numeric, 1) || '%',
                                              retailiq_internal.fmt(h.mase::numeric, 2),
                                              retailiq_internal.fmt((100 * h.bias)::numeric, 1) || '%', h.n),
                                       '' ORDER BY h.wape DESC NULLS LAST, h.store_id, h.product_id), '')
              FROM (SELECT * FROM retailiq.forecast_health($1) f
                     WHERE f.status IS DISTINCT FROM 'ok' AND ($2 IS NULL OR f.store_id = $2)
                     ORDER BY f.wape DESC NULLS LAST, f.store_id, f.product_id LIMIT $3) h$q$
          INTO health USING source, store, max_rows;
        health := '<table><tr><th>store</th><th>product</th><th>status</th><th class="num">WAPE</th>'
                  '<th class="num">MASE</th><th class="num">bias</th><th class="num">periods</th></tr>' || health || '</table>';
    ELSE
        health := '<p class="note">Forecast health is not available in this installation.</p>';
    END IF;
    DROP TABLE riq_purchaser_plan;

    RETURN format($h$<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>retailiq purchaser %1$s %2$s</title>
<style>
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;color:#1d2733;margin:24px 40px}
h2{font-size:18px;border-bottom:1px solid #d5dbe3}.note,.sub{color:#5a6675;font-size:12px}
.kpis{display:flex;gap:14px}.kpi{flex:1;border:1px solid #d5dbe3;border-radius:6px;padding:10px 14px}
.kpi .v{font-size:22px;font-weight:bold}.kpi .l{font-size:12px;color:#5a6675}
.blab{font-size:13px;text-anchor:end}.bval{font-size:12px}.bar{fill:#2a6fdb}.empty{fill:#a33}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #e3e7ec;padding:4px 10px;text-align:left}
th{background:#f3f5f8}.num{text-align:right}
</style></head><body>
<h1>Purchaser's daily page</h1>
<div class="sub">sales source %1$s · plan of %2$s (%3$s) · %4$s · generated %5$s by retailiq</div>
<div class="kpis">
<div class="kpi"><div class="v">%6$s</div><div class="l">orders to place</div></div>
<div class="kpi"><div class="v">%7$s</div><div class="l">units to order</div></div>
<div class="kpi"><div class="v">%8$s</div><div class="l">expected stock-outs averted</div></div>
<div class="kpi"><div class="v">%9$s</div><div class="l">out of stock now</div></div>
<div class="kpi"><div class="v">%10$s</div><div class="l">expected fill rate</div></div>
</div>
<h2>Orders to place (the most urgent first)</h2>
<table><tr><th>store</th><th>product</th><th class="num">on hand</th><th class="num">on order</th>
<th class="num">demand (mean)</th><th class="num">demand (quantile)</th><th class="num">order</th>
<th class="num">fill rate</th><th class="num">days of cover</th><th>reason</th></tr>
%11$s</table>
<p class="note">Expected stock-outs averted: series whose stock on hand + on order is below their expected demand over lead time + review period (at the forecasts' mean they run out before the delivery after this one) and whose order today lifts it to at least that demand. An expectation from the forecasts, not a count of stock-outs that happened. %12$s of %13$s series planned.</p>
<h2>Units to order by store</h2>
%14$s
<h2>Slow movers and dead stock</h2>
%15$s
<h2>Forecast health (series off their forecasts)</h2>
%16$s
</body></html>
$h$,
        retailiq_internal.html(source), coalesce(v_date::text, '–'), v_from,
        CASE WHEN store IS NULL THEN 'all stores' ELSE 'store ' || store END,
        to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
        retailiq_internal.fmt(k.n_orders::numeric), retailiq_internal.fmt(k.units::numeric),
        retailiq_internal.fmt(k.avoided::numeric), retailiq_internal.fmt(k.out_now::numeric),
        coalesce(retailiq_internal.fmt((100 * k.fill)::numeric, 1) || '%', '–'),
        orders, retailiq_internal.fmt(k.n_orders::numeric), retailiq_internal.fmt(k.series::numeric),
        bars, slow, health);
END
$$;
COMMENT ON FUNCTION retailiq.report_purchaser(text, date, int, int) IS
    'the purchaser''s daily page (HTML): orders to place from the replenishment plan, stock-outs avoided, slow movers and forecast health when available';

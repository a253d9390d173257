-- reports: one self-contained HTML page (inline CSS and SVG, no scripts, no external files)
-- with sales against forecast, the online funnel, RFM segment sizes, hot zones and tags, for
-- teams without a BI tool: SELECT retailiq.report_html(...) and save the text as a .html file.

CREATE FUNCTION retailiq_internal.html(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT replace(replace(replace(replace(replace($1, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                           '"', '&quot;'), '''', '&#39;')
$$;

-- A number for people: 12,345 / 1.2 / 0.5.
CREATE FUNCTION retailiq_internal.fmt(v numeric, digits int DEFAULT 0) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN $1 IS NULL THEN '–'
                WHEN $2 = 0 THEN to_char(round($1), 'FM999,999,999,990')
                ELSE to_char(round($1, $2), 'FM999,999,999,990.' || repeat('0', $2)) END
$$;

-- A line chart of one or two series over days (second may be all NULL), w x h pixels.
CREATE FUNCTION retailiq_internal.svg_lines(days date[], a float8[], b float8[], a_name text, b_name text,
                                    w int DEFAULT 1100, h int DEFAULT 300)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := coalesce(array_length(days, 1), 0);
    left_m int := 60;
    right_m int := 20;
    top_m int := 30;
    bottom_m int := 40;
    pw float8 := w - left_m - right_m;
    ph float8 := h - top_m - bottom_m;
    ymax float8;
    step float8;
    svg text;
    pts text;
    i int;
    tick float8;
    has_b bool;
    label_every int;
BEGIN
    IF n = 0 THEN
        RETURN format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="60" role="img">'
                      '<text x="10" y="35" class="empty">No days in this period</text></svg>', w);
    END IF;
    SELECT max(v) INTO ymax FROM unnest(a || b) v;
    has_b := EXISTS (SELECT 1 FROM unnest(b) v WHERE v IS NOT NULL);
    IF ymax IS NULL OR ymax <= 0 THEN ymax := 1; END IF;
    -- a round axis maximum: 1, 2 or 5 times a power of ten
    step := power(10, floor(log(ymax / 4)));
    step := CASE WHEN ymax / 4 <= step THEN step WHEN ymax / 4 <= 2 * step THEN 2 * step
                 WHEN ymax / 4 <= 5 * step THEN 5 * step ELSE 10 * step END;
    ymax := step * ceil(ymax / step);
    svg := format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img">',
                  w, h, w, h);
    -- grid and y labels
    tick := 0;
    WHILE tick <= ymax + step / 2 LOOP
        svg := svg || format('<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>'
                             '<text x="%s" y="%s" class="ylab">%s</text>',
                             left_m, round((top_m + ph - tick / ymax * ph)::numeric, 1), w - right_m,
                             round((top_m + ph - tick / ymax * ph)::numeric, 1),
                             left_m - 6, round((top_m + ph - tick / ymax * ph + 4)::numeric, 1),
                             retailiq_internal.fmt(tick::numeric, CASE WHEN step < 1 THEN 2 ELSE 0 END));
        tick := tick + step;
    END LOOP;
    -- x labels: about ten
    label_every := greatest(1, ceil(n / 10.0)::int);
    FOR i IN 1 .. n LOOP
        IF (i - 1) % label_every = 0 THEN
            svg := svg || format('<text x="%s" y="%s" class="xlab">%s</text>',
                                 round((left_m + CASE WHEN n = 1 THEN pw / 2 ELSE (i - 1) * pw / (n - 1) END)::numeric, 1),
                                 h - bottom_m + 18, to_char(days[i], 'Mon DD'));
        END IF;
    END LOOP;
    -- the series
    SELECT string_agg(format('%s,%s',
                             round((left_m + CASE WHEN n = 1 THEN pw / 2 ELSE (k - 1) * pw / (n - 1) END)::numeric, 1),
                             round((top_m + ph - coalesce(a[k], 0) / ymax * ph)::numeric, 1)), ' ' ORDER BY k)
      INTO pts FROM generate_series(1, n) k;
    svg := svg || format('<polyline points="%s" class="s1"/>', pts);
    IF has_b THEN
        SELECT string_agg(format('%s,%s',
                                 round((left_m + CASE WHEN n = 1 THEN pw / 2 ELSE (k - 1) * pw / (n - 1) END)::numeric, 1),
                                 round((top_m + ph - b[k] / ymax * ph)::numeric, 1)), ' ' ORDER BY k)
          INTO pts FROM generate_series(1, n) k WHERE b[k] IS NOT NULL;
        svg := svg || format('<polyline points="%s" class="s2"/>', pts);
    END IF;
    -- legend
    svg := svg || format('<rect x="%s" y="8" width="14" height="4" class="k1"/><text x="%s" y="14" class="leg">%s</text>',
                         left_m, left_m + 20, retailiq_internal.html(a_name));
    IF has_b THEN
        svg := svg || format('<rect x="%s" y="8" width="14" height="4" class="k2"/><text x="%s" y="14" class="leg">%s</text>',
                             left_m + 200, left_m + 220, retailiq_internal.html(b_name));
    END IF;
    RETURN svg || '</svg>';
END
$$;

-- Horizontal bars: one per label, the value and an optional note written after the bar.
CREATE FUNCTION retailiq_internal.svg_bars(labels text[], vals float8[], notes text[], w int DEFAULT 1100,
                                   bar_class text DEFAULT 'bar')
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := coalesce(array_length(labels, 1), 0);
    label_w int := 170;
    note_w int := 220;
    row_h int := 30;
    vmax float8;
    svg text;
    bw float8;
BEGIN
    IF n = 0 THEN
        RETURN format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="40" role="img">'
                      '<text x="10" y="25" class="empty">No data</text></svg>', w);
    END IF;
    SELECT max(v) INTO vmax FROM unnest(vals) v;
    IF vmax IS NULL OR vmax <= 0 THEN vmax := 1; END IF;
    svg := format('<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="img">',
                  w, n * row_h + 10, w, n * row_h + 10);
    FOR i IN 1 .. n LOOP
        bw := greatest(coalesce(vals[i], 0) / vmax * (w - label_w - note_w - 20), 0);
        svg := svg || format('<text x="%s" y="%s" class="blab">%s</text>'
                             '<rect x="%s" y="%s" width="%s" height="%s" class="%s"/>'
                             '<text x="%s" y="%s" class="bval">%s</text>',
                             label_w - 8, (i - 1) * row_h + 24, retailiq_internal.html(labels[i]),
                             label_w, (i - 1) * row_h + 8, round(bw::numeric, 1), row_h - 8, bar_class,
                             label_w + round(bw::numeric, 1) + 8, (i - 1) * row_h + 24,
                             retailiq_internal.html(coalesce(notes[i], retailiq_internal.fmt(vals[i]::numeric))));
    END LOOP;
    RETURN svg || '</svg>';
END
$$;

CREATE FUNCTION retailiq.report_html(from_date date, to_date date, store int DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off    -- seconds of compiling for queries that run in well under a second
AS $$
DECLARE
    tot record;
    v_days date[];
    v_units float8[];
    v_fc float8[];
    fn record;
    seg_labels text[];
    seg_vals float8[];
    seg_notes text[];
    seg_source text;
    prof record;
    zones text;
    tags text;
    body text;
    lo timestamptz;
    hi timestamptz;
    ncust bigint;
BEGIN
    PERFORM retailiq_internal.report_range(from_date, to_date);
    lo := from_date::timestamp AT TIME ZONE 'UTC';
    hi := (to_date + 1)::timestamp AT TIME ZONE 'UTC';

    -- totals over the whole range, and the daily series
    SELECT sum(r.orders) AS orders, sum(r.units) AS units, sum(r.sales) AS sales,
           sum(r.forecast_units) AS fu, sum(r.forecast_actual_units) AS fa,
           array_agg(r.period_start ORDER BY r.period_start) AS d,
           array_agg(r.units::float8 ORDER BY r.period_start) AS u,
           array_agg(r.forecast_units ORDER BY r.period_start) AS f
      INTO tot FROM retailiq.report_sales('daily', from_date, to_date, store) r;
    v_days := tot.d; v_units := tot.u; v_fc := tot.f;
    -- (a hash aggregate: count(DISTINCT) sorts a year's orders)
    EXECUTE format('SELECT count(*) FROM (SELECT customer_id FROM %s o WHERE ordered_at >= $1 AND ordered_at < $2'
                   ' AND ($3 IS NULL OR store_id = $3) AND customer_id IS NOT NULL GROUP BY 1) c',
                   retailiq_internal.source_sql('orders'))
       INTO ncust USING lo, hi, store;
    SELECT coalesce(sum(viewed), 0) AS v, coalesce(sum(carted), 0) AS c, coalesce(sum(purchased), 0) AS b
      INTO fn FROM retailiq_internal.report_day_rows(NULL::retailiq.report_day_funnel, 'events', from_date, to_date);

    -- segment sizes: the last refresh_customer_profile when it scored the orders this report
    -- reads, as of a day in the report's period; else RFM computed here as of to_date, saying
    -- why the profile was not used (it is one table per database, and may be stale or another
    -- source's)
    SELECT max(p.as_of), min(p.orders_source), count(DISTINCT p.orders_source)
      INTO prof FROM retailiq.customer_profile_data p;
    IF prof.max IS NOT NULL AND prof.count = 1
       AND prof.min = retailiq_internal.source_relation('orders')::text
       AND prof.max >= lo AND prof.max <= hi THEN
        seg_source := 'customer_profile (as of ' || to_char(prof.max, 'YYYY-MM-DD') || ')';
        SELECT array_agg(segment ORDER BY n DESC, segment), array_agg(n::float8 ORDER BY n DESC, segment)
          INTO seg_labels, seg_vals
          FROM (SELECT coalesce(segment, 'unscored') AS segment, count(*) AS n
                  FROM retailiq.customer_profile_data GROUP BY 1) s;
    ELSE
        seg_source := 'RFM as of ' || to_char(to_date, 'YYYY-MM-DD')
            || CASE WHEN prof.max IS NULL THEN ''
                    WHEN prof.count <> 1 OR prof.min IS DISTINCT FROM retailiq_internal.source_relation('orders')::text
                    THEN '; customer_profile not used: it scored another orders source ('
                         || coalesce(prof.min, 'unknown') || ')'
                    ELSE '; customer_profile not used: it is as of ' || to_char(prof.max, 'YYYY-MM-DD')
                         || ', outside this report''s period' END;
        SELECT array_agg(segment ORDER BY n DESC, segment), array_agg(n::float8 ORDER BY n DESC, segment)
          INTO seg_labels, seg_vals
          FROM (SELECT coalesce(segment, 'unscored') AS segment, count(*) AS n
                  FROM retailiq.rfm_segments(retailiq_internal.source_relation('orders'), hi, 5,
                                             retailiq_internal.source_column('orders', 'customer_id'),
                                             retailiq_internal.source_column('orders', 'ordered_at'),
                                             retailiq_internal.source_column('orders', 'total_amount')) GROUP BY 1) s;
    END IF;
    SELECT array_agg(format('%s customers (%s%%)', retailiq_internal.fmt(v::numeric),
                            retailiq_internal.fmt((100 * v / sum_v)::numeric, 1)) ORDER BY i)
      INTO seg_notes
      FROM unnest(seg_vals) WITH ORDINALITY AS x(v, i),
           (SELECT sum(v) AS sum_v FROM unnest(seg_vals) v) s;

    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s:00</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>',
                             h.store_id, retailiq_internal.html(coalesce(h.zone_name, 'zone ' || h.zone_id)),
                             lpad(h.hour::text, 2, '0'), retailiq_internal.fmt(h.visits::numeric),
                             retailiq_internal.fmt((h.total / 60.0)::numeric),
                             retailiq_internal.fmt((h.total::numeric / h.visits))), '' ORDER BY h.total DESC, h.store_id, h.zone_id, h.hour)
      INTO zones
      FROM (SELECT t.*, row_number() OVER (ORDER BY t.total DESC, t.store_id, t.zone_id, t.hour) AS rk
              FROM (SELECT d.store_id, d.zone_id, d.zone_name, d.hour, sum(d.visits) AS visits,
                           sum(d.total_dwell_s) AS total
                      FROM retailiq_internal.report_dwell_rows(NULL, from_date, to_date, store) d
                     WHERE d.zone_name IS DISTINCT FROM 'checkout' GROUP BY 1, 2, 3, 4) t) h
     WHERE h.rk <= 8;
    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td class="num">%s</td></tr>',
                             retailiq_internal.html(r.tag), retailiq_internal.html(r.description),
                             retailiq_internal.fmt(coalesce(c.n, 0)::numeric)), '' ORDER BY r.tag)
      INTO tags
      FROM retailiq.tag_rule r
      LEFT JOIN (SELECT tag, count(*) AS n FROM retailiq.customer_tag GROUP BY tag) c ON c.tag = r.tag
     WHERE r.enabled;

    body := format($h$<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>retailiq report %1$s – %2$s</title>
<style>
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;color:#1d2733;margin:24px 40px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d5dbe3;padding-bottom:4px}
.sub{color:#5a6675;font-size:13px}.note{color:#5a6675;font-size:12px;margin:4px 0}
.kpis{display:flex;gap:14px;margin-top:18px}.kpi{flex:1;border:1px solid #d5dbe3;border-radius:6px;padding:10px 14px}
.kpi .v{font-size:22px;font-weight:bold}.kpi .l{font-size:12px;color:#5a6675}
.empty{font-size:16px;fill:#a33}.msg{color:#a33;font-weight:bold}
svg text{font-family:"DejaVu Sans",Arial,sans-serif}
.grid{stroke:#e3e7ec;stroke-width:1}.ylab{font-size:11px;fill:#5a6675;text-anchor:end}
.xlab{font-size:11px;fill:#5a6675;text-anchor:middle}.leg{font-size:12px;fill:#1d2733}
.s1{fill:none;stroke:#2a6fdb;stroke-width:2}.s2{fill:none;stroke:#e8871e;stroke-width:2;stroke-dasharray:6 4}
.k1{fill:#2a6fdb}.k2{fill:#e8871e}
.blab{font-size:13px;fill:#1d2733;text-anchor:end}.bval{font-size:12px;fill:#1d2733}
.bar{fill:#2a6fdb}.fbar{fill:#3c9d5d}
table{border-collapse:collapse;font-size:13px;min-width:600px}td,th{border-bottom:1px solid #e3e7ec;padding:4px 10px;text-align:left}
th{background:#f3f5f8}.num{text-align:right}
</style></head><body>
<h1>Sales and behaviour report</h1>
<div class="sub">%1$s to %2$s · %3$s · generated %4$s by retailiq</div>
%5$s
<div class="kpis">
<div class="kpi"><div class="v">%6$s</div><div class="l">sales</div></div>
<div class="kpi"><div class="v">%7$s</div><div class="l">orders</div></div>
<div class="kpi"><div class="v">%8$s</div><div class="l">customers</div></div>
<div class="kpi"><div class="v">%9$s</div><div class="l">average basket</div></div>
<div class="kpi"><div class="v">%10$s</div><div class="l">units sold</div></div>
<div class="kpi"><div class="v">%11$s</div><div class="l">forecast achievement</div></div>
</div>
<h2>Units sold and forecast, by day</h2>
%12$s
<p class="note">%13$s</p>
<h2>Online conversion funnel</h2>
%14$s
<p class="note">A customer viewing a product on a day; carted: also put in the cart that day; purchased: also ordered that day.%19$s</p>
<h2>Customer segments (RFM)</h2>
%15$s
<p class="note">Source: %16$s.</p>
<h2>In-store hot spots (zone and hour, by total dwell time, checkout excluded)</h2>
%17$s
<h2>Customer tags (current)</h2>
%18$s
</body></html>
$h$,
        from_date, to_date,
        CASE WHEN store IS NULL THEN 'all stores' ELSE 'store ' || store END,
        to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
        CASE WHEN coalesce(tot.units, 0) = 0
             THEN '<p class="msg">No orders in this period: the figures below are empty.</p>' ELSE '' END,
        retailiq_internal.fmt(tot.sales, 0), retailiq_internal.fmt(tot.orders::numeric), retailiq_internal.fmt(ncust::numeric),
        retailiq_internal.fmt(tot.sales / nullif(tot.orders, 0), 2),
        retailiq_internal.fmt(tot.units),
        CASE WHEN tot.fu > 0 THEN retailiq_internal.fmt((100 * tot.fa / tot.fu)::numeric, 1) || '%' ELSE 'no forecast' END,
        CASE WHEN coalesce(tot.units, 0) = 0 AND coalesce(tot.fu, 0) = 0
             THEN '<p class="note">No units sold and no forecast in this period.</p>'
             ELSE retailiq_internal.svg_lines(v_days, v_units, v_fc, 'units sold', 'forecast (series with a forecast)') END,
        CASE WHEN tot.fu > 0
             THEN format('Forecast: the newest day forecast of each store/product series in retailiq.forecast_result; achievement = units sold of those series / forecast units = %s%%, bias (forecast − actual) / actual = %s%%.',
                         retailiq_internal.fmt((100 * tot.fa / tot.fu)::numeric, 1),
                         retailiq_internal.fmt((100 * (tot.fu - tot.fa) / nullif(tot.fa, 0))::numeric, 1))
             ELSE 'No forecasts in retailiq.forecast_result for these days.' END,
        CASE WHEN fn.v = 0 THEN '<p class="note">No online product views in this period.</p>' ELSE
        retailiq_internal.svg_bars(ARRAY['viewed', 'carted', 'purchased'],
                           ARRAY[fn.v, fn.c, fn.b]::float8[],
                           ARRAY[retailiq_internal.fmt(fn.v::numeric) || ' (100%)',
                                 retailiq_internal.fmt(fn.c::numeric) || ' (' || retailiq_internal.fmt((100.0 * fn.c / nullif(fn.v, 0))::numeric, 1) || '%)',
                                 retailiq_internal.fmt(fn.b::numeric) || ' (' || retailiq_internal.fmt((100.0 * fn.b / nullif(fn.v, 0))::numeric, 1) || '%)'],
                           1100, 'fbar') END,
        retailiq_internal.svg_bars(seg_labels, seg_vals, seg_notes),
        retailiq_internal.html(seg_source),
        CASE WHEN zones IS NULL THEN '<p class="note">No dwell events in this period.</p>'
             ELSE '<table><tr><th>store</th><th>zone</th><th>hour</th><th class="num">visits</th><th class="num">dwell (min)</th><th class="num">average dwell (s)</th></tr>' || zones || '</table>' END,
        CASE WHEN tags IS NULL THEN '<p class="note">No tag rules are enabled.</p>'
             ELSE '<table><tr><th>tag</th><th>rule</th><th class="num">customers</th></tr>' || tags || '</table>' END,
        CASE WHEN store IS NOT NULL THEN ' Online events carry no store: the funnel, the segments and the tags cover every customer.' ELSE '' END);
    RETURN body;
END
$$;

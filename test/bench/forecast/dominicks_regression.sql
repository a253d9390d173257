-- Dominick's orange juice: retailiq's dynamic regression beside a per-series OLS on the same
-- factors and the seasonal naive, all computed in this run.
--
--   psql -X -v data=../shared/data/dominicks [-v cut=148] -f test/bench/forecast/dominicks_regression.sql
--
-- 913 store x brand weekly unit series (orange_juice_weekly.csv, see the data README).
-- Train on weeks <= :cut (default 148), test on weeks :cut+1 .. :cut+12 (149..160): WAPE
-- = sum |units - forecast| / sum units over every actual row of the test weeks, pooled over
-- all series, also split into promoted weeks (deal = 1 or feat > 0) and the others; and the
-- coverage of the 80% intervals. Factors: log(price), deal, feat, known for the forecast
-- weeks (planned prices and promotions).
--
-- Preparation (the same for every method): weeks missing inside a series' training history
-- are filled by linear interpolation of units and log price, deal and feat 0; each series is
-- forecast over the weeks after its own last training week, with the factors as observed
-- (log price interpolated where a week has no row). The OLS peer is fitted on the observed
-- training rows only (no interpolation), logmove ~ log(price) + deal + feat, with the
-- bias-corrected back-transform exp(mu + s^2 / 2) (the README's reference figure, 0.468 from R).
--
-- The regression's defaults were fixed on -v cut=136 (test weeks 137..148), never on
-- 149..160; inside each fit, validation on the last 13 training weeks of every series chooses
-- the scale (log or not) and the season's terms, and the shrinkage is estimated from the data.
\set ON_ERROR_STOP 1
\if :{?cut}
\else
\set cut 148
\endif
\set csv :data '/orange_juice_weekly.csv'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS ojb CASCADE;
CREATE SCHEMA ojb;
CREATE EXTENSION IF NOT EXISTS retailiq;
RESET client_min_messages;

CREATE TABLE ojb.raw (store int, brand int, week int, week_start date, logmove float8, units float8,
                      price float8, deal float8, feat float8, profit float8);
-- (\copy does not expand variables: build the command, then run it)
\set load '\\copy ojb.raw FROM ' :'csv' ' CSV HEADER'
:load

-- each series' span: first week, last training week; the common horizon reaches week cut + 12
-- from the earliest last training week
CREATE TABLE ojb.span AS
SELECT store, brand, store || '/' || brand AS series, min(week) AS first,
       max(week) FILTER (WHERE week <= :cut) AS last
FROM ojb.raw GROUP BY store, brand
HAVING max(week) FILTER (WHERE week <= :cut) IS NOT NULL
   AND count(*) FILTER (WHERE week <= :cut) >= 2;
SELECT :cut + 12 - min(last) AS h FROM ojb.span \gset

-- every week of each series, from its first week to h weeks after its last training week;
-- the neighbouring observed weeks of each (units: training weeks only)
CREATE TABLE ojb.grid AS
SELECT g.series, g.week, g.last, g.week > g.last AS future,
       date '1989-09-14' + 7 * (g.week - 1) AS ts, r.deal, r.feat,
       max(CASE WHEN r.week <= g.last THEN r.week END) OVER back AS u_prev,
       min(CASE WHEN r.week <= g.last THEN r.week END) OVER ahead AS u_next,
       max(r.week) OVER back AS p_prev, min(r.week) OVER ahead AS p_next
FROM (SELECT s.*, w AS week FROM ojb.span s, generate_series(s.first, s.last + :h) w) g
LEFT JOIN ojb.raw r ON (r.store, r.brand, r.week) = (g.store, g.brand, g.week)
WINDOW back AS (PARTITION BY g.series ORDER BY g.week),
       ahead AS (PARTITION BY g.series ORDER BY g.week ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING);

CREATE TABLE ojb.panel AS
SELECT g.series, g.week, g.ts, g.future,
       CASE WHEN g.future THEN NULL
            WHEN g.u_prev = g.u_next THEN up.units
            ELSE up.units + (un.units - up.units) * (g.week - g.u_prev) / (g.u_next - g.u_prev) END AS y,
       ARRAY[CASE WHEN g.p_next IS NULL OR g.p_prev = g.p_next THEN ln(coalesce(pp.price, pn.price))
                  WHEN g.p_prev IS NULL THEN ln(pn.price)
                  ELSE ln(pp.price) + (ln(pn.price) - ln(pp.price)) * (g.week - g.p_prev) / (g.p_next - g.p_prev) END,
             coalesce(g.deal, 0), coalesce(g.feat, 0)]::float8[] AS x
FROM ojb.grid g
JOIN ojb.span s ON s.series = g.series
LEFT JOIN ojb.raw up ON (up.store, up.brand, up.week) = (s.store, s.brand, g.u_prev)
LEFT JOIN ojb.raw un ON (un.store, un.brand, un.week) = (s.store, s.brand, g.u_next)
LEFT JOIN ojb.raw pp ON (pp.store, pp.brand, pp.week) = (s.store, s.brand, g.p_prev)
LEFT JOIN ojb.raw pn ON (pn.store, pn.brand, pn.week) = (s.store, s.brand, g.p_next);

CREATE TABLE ojb.actual AS
SELECT store || '/' || brand AS series, date '1989-09-14' + 7 * (week - 1) AS ts, units,
       deal = 1 OR feat > 0 AS promoted
FROM ojb.raw WHERE week BETWEEN :cut + 1 AND :cut + 12;

-- the future factors of every series, series x h x 3 in model (byte) order
CREATE TABLE ojb.future AS
SELECT array_agg(xs ORDER BY series COLLATE "C") AS fx
FROM (SELECT series, array_agg(x ORDER BY week) AS xs FROM ojb.panel WHERE future GROUP BY series) q;

CREATE TABLE ojb.forecast (method text, series text, ts date, yhat float8, lo float8, hi float8);

-- retailiq's dynamic regression (the default options but the validation horizon)
\timing on
CREATE TABLE ojb.reg_model AS
SELECT retailiq.forecast_regression_fit(series, ts, y, x, jsonb_build_object('horizon', 13)) AS m
FROM ojb.panel WHERE NOT future;
\timing off
INSERT INTO ojb.forecast
SELECT 'regression', f.series, f.ts, f.yhat, f.yhat_lower, f.yhat_upper
FROM ojb.reg_model, ojb.future, retailiq.forecast_all(m, :h, fx) f;
SELECT jsonb_pretty(retailiq.model_info(m) - 'data' - 'trained_at' - 'trained_by') AS regression_model FROM ojb.reg_model;

-- the seasonal naive (retailiq's, on the same interpolated history)
INSERT INTO ojb.forecast
SELECT 'seasonal naive', f.series, f.ts, f.yhat, f.yhat_lower, f.yhat_upper
FROM (SELECT retailiq.forecast_fit(series, ts, y, 'snaive', '{"short": "fallback"}') AS m
      FROM ojb.panel WHERE NOT future) q,
     retailiq.forecast_all(m, :h) f;

-- per-series OLS: logmove ~ 1 + log(price) + deal + feat on the observed training rows;
-- columns that do not move in a series are dropped (coefficient 0), as R's lm does
CREATE FUNCTION ojb.solve(a float8[], b float8[]) RETURNS float8[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    n int := array_length(b, 1);
    x float8[] := array_fill(0::float8, ARRAY[n]);
    piv int;
    f float8;
    dropped bool[] := array_fill(false, ARRAY[n]);
BEGIN
    -- Gauss-Jordan on the symmetric normal equations, no pivoting across columns: a pivot
    -- below 1e-9 of its diagonal entry marks a column the others explain (aliased)
    FOR k IN 1..n LOOP
        IF abs(a[k][k]) <= 1e-9 * greatest(abs(a[k][k]), 1e-300) OR a[k][k] = 0 THEN
            dropped[k] := true;
            CONTINUE;
        END IF;
        FOR i IN 1..n LOOP
            IF i <> k AND NOT dropped[i] THEN
                f := a[i][k] / a[k][k];
                FOR j IN 1..n LOOP
                    a[i][j] := a[i][j] - f * a[k][j];
                END LOOP;
                b[i] := b[i] - f * b[k];
            END IF;
        END LOOP;
    END LOOP;
    FOR k IN 1..n LOOP
        x[k] := CASE WHEN dropped[k] THEN 0 ELSE b[k] / a[k][k] END;
    END LOOP;
    RETURN x;
END $$;
CREATE TABLE ojb.ols_rows AS
SELECT store || '/' || brand AS series, logmove AS z, ARRAY[1, ln(price), deal, feat]::float8[] AS d
FROM ojb.raw r JOIN ojb.span s USING (store, brand) WHERE r.week <= :cut;
CREATE TABLE ojb.ols AS
WITH ne AS (
    SELECT series, count(*) AS n,
           ARRAY[[sum(d[1]*d[1]), sum(d[1]*d[2]), sum(d[1]*d[3]), sum(d[1]*d[4])],
                 [sum(d[2]*d[1]), sum(d[2]*d[2]), sum(d[2]*d[3]), sum(d[2]*d[4])],
                 [sum(d[3]*d[1]), sum(d[3]*d[2]), sum(d[3]*d[3]), sum(d[3]*d[4])],
                 [sum(d[4]*d[1]), sum(d[4]*d[2]), sum(d[4]*d[3]), sum(d[4]*d[4])]] AS a,
           ARRAY[sum(d[1]*z), sum(d[2]*z), sum(d[3]*z), sum(d[4]*z)] AS b
    FROM ojb.ols_rows GROUP BY series)
SELECT series, n, ojb.solve(a, b) AS beta FROM ne;
ALTER TABLE ojb.ols ADD s2 float8;
UPDATE ojb.ols o SET s2 = q.rss / greatest(o.n - (SELECT count(*) FROM unnest(o.beta) c WHERE c <> 0), 1)
FROM (SELECT r.series, sum((r.z - (r.d[1]*b.beta[1] + r.d[2]*b.beta[2] + r.d[3]*b.beta[3] + r.d[4]*b.beta[4]))^2) AS rss
      FROM ojb.ols_rows r JOIN ojb.ols b USING (series) GROUP BY r.series) q
WHERE q.series = o.series;
INSERT INTO ojb.forecast
SELECT 'per-series OLS', p.series, p.ts,
       exp(o.beta[1] + o.beta[2] * p.x[1] + o.beta[3] * p.x[2] + o.beta[4] * p.x[3] + o.s2 / 2), NULL, NULL
FROM ojb.panel p JOIN ojb.ols o USING (series) WHERE p.future;

-- the figures
SELECT f.method, count(*) AS rows,
       round((sum(abs(a.units - f.yhat)) / sum(a.units))::numeric, 4) AS wape,
       round((sum(abs(a.units - f.yhat)) FILTER (WHERE a.promoted) / sum(a.units) FILTER (WHERE a.promoted))::numeric, 4) AS wape_promoted,
       round((sum(abs(a.units - f.yhat)) FILTER (WHERE NOT a.promoted) / sum(a.units) FILTER (WHERE NOT a.promoted))::numeric, 4) AS wape_other,
       round(avg((a.units BETWEEN f.lo AND f.hi)::int)::numeric, 3) AS coverage_80
FROM ojb.actual a JOIN ojb.forecast f USING (series, ts)
GROUP BY f.method ORDER BY wape;
SELECT count(*) AS actual_rows, count(DISTINCT series) AS series,
       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ojb.forecast f WHERE f.method = 'regression'
                                          AND (f.series, f.ts) = (a.series, a.ts))) AS not_forecast
FROM ojb.actual a;

-- Forecast bench report: one table per data set, what each method's defaults were chosen
-- on, then the summary of issue 17's thresholds. `auto` is the default method.

-- how each method is named in the tables
CREATE TEMP VIEW label AS
SELECT DISTINCT ds, method, source, factors,
       CASE WHEN source = 'retailiq' THEN 'retailiq ' || method
                 || CASE WHEN method = 'auto' THEN ' (default)' ELSE '' END
                 || CASE WHEN factors THEN ' + factors' ELSE '' END
            WHEN source = 'R forecast' AND method = 'ols_factors' THEN 'R lm: per-series OLS on the factors'
            WHEN source = 'R forecast' THEN 'R ' || substr(method, 3)
            ELSE method || ' (' || source || ')' END AS label
FROM fb.run WHERE status = 'ok'
UNION
SELECT DISTINCT ds, method, source, factors, method || ' (' || source || ')' FROM fb.fc WHERE source NOT IN ('retailiq', 'R forecast');

-- the figures: per data set and method
CREATE TEMP TABLE fig AS
WITH s AS (SELECT * FROM fb.scored)
SELECT ds, method, source, factors, count(*) AS n, count(DISTINCT series) AS nseries,
       sum(abs(y - yhat)) / sum(abs(y)) AS wape,
       sum(abs(y - yhat)) FILTER (WHERE step <= 12) / sum(abs(y)) FILTER (WHERE step <= 12) AS wape_1_12,
       sum(abs(y - yhat)) FILTER (WHERE step > 12) / sum(abs(y)) FILTER (WHERE step > 12) AS wape_13_24,
       sum(abs(y - yhat)) FILTER (WHERE promo) / sum(abs(y)) FILTER (WHERE promo) AS wape_promo,
       sum(abs(y - yhat)) FILTER (WHERE NOT promo) / sum(abs(y)) FILTER (WHERE NOT promo) AS wape_other,
       avg((y BETWEEN lo AND hi)::int) AS cov80
FROM s GROUP BY 1, 2, 3, 4;
-- M4: sMAPE and MASE per series, averaged over series; OWA against Naive2 of this run
CREATE TEMP TABLE m4fig AS
WITH per AS (
    SELECT method, source, factors, series,
           avg(200 * abs(y - yhat) / (abs(y) + abs(yhat))) AS smape,
           avg(abs(y - yhat)) / max(c.scale) AS mase
    FROM fb.scored s JOIN fb.m4_scale c USING (series) WHERE ds = 'm4_weekly' GROUP BY 1, 2, 3, 4),
m AS (SELECT method, source, factors, count(*) AS nseries, avg(smape) AS smape, avg(mase) AS mase FROM per GROUP BY 1, 2, 3)
SELECT m.*, (m.smape / n2.smape + m.mase / n2.mase) / 2 AS owa
FROM m, (SELECT smape, mase FROM m WHERE method = 'naive2') n2;

CREATE TEMP VIEW secs AS SELECT ds, method, source, factors, seconds, status FROM fb.run;
CREATE TEMP VIEW r_ets AS SELECT * FROM fig WHERE method = 'r_ets';

CREATE TEMP VIEW chosen AS
SELECT DISTINCT ON (l.ds, l.method) l.ds, l.method, l.label, coalesce(p.held_out, '?') AS held_out, coalesce(p.chosen_on, 'not stated: add a line to test/bench/forecast/provenance.csv') AS chosen_on
FROM label l LEFT JOIN fb.provenance p ON p.method = l.method AND p.ds IN (l.ds, '*')
WHERE l.source = 'retailiq'
ORDER BY l.ds, l.method, p.ds = '*';

\pset null '-'
\echo
\echo '== aus_retail: train to 2014-12, test 2015-01..2016-12 (one origin, h 1-24), WAPE pooled over series'
\echo '   (ratio: to R ets on the same steps; cov80: share of actuals inside the 80% interval, h 1-24)'
SELECT l.label AS method, f.nseries AS series, round(f.wape_1_12::numeric, 4) AS "WAPE h1-12",
       round((f.wape_1_12 / r.wape_1_12)::numeric, 3) AS ratio,
       round(f.wape_13_24::numeric, 4) AS "WAPE h13-24",
       round((f.wape_13_24 / r.wape_13_24)::numeric, 3) AS ratio,
       round(f.cov80::numeric, 3) AS cov80, round(t.seconds::numeric, 1) AS fit_s, c.held_out AS "held out"
FROM fig f JOIN label l USING (ds, method, source, factors)
LEFT JOIN secs t USING (ds, method, source, factors)
LEFT JOIN r_ets r USING (ds)
LEFT JOIN chosen c ON c.ds = f.ds AND c.method = f.method AND f.source = 'retailiq'
WHERE f.ds = 'aus_retail' ORDER BY f.wape_1_12 + f.wape_13_24;
\echo 'what the defaults were chosen on (held out = no: the choice looked at this final window):'
\pset tuples_only on
SELECT '  ' || label || ': ' || chosen_on AS " " FROM chosen WHERE ds = 'aus_retail' ORDER BY 1;
\pset tuples_only off

\echo
\echo '== m4_weekly: the official test (h 13); sMAPE, MASE (in-sample one-step naive scale) and OWA (to Naive2 of this run), mean over series'
\echo '   (the series have no dates: synthetic weekly dates, every series ending on Monday 2018-12-31)'
SELECT l.label AS method, f.nseries AS series, round(f.smape::numeric, 3) AS smape, round(f.mase::numeric, 3) AS mase,
       round(f.owa::numeric, 3) AS owa, round((f.owa / r.owa)::numeric, 3) AS "OWA / R ets",
       round(g.cov80::numeric, 3) AS cov80, round(t.seconds::numeric, 1) AS fit_s, c.held_out AS "held out"
FROM m4fig f JOIN label l ON l.ds = 'm4_weekly' AND l.method = f.method AND l.source = f.source AND l.factors = f.factors
JOIN fig g ON g.ds = 'm4_weekly' AND g.method = f.method AND g.source = f.source AND g.factors = f.factors
LEFT JOIN secs t ON t.ds = 'm4_weekly' AND t.method = f.method AND t.source = f.source AND t.factors = f.factors
LEFT JOIN (SELECT owa FROM m4fig WHERE method = 'r_ets') r ON true
LEFT JOIN chosen c ON c.ds = 'm4_weekly' AND c.method = f.method AND f.source = 'retailiq'
ORDER BY f.owa;
\echo 'published (M4, Evaluation and Ranks.xlsx, Weekly):'
SELECT CASE method WHEN 'Com' THEN 'Comb (SES, Holt, Damped)' WHEN '118' THEN 'Smyl ES-RNN (1st overall)'
                   WHEN '235' THEN 'Darin & Stellwagen (best weekly)' WHEN '245' THEN 'Montero-Manso et al. (2nd overall)'
                   ELSE method END AS method,
       smape_w AS smape, mase_w AS mase, round(owa_w::numeric, 3) AS owa
FROM fb.m4_published WHERE method IN ('Naive2', 'Theta', 'Com', '118', '235', '245') ORDER BY owa_w DESC;
\echo 'what the defaults were chosen on (held out = no: the choice looked at this final window):'
\pset tuples_only on
SELECT '  ' || label || ': ' || chosen_on AS " " FROM chosen WHERE ds = 'm4_weekly' ORDER BY 1;
\pset tuples_only off

\echo
\echo '== dominicks_oj: train weeks <= 148, test weeks 149-160 (actual rows only), factors log(price), deal, feat; WAPE pooled'
\echo '   (promoted: deal = 1 or feat > 0; ratio: WAPE to R ets)'
SELECT l.label AS method, f.nseries AS series, f.n AS forecasts, round(f.wape::numeric, 4) AS wape,
       round((f.wape / r.wape)::numeric, 3) AS ratio,
       round(f.wape_promo::numeric, 4) AS promoted, round(f.wape_other::numeric, 4) AS other,
       round(f.cov80::numeric, 3) AS cov80, round(t.seconds::numeric, 1) AS fit_s, c.held_out AS "held out"
FROM fig f JOIN label l USING (ds, method, source, factors)
LEFT JOIN secs t USING (ds, method, source, factors)
LEFT JOIN r_ets r USING (ds)
LEFT JOIN chosen c ON c.ds = f.ds AND c.method = f.method AND f.source = 'retailiq'
WHERE f.ds = 'dominicks_oj' ORDER BY f.wape;
\echo 'reference (data README, R forecast 8.20, not published):'
SELECT * FROM (VALUES ('naive (last value)', 0.804, 0.807, 0.797), ('mean of last 8 weeks', 0.784, 0.748, 0.865),
                      ('ETS (forecast::ets)', 0.844, 0.732, 1.095),
                      ('per-series OLS logmove ~ log(price) + deal + feat', 0.468, 0.537, 0.313)) v(method, wape, promoted, other)
WHERE EXISTS (SELECT FROM fb.dataset WHERE ds = 'dominicks_oj');
\echo 'what the defaults were chosen on (held out = no: the choice looked at this final window):'
\pset tuples_only on
SELECT '  ' || label || ': ' || chosen_on AS " " FROM chosen WHERE ds = 'dominicks_oj' ORDER BY 1;
\pset tuples_only off

\echo
\echo 'failed (method, data set, error):'
\pset tuples_only on
SELECT '  ' || source || ' ' || method || ' on ' || ds || ': ' || status AS " " FROM fb.run WHERE status <> 'ok' ORDER BY 1;
\pset tuples_only off

-- ---------------------------------------------------------------- summary
\echo
\echo '== summary: issue 17 thresholds for the default method (auto); ratio = its figure / R ets''s'
CREATE TEMP VIEW summary AS
WITH d AS (SELECT * FROM fig WHERE method = 'auto' AND source = 'retailiq')
SELECT 1 AS k, 'aus_retail WAPE h1-12 <= 0.95 x R ets' AS threshold, d.wape_1_12 AS figure, 0.95 * r.wape_1_12 AS bound,
       d.wape_1_12 / r.wape_1_12 AS ratio, d.wape_1_12 <= 0.95 * r.wape_1_12 AS pass
FROM d LEFT JOIN r_ets r USING (ds) WHERE d.ds = 'aus_retail'
UNION ALL
SELECT 2, 'aus_retail WAPE h13-24 <= 0.95 x R ets', d.wape_13_24, 0.95 * r.wape_13_24, d.wape_13_24 / r.wape_13_24,
       d.wape_13_24 <= 0.95 * r.wape_13_24
FROM d LEFT JOIN r_ets r USING (ds) WHERE d.ds = 'aus_retail'
UNION ALL
SELECT 3, 'aus_retail 80% coverage in 0.75..0.85', d.cov80, NULL, d.cov80 / r.cov80, d.cov80 BETWEEN 0.75 AND 0.85
FROM d LEFT JOIN r_ets r USING (ds) WHERE d.ds = 'aus_retail'
UNION ALL
SELECT 4, 'm4_weekly OWA <= 0.80', a.owa, 0.80, a.owa / r.owa, a.owa <= 0.80
FROM m4fig a LEFT JOIN (SELECT owa FROM m4fig WHERE method = 'r_ets') r ON true
WHERE a.method = 'auto' AND a.source = 'retailiq'
UNION ALL
SELECT 5, 'm4_weekly 80% coverage in 0.75..0.85', d.cov80, NULL, d.cov80 / r.cov80, d.cov80 BETWEEN 0.75 AND 0.85
FROM d LEFT JOIN r_ets r USING (ds) WHERE d.ds = 'm4_weekly'
UNION ALL
SELECT 6, 'dominicks_oj WAPE <= 0.45 with the factors' || CASE WHEN d.factors THEN '' ELSE ' (auto takes none)' END,
       d.wape, 0.45, d.wape / r.wape, d.wape <= 0.45
FROM d LEFT JOIN r_ets r USING (ds) WHERE d.ds = 'dominicks_oj'
UNION ALL
SELECT 7, 'dominicks_oj 80% coverage in 0.75..0.85', d.cov80, NULL, d.cov80 / r.cov80, d.cov80 BETWEEN 0.75 AND 0.85
FROM d LEFT JOIN r_ets r USING (ds) WHERE d.ds = 'dominicks_oj';
SELECT CASE WHEN pass IS NULL THEN 'n/a ' WHEN pass THEN 'PASS' ELSE 'FAIL' END AS result, threshold,
       round(figure::numeric, 4) AS figure,
       CASE WHEN k IN (3, 5, 7) THEN '0.75..0.85' ELSE round(bound::numeric, 4)::text END AS bound,
       round(ratio::numeric, 3) AS "vs R ets",
       (SELECT held_out FROM chosen c WHERE c.method = 'auto' AND threshold LIKE c.ds || ' %') AS "default held out"
FROM summary ORDER BY k;
\echo 'for information, the factor-taking methods on dominicks_oj (the threshold counts the default only):'
\pset tuples_only on
SELECT '  ' || l.label || ': WAPE ' || round(f.wape::numeric, 4) || CASE WHEN f.wape <= 0.45 THEN ' (<= 0.45)' ELSE ' (> 0.45)' END
       || ', cov80 ' || round(f.cov80::numeric, 3) AS " "
FROM fig f JOIN label l USING (ds, method, source, factors)
WHERE f.ds = 'dominicks_oj' AND f.factors AND f.source = 'retailiq' ORDER BY 1;

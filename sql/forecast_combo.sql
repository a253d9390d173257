-- 'combo': ETS, seasonal naive and Theta, weighted by their errors on the last periods.
-- Two monthly series with a season and a trend, four years each.
CREATE TEMP TABLE c_monthly AS
SELECT s AS series, (date '2020-01-01' + make_interval(months => t))::date AS ts,
       100 + s * 20 + 1.5 * t + 15 * sin(2 * pi() * t / 12) + 4 * sin(t * 1.7 + s) AS y
  FROM generate_series(1, 2) s, generate_series(0, 47) t;
CREATE TEMP TABLE c_models AS
SELECT (SELECT retailiq.forecast_fit(series::text, ts, y, 'combo') FROM c_monthly) AS combo,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'ets') FROM c_monthly) AS ets,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'snaive') FROM c_monthly) AS snaive,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'theta') FROM c_monthly) AS theta;
-- the weights (alpha, beta, gamma = ETS, seasonal naive, Theta) sum to 1
SELECT series, method, round(alpha::numeric, 3) AS w_ets, round(beta::numeric, 3) AS w_snaive,
       round(gamma::numeric, 3) AS w_theta, round((alpha + beta + gamma)::numeric, 12) AS total
  FROM c_models, retailiq.forecast_model_series(combo) ORDER BY series;
-- the forecast is the weighted mean of the components' forecasts; each bound the weighted
-- mean of theirs, moved away from (or toward) the forecast by the calibration (phi)
SELECT c.series, count(*) AS steps,
       max(abs(c.yhat - (w.alpha * e.yhat + w.beta * d.yhat + w.gamma * t.yhat))) < 1e-9 AS point_is_weighted_mean,
       max(abs(c.yhat_lower - (c.yhat - w.phi * (c.yhat - (w.alpha * e.yhat_lower + w.beta * d.yhat_lower + w.gamma * t.yhat_lower))))) < 1e-9 AS lower_is_calibrated_weighted_mean,
       max(abs(c.yhat_upper - (c.yhat + w.phi * ((w.alpha * e.yhat_upper + w.beta * d.yhat_upper + w.gamma * t.yhat_upper) - c.yhat)))) < 1e-9 AS upper_is_calibrated_weighted_mean
  FROM c_models m
  CROSS JOIN LATERAL retailiq.forecast_all(m.combo, 12) c
  JOIN retailiq.forecast_model_series(m.combo) w ON w.series = c.series
  JOIN retailiq.forecast_all(m.ets, 12) e ON e.series = c.series AND e.step = c.step
  JOIN retailiq.forecast_all(m.snaive, 12) d ON d.series = c.series AND d.step = c.step
  JOIN retailiq.forecast_all(m.theta, 12) t ON t.series = c.series AND t.step = c.step
 GROUP BY c.series ORDER BY 1;
-- the calibration: each series alone keeps its own (the conformal 80% quantile of its
-- held-out errors as multiples of the interval's half-width: 36 from three origins, 64 kept
-- at most: the 30th smallest of 36); in a panel every series takes the conformal quantile of
-- all of them pooled (the 59th of 72)
CREATE TEMP TABLE c_alone AS
SELECT c.series, f.phi
  FROM (SELECT series, retailiq.forecast_fit(series::text, ts, y, 'combo') AS m FROM c_monthly GROUP BY series) c,
       retailiq.forecast_model_series(c.m) f;
SELECT a.series, round(a.phi::numeric, 4) AS alone, round(p.phi::numeric, 4) AS in_panel,
       a.phi BETWEEN 0.1 AND 10 AS in_range
  FROM c_alone a JOIN (SELECT f.series::int, f.phi FROM c_models, retailiq.forecast_model_series(combo) f) p USING (series)
 ORDER BY 1;
-- the multiples are not left in the model (the combination's record keeps no states)
SELECT (combo::text)::jsonb -> 'data' -> 'par' -> 0 ->> 5 AS combination_level FROM c_models;
-- a model with weights that do not sum to 1 is corrupt, not a forecast
SELECT retailiq.forecast_all(
         regexp_replace(combo::text, '"par": \[\[[0-9.e-]+', '"par": [[0.9')::retailiq.model, 3)
  FROM c_models;
-- a calibration outside [0.1, 10] is corrupt too
SELECT retailiq.forecast_all(jsonb_set(combo::text::jsonb, '{data,par,0,3}', '50')::text::retailiq.model, 3)
  FROM c_models;
-- The evidence (model_info): each candidate's WAPE over the held-out periods of every
-- validation origin. Here v = 12 (the season), origins 6 months apart: the stretches after
-- months 36, 30 and 24. ETS's figure is the one forecast_fit 'ets' gives at those origins.
CREATE TEMP TABLE c_ets_origins AS
SELECT o.k, f.series::int AS series, f.step, f.ts, f.yhat
  FROM generate_series(0, 2) o(k),
       LATERAL retailiq.forecast_all((SELECT retailiq.forecast_fit(series::text, ts, y, 'ets') FROM c_monthly
                                       WHERE ts < date '2020-01-01' + make_interval(months => 36 - 6 * o.k)), 12) f;
SELECT r.series, count(*) = 3 * 12 AS three_origins,
       round(r.wape::numeric, 10) =
       round(((SELECT retailiq.model_info(combo) FROM c_models) #>> ARRAY['metrics', 'validation_wape', (r.series - 1)::text, '0'])::numeric, 10)
         AS ets_wape_is_the_recomputed_one
  FROM (SELECT e.series, sum(abs(a.y - e.yhat)) OVER w / sum(abs(a.y)) OVER w AS wape
          FROM c_ets_origins e JOIN c_monthly a ON a.series = e.series AND a.ts = e.ts
        WINDOW w AS (PARTITION BY e.series)) r
 GROUP BY r.series, r.wape ORDER BY 1;
SELECT retailiq.model_info(combo) #> '{metrics,validation_candidates}' AS candidates,
       retailiq.model_info(combo) #> '{metrics,validation_series}' AS validated,
       jsonb_array_length(retailiq.model_info(combo) #> '{metrics,validation_wape_pooled}') AS pooled
  FROM c_models;
-- the weighted combination's held-out error is at most its worst component's
SELECT s - 1 AS series_index,
       (w ->> 3)::float8 <= greatest((w ->> 0)::float8, (w ->> 1)::float8, (w ->> 2)::float8) AS combination_within_components
  FROM c_models, generate_series(1, 2) s,
       LATERAL (SELECT retailiq.model_info(combo) #> ARRAY['metrics', 'validation_wape', (s - 1)::text] AS w) x
 ORDER BY 1;
-- the horizon asked shortens the held-out stretch to it (at most a season): other weights
SELECT (SELECT retailiq.forecast_fit(series::text, ts, y, 'combo', '{"horizon": 3}') FROM c_monthly)::text::jsonb -> 'data' -> 'par' -> 0
       <> (combo::text::jsonb -> 'data' -> 'par' -> 0) AS horizon_changes_the_weights,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'combo', '{"horizon": 36}') FROM c_monthly)::text::jsonb -> 'data' -> 'par'
       = (combo::text::jsonb -> 'data' -> 'par') AS a_longer_horizon_keeps_the_season
  FROM c_models;
SELECT retailiq.forecast_fit(series::text, ts, y, 'combo', '{"horizon": 0}') FROM c_monthly;
-- The calibration's evidence (model_info): the share of the held-out periods inside the
-- components' own combined interval, and inside the calibrated one. In the panel the
-- calibration is the conformal quantile of the 72 multiples (the 59th smallest): 59 of 72
-- inside; a lone series its own 30th of 36. The calibration widens exactly when the
-- uncalibrated interval held fewer.
SELECT n.k AS series_in_fit,
       (i #>> '{metrics,validation_coverage_periods}')::int AS periods,
       round((i #>> '{metrics,validation_coverage_calibrated}')::numeric, 4) AS calibrated,
       ((SELECT min(phi) FROM retailiq.forecast_model_series(m)) > 1) =
       ((i #>> '{metrics,validation_coverage}')::float8 < (i #>> '{metrics,validation_coverage_calibrated}')::float8) AS widened_when_it_held_fewer
  FROM (VALUES (2), (1)) n(k),
       LATERAL (SELECT retailiq.forecast_fit(series::text, ts, y, 'combo') AS m FROM c_monthly WHERE series <= n.k) f,
       LATERAL (SELECT retailiq.model_info(f.m) AS i) x
 ORDER BY 1 DESC;
-- a method without a calibration records none
SELECT retailiq.model_info(ets) #> '{metrics,validation_coverage}' AS ets_coverage FROM c_models;
-- A combination saved before 2026-12-07 had damped ETS as its second component, in the same
-- layout: such a model (made here by putting series 1's damped ETS fit in that record) is
-- read as it was written and forecasts the weighted mean of its components, damped ETS's
-- forecast weighted by beta.
CREATE TEMP TABLE c_old AS
SELECT jsonb_set(jsonb_set(jsonb_set(jsonb_set(c.m::text::jsonb,
         '{data,method,2}', d.m::text::jsonb #> '{data,method,0}'),
         '{data,spec,2}', d.m::text::jsonb #> '{data,spec,0}'),
         '{data,par,2}', d.m::text::jsonb #> '{data,par,0}'),
         '{data,seasonal,2}', d.m::text::jsonb #> '{data,seasonal,0}')::text::retailiq.model AS old,
       e.m AS ets, d.m AS damped, t.m AS theta
  FROM (SELECT retailiq.forecast_fit(series::text, ts, y, 'combo') AS m FROM c_monthly WHERE series = 1) c,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'ets', '{"ets_model": "ZAdZ"}') AS m FROM c_monthly WHERE series = 1) d,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'ets') AS m FROM c_monthly WHERE series = 1) e,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'theta') AS m FROM c_monthly WHERE series = 1) t;
SELECT w.method, (SELECT method FROM retailiq.forecast_model_series(damped)) AS second_component,
       w.beta > 0 AS second_weighted, count(*) AS steps,
       max(abs(o.yhat - (w.alpha * e.yhat + w.beta * d.yhat + w.gamma * t.yhat))) < 1e-9 AS point_is_weighted_mean
  FROM c_old m
  CROSS JOIN LATERAL retailiq.forecast_all(m.old, 12) o
  CROSS JOIN LATERAL retailiq.forecast_model_series(m.old) w
  JOIN retailiq.forecast_all(m.ets, 12) e ON e.step = o.step
  JOIN retailiq.forecast_all(m.damped, 12) d ON d.step = o.step
  JOIN retailiq.forecast_all(m.theta, 12) t ON t.step = o.step
 GROUP BY 1, 2, 3;

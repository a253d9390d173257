-- 'combo': ETS, seasonal naive, Theta and damped ETS; the member set the panel's validation
-- chooses, weighted by their errors on the last periods.
-- Three monthly series with a season, a trend and noise, four years each.
CREATE TEMP TABLE c_monthly AS
SELECT s AS series, (date '2020-01-01' + make_interval(months => t))::date AS ts,
       100 + s * 20 + 1.5 * t + 15 * sin(2 * pi() * t / 12) + 12 * sin(t * 1.7 + s) + 10 * sin(t * 0.9 + 2 * s) AS y
  FROM generate_series(1, 3) s, generate_series(0, 47) t;
CREATE TEMP TABLE c_models AS
SELECT (SELECT retailiq.forecast_fit(series::text, ts, y, 'combo') FROM c_monthly) AS combo,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'ets') FROM c_monthly) AS ets,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'snaive') FROM c_monthly) AS snaive,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'theta') FROM c_monthly) AS theta,
       (SELECT retailiq.forecast_fit(series::text, ts, y, 'ets', '{"ets_model": "ZAdZ"}') FROM c_monthly) AS damped;
-- The panel's choice: each member set's combination scored over every series' held-out
-- periods (its WAPE pooled), the set with the lowest taken by every series
SELECT retailiq.model_info(combo) #> '{metrics,validation_member_sets}' AS sets,
       retailiq.model_info(combo) #>> '{metrics,validation_member_set}' AS chosen,
       (SELECT retailiq.model_info(combo) #> '{metrics,validation_member_sets}' ->> (k - 1)::int
          FROM jsonb_array_elements_text(retailiq.model_info(combo) #> '{metrics,validation_member_sets_wape_pooled}')
               WITH ORDINALITY p(w, k)
         ORDER BY w::float8 LIMIT 1) AS lowest_pooled_wape
  FROM c_models;
-- the weights (alpha, beta, gamma = ETS, seasonal naive, Theta; damped ETS's in the record's
-- seventh parameter) sum to 1; the label names the weighted members
CREATE TEMP VIEW c_weights AS
SELECT w.series, w.method, w.alpha, w.beta, w.gamma, (r.p ->> 6)::float8 AS delta, w.phi
  FROM c_models, retailiq.forecast_model_series(combo) WITH ORDINALITY w(series, method, n, alpha, beta, gamma, phi, sigma2, aicc, season, k),
       LATERAL (SELECT combo::text::jsonb #> ARRAY['data', 'par', ((w.k - 1) * 5)::text] AS p) r;
SELECT series, method, round(alpha::numeric, 3) AS w_ets, round(beta::numeric, 3) AS w_snaive,
       round(gamma::numeric, 3) AS w_theta, round(delta::numeric, 3) AS w_damped,
       round((alpha + beta + gamma + delta)::numeric, 12) AS total
  FROM c_weights ORDER BY series;
-- the forecast is the weighted mean of the members' forecasts; each bound the weighted
-- mean of theirs, moved away from (or toward) the forecast by the calibration (phi)
SELECT c.series, count(*) AS steps,
       max(abs(c.yhat - (w.alpha * e.yhat + w.beta * d.yhat + w.gamma * t.yhat + w.delta * dd.yhat))) < 1e-9 AS point_is_weighted_mean,
       max(abs(c.yhat_lower - (c.yhat - w.phi * (c.yhat - (w.alpha * e.yhat_lower + w.beta * d.yhat_lower + w.gamma * t.yhat_lower + w.delta * dd.yhat_lower))))) < 1e-9 AS lower_is_calibrated_weighted_mean,
       max(abs(c.yhat_upper - (c.yhat + w.phi * ((w.alpha * e.yhat_upper + w.beta * d.yhat_upper + w.gamma * t.yhat_upper + w.delta * dd.yhat_upper) - c.yhat)))) < 1e-9 AS upper_is_calibrated_weighted_mean
  FROM c_models m
  CROSS JOIN LATERAL retailiq.forecast_all(m.combo, 12) c
  JOIN c_weights w ON w.series = c.series
  JOIN retailiq.forecast_all(m.ets, 12) e ON e.series = c.series AND e.step = c.step
  JOIN retailiq.forecast_all(m.snaive, 12) d ON d.series = c.series AND d.step = c.step
  JOIN retailiq.forecast_all(m.theta, 12) t ON t.series = c.series AND t.step = c.step
  JOIN retailiq.forecast_all(m.damped, 12) dd ON dd.series = c.series AND dd.step = c.step
 GROUP BY c.series ORDER BY 1;
-- the calibration: each series alone keeps its own (the conformal 80% quantile of its chosen
-- set's held-out errors as multiples of the interval's half-width: 36 from three origins,
-- 16 kept per set, evenly spaced ranks: the 14th smallest of 16); in a panel every series
-- takes the conformal quantile of all of them pooled (the 40th of 48)
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
-- the weighted combination's held-out error is at most its worst component's (the global
-- member, index 4, is measured only on a panel long enough for its lags: NaN here)
SELECT s - 1 AS series_index,
       (w ->> 5)::float8 <= greatest((w ->> 0)::float8, (w ->> 1)::float8, (w ->> 2)::float8, (w ->> 3)::float8,
                                     nullif((w ->> 4)::float8, 'NaN')) AS combination_within_components
  FROM c_models, generate_series(1, 3) s,
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
-- members' own combined interval, and inside the calibrated one. In a panel of two the
-- calibration is the conformal quantile of the chosen set's 32 multiples (the 27th smallest):
-- 27 of 32 inside; a lone series its own 14th of 16. The calibration widens exactly when the
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
-- A combination saved before 2026-12-07 (branch acc17e) has three component records, ETS,
-- seasonal naive or (before that) damped ETS, and Theta, and no fourth weight: such a model
-- (made here from series 1's single-method fits: ETS, damped ETS and Theta weighted 0.5, 0.3
-- and 0.2) is read as it was written and forecasts the weighted mean of its components,
-- damped ETS's forecast weighted by beta.
CREATE FUNCTION pg_temp.season_row(m jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_agg(coalesce(m #> ARRAY['data', 'seasonal', '0', i::text], '0') ORDER BY i) FROM generate_series(0, 11) i $$;
CREATE TEMP TABLE c_old AS
WITH p AS (
  SELECT c.m::text::jsonb AS c, e.m::text::jsonb AS e, d.m::text::jsonb AS d, t.m::text::jsonb AS t,
         e.m AS ets, d.m AS damped, t.m AS theta
    FROM (SELECT retailiq.forecast_fit(series::text, ts, y, 'combo') AS m FROM c_monthly WHERE series = 1) c,
         (SELECT retailiq.forecast_fit(series::text, ts, y, 'ets', '{"ets_model": "ZAdZ"}') AS m FROM c_monthly WHERE series = 1) d,
         (SELECT retailiq.forecast_fit(series::text, ts, y, 'ets') AS m FROM c_monthly WHERE series = 1) e,
         (SELECT retailiq.forecast_fit(series::text, ts, y, 'theta') AS m FROM c_monthly WHERE series = 1) t)
SELECT jsonb_set(jsonb_set(jsonb_set(jsonb_set(c,
         '{data,method}', jsonb_build_array(c #> '{data,method,0}', e #> '{data,method,0}', d #> '{data,method,0}', t #> '{data,method,0}')),
         '{data,spec}', jsonb_build_array(c #> '{data,spec,0}', e #> '{data,spec,0}', d #> '{data,spec,0}', t #> '{data,spec,0}')),
         '{data,par}', jsonb_build_array(jsonb_build_array(0.5, 0.3, 0.2, 1, 0, 0, 0), e #> '{data,par,0}', d #> '{data,par,0}', t #> '{data,par,0}')),
         '{data,seasonal}', jsonb_build_array(pg_temp.season_row(c), pg_temp.season_row(e), pg_temp.season_row(d), pg_temp.season_row(t))) AS old,
       ets, damped, theta
  FROM p;
SELECT jsonb_array_length(old #> '{data,method}') AS records, w.method,
       (SELECT method FROM retailiq.forecast_model_series(damped)) AS second_component,
       w.alpha, w.beta, w.gamma, count(*) AS steps,
       max(abs(o.yhat - (w.alpha * e.yhat + w.beta * d.yhat + w.gamma * t.yhat))) < 1e-9 AS point_is_weighted_mean,
       max(abs(o.yhat_upper - (w.alpha * e.yhat_upper + w.beta * d.yhat_upper + w.gamma * t.yhat_upper))) < 1e-9 AS upper_is_weighted_mean
  FROM c_old m
  CROSS JOIN LATERAL retailiq.forecast_all(m.old::text::retailiq.model, 12) o
  CROSS JOIN LATERAL retailiq.forecast_model_series(m.old::text::retailiq.model) w
  JOIN retailiq.forecast_all(m.ets, 12) e ON e.step = o.step
  JOIN retailiq.forecast_all(m.damped, 12) d ON d.step = o.step
  JOIN retailiq.forecast_all(m.theta, 12) t ON t.step = o.step
 GROUP BY 1, 2, 3, 4, 5, 6;
-- such a model has no fourth component: a weight for one makes it corrupt
SELECT retailiq.forecast_all(jsonb_set(jsonb_set(old, '{data,par,0,0}', '0.4'), '{data,par,0,6}', '0.1')::text::retailiq.model, 3)
  FROM c_old;

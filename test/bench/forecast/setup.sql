-- Forecast bench: the tables every data set loads into, and the one function that fits and
-- forecasts any method of retailiq.forecast_methods through its own trainer.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS fb CASCADE;
CREATE SCHEMA fb;

-- what each data set is: its period and its horizon
CREATE TABLE fb.dataset (ds text PRIMARY KEY, period interval NOT NULL, horizon int NOT NULL,
                         has_factors boolean NOT NULL);
-- training rows (everything before the test window); x: the factors, NULL without
CREATE TABLE fb.train (ds text, series text, ts date, y float8, x float8[]);
-- the factors of each series' next `horizon` periods after its last training period
-- (data sets with factors only; every series of fb.train, exactly horizon rows each)
CREATE TABLE fb.future (ds text, series text, ts date, x float8[]);
-- the held-out actuals; promo: a promoted period (Dominick's: deal or feature)
CREATE TABLE fb.actual (ds text, series text, ts date, y float8, promo boolean);
-- forecasts of every method: retailiq's and the peers'
CREATE TABLE fb.fc (ds text, method text, source text, factors boolean, series text, step int,
                    ts date, yhat float8, lo float8, hi float8);
-- fit (and forecast) time of each method, and what went wrong when it failed
CREATE TABLE fb.run (ds text, method text, source text, factors boolean, seconds float8,
                     nseries int, status text);
-- M4: MASE's scale per series, and the published accuracy table (m4.sql, run.sh fill them)
CREATE TABLE fb.m4_scale (series text, scale float8);
CREATE TABLE fb.m4_published (method text, team text, method_type text, rank text,
  smape_y float8, smape_q float8, smape_m float8, smape_w float8, smape_d float8, smape_h float8, smape_t float8,
  mase_y float8, mase_q float8, mase_m float8, mase_w float8, mase_d float8, mase_h float8, mase_t float8,
  owa_y float8, owa_q float8, owa_m float8, owa_w float8, owa_d float8, owa_h float8, owa_t float8);
-- what each method's defaults were chosen on (provenance.csv; ds '*': every data set)
CREATE TABLE fb.provenance (method text, ds text, held_out text, chosen_on text);
-- the peers' rows as their CSV has them (step counted from the series' last training period)
CREATE TABLE fb.peer_csv (method text, series text, step int, yhat float8, lo float8, hi float8);

-- One retailiq method on one data set. The trainer is the aggregate the method table names;
-- its overload and arguments are found by argument name (series, ts, y, exog, method,
-- options), so a method with a trainer of its own joins without a change here. Local methods
-- get "short": "fallback" (a series too short for the method gets its fallback, as under
-- 'auto', instead of failing the whole fit); a method with a "horizon" option is trained for
-- the horizon asked. A method given factors fits as the method table's with_factors says.
-- Returns 'ok' or the error.
CREATE FUNCTION fb.run_method(p_ds text, p_method text, p_factors boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    d fb.dataset;
    m record;
    names text[];
    args text[] := '{}';
    a text;
    opts jsonb := '{}';
    fut float8[];
    t0 timestamptz;
    ns int;
BEGIN
    SELECT * INTO d FROM fb.dataset WHERE ds = p_ds;
    SELECT * INTO m FROM retailiq.forecast_methods WHERE name = p_method;
    -- with factors, a method that names with_factors ('auto': the regression) fits through it
    IF p_factors AND m.with_factors IS NOT NULL THEN
        SELECT * INTO m FROM retailiq.forecast_methods WHERE name = m.with_factors;
    END IF;
    IF m.trainer = 'forecast_fit' THEN
        opts := opts || '{"short": "fallback"}';
    END IF;
    IF 'horizon' = ANY (m.options) THEN
        opts := opts || jsonb_build_object('horizon', d.horizon);
    END IF;
    -- the overload with options; with factors, one that takes exog
    SELECT p.proargnames INTO names
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'retailiq' AND p.proname = m.trainer AND p.prokind = 'a'
      AND 'options' = ANY (p.proargnames) AND (NOT p_factors OR 'exog' = ANY (p.proargnames))
      AND p.proargnames <@ ARRAY['series', 'ts', 'y', 'exog', 'method', 'options']
    ORDER BY ('exog' = ANY (p.proargnames)) = p_factors DESC, p.pronargs LIMIT 1;
    IF names IS NULL THEN
        RETURN 'no overload of retailiq.' || m.trainer || ' takes (series, ts, y[, exog][, method], options)';
    END IF;
    FOREACH a IN ARRAY names LOOP
        args := args || CASE a WHEN 'exog' THEN CASE WHEN p_factors THEN 'x' ELSE 'NULL::float8[]' END
                               WHEN 'method' THEN quote_literal(p_method)
                               WHEN 'options' THEN quote_literal(opts::text) || '::jsonb'
                               ELSE a END;
    END LOOP;
    IF p_factors THEN
        SELECT array_agg(xs ORDER BY series COLLATE "C") INTO fut
        FROM (SELECT series, array_agg(x ORDER BY ts) AS xs FROM fb.future WHERE ds = p_ds GROUP BY series) q;
    END IF;
    SELECT count(DISTINCT series) INTO ns FROM fb.train WHERE ds = p_ds;
    t0 := clock_timestamp();
    BEGIN
        EXECUTE format('CREATE TEMP TABLE fb_model AS SELECT retailiq.%I(%s) AS m FROM fb.train WHERE ds = $1',
                       m.trainer, array_to_string(args, ', ')) USING p_ds;
        INSERT INTO fb.fc
        SELECT p_ds, p_method, 'retailiq', p_factors, f.series, f.step, f.ts, f.yhat, f.yhat_lower, f.yhat_upper
        FROM fb_model, retailiq.forecast_all(fb_model.m, d.horizon, fut) f;
        DROP TABLE fb_model;
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO fb.run VALUES (p_ds, p_method, 'retailiq', p_factors, NULL, ns, SQLERRM);
        RETURN SQLERRM;
    END;
    INSERT INTO fb.run VALUES (p_ds, p_method, 'retailiq', p_factors,
                               extract(epoch FROM clock_timestamp() - t0), ns, 'ok');
    RETURN 'ok';
END $$;

-- The methods to run on a data set: every method of the table; those taking factors with the
-- factors where the data set has them.
CREATE FUNCTION fb.methods(p_ds text) RETURNS TABLE (method text, factors boolean)
LANGUAGE sql AS $$
    SELECT m.name, m.factors AND d.has_factors
    FROM retailiq.forecast_methods m, fb.dataset d WHERE d.ds = p_ds
$$;

-- Peer forecasts (fb.peer_csv, just loaded) into fb.fc: step k is k periods after the
-- series' last training period.
CREATE FUNCTION fb.load_peer(p_ds text, p_source text, p_factors_methods text[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO fb.fc
    SELECT p_ds, c.method, p_source, c.method = ANY (p_factors_methods), c.series, c.step,
           (l.last + c.step * d.period)::date, c.yhat, c.lo, c.hi
    FROM fb.peer_csv c
    JOIN (SELECT series, max(ts) AS last FROM fb.train WHERE ds = p_ds GROUP BY series) l USING (series)
    CROSS JOIN fb.dataset d WHERE d.ds = p_ds;
    TRUNCATE fb.peer_csv;
$$;

-- forecasts joined to the actuals
CREATE VIEW fb.scored AS
SELECT f.ds, f.method, f.source, f.factors, f.series, f.step, f.ts, f.yhat, f.lo, f.hi, a.y, a.promo
FROM fb.fc f JOIN fb.actual a USING (ds, series, ts);

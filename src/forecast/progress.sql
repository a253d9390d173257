
-- Progress of the forecast fits running now (forecast_fit calls, streamed or not, and the
-- LSTM's base fits; and so of refresh_forecasts), one row per call, like
-- pg_stat_progress_*: the rows come from a shared-memory area that exists when retailiq is
-- in shared_preload_libraries (without it the view is empty).
CREATE FUNCTION retailiq_internal.forecast_progress_rows(
        OUT pid int, OUT datid oid, OUT label text, OUT method text, OUT series_done bigint,
        OUT series_total bigint, OUT workers int, OUT started timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'forecast_progress_rows' LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 10;
CREATE VIEW retailiq.forecast_progress AS
SELECT p.pid, p.datid, d.datname, p.label, p.method, p.series_done, p.series_total, p.workers,
       p.started,
       e.elapsed,
       round((p.series_done / nullif(extract(epoch FROM e.elapsed), 0))::numeric, 2) AS series_per_second,
       CASE WHEN p.series_done > 0
            THEN clock_timestamp() + e.elapsed * ((p.series_total - p.series_done)::float8 / p.series_done)
       END AS estimated_end
  FROM retailiq_internal.forecast_progress_rows() p
  LEFT JOIN pg_catalog.pg_database d ON d.oid = p.datid
  CROSS JOIN LATERAL (SELECT clock_timestamp() - p.started AS elapsed) e;
GRANT SELECT ON retailiq.forecast_progress TO PUBLIC;
COMMENT ON VIEW retailiq.forecast_progress IS
    'forecast fits running now (forecast_fit calls, streamed or not, and the LSTM''s base fits): series done and total, workers, rate and estimated end (needs shared_preload_libraries)';

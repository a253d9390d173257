-- Models written by retailiq 0.1.0 (models-0.1.0.copy: binary COPY of (kind, model) made by
-- the 0.1.0 library, commit c707f0f), read by this version: header, kind and format version
-- checked on read, every model predicts as 0.1.0 predicted (models-0.1.0.expected holds
-- 0.1.0's own output of this file). Run by tools/upgradecheck.sh from the repository root.
\pset format unaligned
CREATE TEMP TABLE m (kind text PRIMARY KEY, m retailiq.model);
\copy m FROM 'test/data/upgrade/models-0.1.0.copy' WITH (FORMAT binary)
SELECT kind, retailiq.model_kind(m) FROM m ORDER BY kind;
SELECT round(retailiq.churn_probability((SELECT m FROM m WHERE kind = 'bgnbd'), 2, 6.0, 40.0)::numeric, 10);
SELECT kind, retailiq.model_info(m) ->> 'kind' AS info_kind FROM m ORDER BY kind;
SELECT step, ts, round(yhat::numeric, 8), round(yhat_lower::numeric, 8), round(yhat_upper::numeric, 8)
  FROM retailiq.forecast((SELECT m FROM m WHERE kind = 'ets'), 's1', 3);
SELECT retailiq.kmeans_assign((SELECT m FROM m WHERE kind = 'kmeans'), ARRAY[1, 2]::float8[]),
       retailiq.kmeans_assign((SELECT m FROM m WHERE kind = 'kmeans'), ARRAY[6, 9]::float8[]);
SELECT round(retailiq.churn_probability((SELECT m FROM m WHERE kind = 'logit'), ARRAY[3, 4]::float8[])::numeric, 10);
SELECT item, round(confidence::numeric, 6) FROM retailiq.recommend(ARRAY[1]::bigint[], (SELECT m FROM m WHERE kind = 'rules'), 3);
-- the text form (what pg_dump writes) reads back to the same value
SELECT kind, m::text::retailiq.model::text = m::text AS text_round_trip FROM m ORDER BY kind;

-- behaviour: the customer profile, one row per customer, the single place a BI tool reads a
-- customer from. The scores come from the other parts (segment: rfm_segments, kmeans_assign;
-- churn: churn_features + a logit model, or BG/NBD; Gamma-Gamma CLV), computed by
-- retailiq.refresh_customer_profile into a table because they are whole-population
-- computations (RFM quintiles) too slow for a view; tags are joined live.

CREATE TABLE retailiq.customer_profile_data (
    customer_id        bigint PRIMARY KEY,
    as_of              timestamptz NOT NULL,
    orders_source      text,        -- the registered orders relation the scores come from
    recency_days       int,
    frequency          bigint,
    monetary           numeric,
    r                  int,
    f                  int,
    m                  int,
    rfm_code           text,
    segment            text,
    cluster            int,
    churn_probability  float8,
    churn_tier         text,
    churn_model        text,
    expected_purchases_90d float8,
    clv                float8
);
COMMENT ON TABLE retailiq.customer_profile_data IS
    'scores behind retailiq.customer_profile, rebuilt by retailiq.refresh_customer_profile';
COMMENT ON COLUMN retailiq.customer_profile_data.orders_source IS
    'the orders relation registered when the profile was computed (reports use the profile only for that source)';

-- The model saved under `name`, or NULL when there is none (load_model raises instead).
CREATE FUNCTION retailiq_internal.model_or_null(name text, kind text) RETURNS retailiq.model
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.model FROM retailiq.models s
     WHERE s.name = $1 AND retailiq.model_kind(s.model) = $2
     ORDER BY s.version DESC LIMIT 1
$$;

CREATE FUNCTION retailiq.refresh_customer_profile(
    as_of timestamptz DEFAULT now(),
    kmeans_model text DEFAULT 'customer_kmeans',
    churn_model text DEFAULT 'churn',
    bgnbd_model text DEFAULT 'bgnbd',
    gammagamma_model text DEFAULT 'gammagamma')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ord text := retailiq_internal.source_sql('orders');
    km retailiq.model;
    lg retailiq.model;
    bg retailiq.model;
    gg retailiq.model;
    n bigint;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = '22004', HINT = 'Omit it for now().';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('retailiq.refresh_customer_profile'));
    km := retailiq_internal.model_or_null(kmeans_model, 'kmeans');
    lg := retailiq_internal.model_or_null(churn_model, 'logit');
    bg := retailiq_internal.model_or_null(bgnbd_model, 'bgnbd');
    gg := retailiq_internal.model_or_null(gammagamma_model, 'gammagamma');

    DELETE FROM retailiq.customer_profile_data;
    INSERT INTO retailiq.customer_profile_data
        (customer_id, as_of, orders_source, recency_days, frequency, monetary, r, f, m, rfm_code, segment, cluster)
    SELECT s.customer_id, as_of, retailiq_internal.source_relation('orders')::text, s.recency_days, s.frequency, s.monetary, s.r, s.f, s.m,
           s.rfm_code, s.segment,
           CASE WHEN km IS NOT NULL
                THEN retailiq.kmeans_assign(km, ARRAY[s.recency_days, s.frequency, s.monetary]::float8[]) END
      FROM retailiq.rfm_segments(retailiq_internal.source_relation('orders'), as_of, 5,
                                 retailiq_internal.source_column('orders', 'customer_id'),
                                 retailiq_internal.source_column('orders', 'ordered_at'),
                                 retailiq_internal.source_column('orders', 'total_amount')) s;
    GET DIAGNOSTICS n = ROW_COUNT;

    -- BG/NBD (weeks): probability of having churned, expected purchases, and CLV with Gamma-Gamma
    IF bg IS NOT NULL THEN
        EXECUTE format($q$
            WITH ps AS (
                SELECT customer_id::bigint AS customer_id,
                       retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                                 ($1 AT TIME ZONE 'UTC')::date, '7 days') AS p
                  FROM %s o WHERE ordered_at <= $1 GROUP BY customer_id)
            UPDATE retailiq.customer_profile_data d
               SET churn_probability = retailiq.churn_probability($2, (ps.p).frequency, (ps.p).recency, (ps.p).t),
                   churn_model = 'bgnbd',
                   expected_purchases_90d = retailiq.expected_purchases($2, (ps.p).frequency, (ps.p).recency,
                                                                        (ps.p).t, 90 / 7.0),
                   clv = CASE WHEN $3 IS NOT NULL AND (ps.p).frequency > 0
                              THEN retailiq.clv($2, $3, (ps.p).frequency, (ps.p).recency, (ps.p).t,
                                                (ps.p).monetary, 12, 0.01, 4.345) END
              FROM ps WHERE ps.customer_id = d.customer_id AND ps.p IS NOT NULL$q$, ord)
        USING as_of, bg, gg;
    END IF;
    -- the supervised model, where saved, takes precedence for the churn probability
    IF lg IS NOT NULL THEN
        UPDATE retailiq.customer_profile_data d
           SET churn_probability = retailiq.churn_probability(lg, cf.features), churn_model = 'logit'
          FROM retailiq.churn_features(refresh_customer_profile.as_of) cf  -- as_of is also a column of d
         WHERE cf.customer_id = d.customer_id;
    END IF;
    UPDATE retailiq.customer_profile_data
       SET churn_tier = retailiq.churn_risk(churn_probability)
     WHERE churn_probability IS NOT NULL;
    RETURN n;
END
$$;

CREATE VIEW retailiq.customer_profile AS
SELECT coalesce(d.customer_id, t.customer_id) AS customer_id,
       d.as_of, d.recency_days, d.frequency, d.monetary, d.r, d.f, d.m, d.rfm_code, d.segment,
       d.cluster, d.churn_probability, d.churn_tier, d.churn_model, d.expected_purchases_90d, d.clv,
       coalesce(t.tags, '{}') AS tags
  FROM retailiq.customer_profile_data d
  FULL JOIN (SELECT customer_id, array_agg(tag ORDER BY tag) AS tags
               FROM retailiq.customer_tag GROUP BY customer_id) t
    ON t.customer_id = d.customer_id;
COMMENT ON VIEW retailiq.customer_profile IS
    'one row per customer: RFM, segment, cluster, churn, CLV (as of the last refresh_customer_profile) and current tags';

-- recall@10 and NDCG@10 of a list (customer, rank, product) against a test set (customer, product),
-- the definitions of the README's scorer: means over the test customers, a customer without a
-- list scores zero, binary gains, log2 discount, ideal DCG over min(|test set|, 10) positions.
CREATE OR REPLACE FUNCTION pg_temp.score_recs(recs regclass, test regclass, OUT recall10 float8, OUT ndcg10 float8)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        WITH t AS (SELECT customer, count(*) AS n FROM %2$s GROUP BY customer),
        h AS (SELECT r.customer, r.rank FROM %1$s r JOIN %2$s x USING (customer, product) WHERE r.rank <= 10),
        per AS (SELECT t.customer, t.n, count(h.rank) AS hits,
                       coalesce(sum(1 / log(2, h.rank + 1)), 0) AS dcg
                FROM t LEFT JOIN h USING (customer) GROUP BY t.customer, t.n)
        SELECT avg(hits::float8 / n), avg(dcg / (SELECT sum(1 / log(2, g + 1)) FROM generate_series(1, least(n, 10)::int) g))::float8
        FROM per$q$, recs, test) INTO recall10, ndcg10;
END $$;

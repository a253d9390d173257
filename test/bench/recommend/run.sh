#!/usr/bin/env bash
# Recommendations for each customer (make bench BENCH=recommend).
#  1. Online Retail (UCI), protocol P1 of ../shared/data/online_retail/README.md: each customer's
#     last purchase date held back. retailiq.recommender_fit on the rest, 10 products a customer,
#     repeat purchases allowed and new products only; recall@10 and NDCG@10 by the README's
#     definitions (score.sql), and by the README's own scorer (scripts/score_recs.py) on the
#     same lists in the same run. Beside them: the README's reference figures for the peers
#     (personal_top, item_knn, arules; chosen on validation there) and, recomputed here in the
#     same run, personal_top and item-kNN (k = 20, the README's choice) in SQL (peers.sql).
#  2. The sample (generate_sample_data, 2,000 customers, 300 products, a year): the same
#     protocol, retailiq against the SQL peers of this run.
#  3. Fit time on 1,000,000 purchase lines (Online Retail's clean lines, customers copied with
#     new ids up to 1,000,000 lines), wall time and the backend's CPU time, with the load.
set -euo pipefail
: "${REPO:?}" "${WORK:?}"
HERE=$REPO/test/bench/recommend
OR=${BENCH_DATA:?}/online_retail
Q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
B=$WORK/recommend_bench
mkdir -p "$B"; chmod 777 "$B"
PY=/usr/bin/python3
if ! $PY -c 'import pandas' 2>/dev/null && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pandas >/dev/null 2>&1 || true
fi

# ratio line: ours, peer -> "x.xx"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

run_ours() {  # $1 train table, $2 held-back customers, $3 prefix
  Q -At -c "CREATE TABLE $3_model AS SELECT retailiq.recommender_fit(customer, product, quantity, at) AS m FROM $1"
  Q -At -c "CREATE TABLE $3_ours_repeat AS SELECT customer, rank, product FROM $3_model, retailiq.recommend_for_customers(m, 10)
              WHERE customer IN (SELECT customer FROM $2)"
  Q -At -c "CREATE TABLE $3_ours_new AS SELECT customer, rank, product FROM $3_model, retailiq.recommend_for_customers(m, 10, '{\"repeat\": false}')
              WHERE customer IN (SELECT customer FROM $2)"
}
peers() {  # $1 train table, $2 held-back customers, $3 prefix: the SQL peers, k = 20
  Q -v train="$1" -v last="$2" -v k=20 -f "$HERE/peers.sql" >/dev/null
  for t in personal_top item_knn_repeat item_knn_new; do Q -c "ALTER TABLE peer_$t RENAME TO $3_$t"; done
}
score() {  # $1 recs, $2 test -> "recall ndcg"
  Q -At -F ' ' -f "$HERE/score.sql" -c "SELECT round(recall10::numeric, 4), round(ndcg10::numeric, 4) FROM pg_temp.score_recs('$1', '$2')" | tail -1
}
row() { printf '   %-44s %9s %9s\n' "$1" "$2" "$3"; }
# evaluate PREFIX: ours and the SQL peers of this run against PREFIX_test, printed as rows;
# sets r_/n_ (recall/NDCG) of rep, new (ours), pt (personal_top), kr, kn (item-kNN)
evaluate() {
  read -r r_rep n_rep <<<"$(score $1_ours_repeat $1_test)"
  read -r r_new n_new <<<"$(score $1_ours_new $1_test)"
  read -r r_pt n_pt <<<"$(score $1_personal_top $1_test)"
  read -r r_kr n_kr <<<"$(score $1_item_knn_repeat $1_test)"
  read -r r_kn n_kn <<<"$(score $1_item_knn_new $1_test)"
  row "method (variant)" "recall@10" "NDCG@10"
  row "retailiq recommender (repeat)" "$r_rep" "$n_rep"
  row "retailiq recommender (new)" "$r_new" "$n_new"
  row "personal_top, this run (SQL)" "$r_pt" "$n_pt"
  row "item_knn k=20 (repeat), this run (SQL)" "$r_kr" "$n_kr"
  row "item_knn k=20 (new), this run (SQL)" "$r_kn" "$n_kn"
}
validation() {  # $1 model table
  Q -At -c "SELECT 'validation inside the fit (' || (i->'metrics'->>'validation_customers') || ' customers): repeat NDCG@10 '
              || round((i->'metrics'->>'validation_repeat_ndcg10')::numeric, 4) || ' (own most-bought '
              || round((i->'metrics'->>'baseline_own_top_ndcg10')::numeric, 4) || '), new NDCG@10 '
              || round((i->'metrics'->>'validation_new_ndcg10')::numeric, 4) || ' (item-kNN '
              || round((i->'metrics'->>'baseline_knn_new_ndcg10')::numeric, 4) || '); chosen: factors '
              || (i->'params'->>'factors') || ', lambda ' || (i->'params'->>'lambda') || ', alpha ' || (i->'params'->>'alpha') || ', neighbours ' || (i->'params'->>'neighbours')
              || ', confidence ' || (i->'params'->>'confidence')
          FROM (SELECT retailiq.model_info(m) AS i FROM $1) s"
  # the validation's best new-products NDCG@10 per ALS confidence (grid column 15: 0 linear, 1 BM25)
  Q -At -c "SELECT 'validation, new products, best NDCG@10 by confidence: ' || string_agg(
                     CASE c WHEN 0 THEN 'linear ' ELSE 'bm25 ' END || round(best::numeric, 4), ', ' ORDER BY c)
              FROM (SELECT (g->>14)::float8::int AS c, max((g->>10)::float8) AS best
                      FROM $1, jsonb_array_elements(retailiq.model_info(m)->'metrics'->'validation_grid') g
                     WHERE (g->>6)::float8 = 0 GROUP BY 1) x"
}

echo "-- load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
# ---- 1. Online Retail P1 ----------------------------------------------------------------
if [ -f "$OR/online_retail_clean_shared.csv.gz" ]; then
  Q -v gunzip="gzip -dc $OR/online_retail_clean_shared.csv.gz" -f "$HERE/online_retail.sql" >/dev/null
  t0=$(date +%s.%N)
  run_ours orl_train orl_last orl
  t1=$(date +%s.%N)
  peers orl_train orl_last orl
  echo "-- Online Retail P1: $(Q -At -c "SELECT count(*) FROM orl_train") training lines, $(Q -At -c "SELECT count(DISTINCT customer) FROM orl_test") test customers (fit + 2 x 10 products for every customer: $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", b-a}') s wall)"
  validation orl_model
  evaluate orl
  row "personal_top, README" 0.1868 0.2815
  row "item_knn (repeat), README" 0.0843 0.1457
  row "item_knn (new), README" 0.0287 0.0610
  row "arules (new), README" 0.0280 0.0566
  echo "   ratios, repeat vs personal_top (README): recall $(ratio $r_rep 0.1868), NDCG $(ratio $n_rep 0.2815)   (goal >= 1)"
  echo "   ratios, new vs best of item_knn/arules (README 0.0287 / 0.0610): recall $(ratio $r_new 0.0287), NDCG $(ratio $n_new 0.0610)   (goal >= 1.2)"
  if $PY -c 'import pandas' 2>/dev/null; then
    for v in repeat new; do
      Q -c "\copy (SELECT r.customer, r.rank, i.stock_code AS item FROM orl_ours_$v r JOIN orl_items i USING (product) ORDER BY 1, 2) TO '$B/ours_$v.csv' WITH (FORMAT csv, HEADER)"
      sed -i '1s/.*/customer,rank,item/' "$B/ours_$v.csv"
      echo "   README scorer (score_recs.py), ours $v: $($PY "$OR/scripts/score_recs.py" "$OR/reference/reco_test_online_retail_shared_P1.csv" "$B/ours_$v.csv")"
    done
  else
    echo "   (python3-pandas missing: the README's scorer was not run; score.sql uses its definitions)"
  fi
else
  echo "-- Online Retail: $OR is missing, skipped"
fi

# ---- 2. the sample ----------------------------------------------------------------------
Q -f "$HERE/sample.sql" >/dev/null
run_ours smp_train smp_last smp
peers smp_train smp_last smp
echo "-- sample (generate_sample_data 2000 customers, 300 products, 365 days, seed 42): $(Q -At -c "SELECT count(*) FROM smp_train") training lines, $(Q -At -c "SELECT count(DISTINCT customer) FROM smp_test") test customers"
validation smp_model
evaluate smp
echo "   ratios, repeat vs personal_top: recall $(ratio $r_rep $r_pt), NDCG $(ratio $n_rep $n_pt)   (goal >= 1)"
echo "   ratios, new vs item_knn: recall $(ratio $r_new $r_kn), NDCG $(ratio $n_new $n_kn)   (goal >= 1.2)"

# ---- 3. fit time on 1,000,000 purchase lines --------------------------------------------
if [ -f "$OR/online_retail_clean_shared.csv.gz" ]; then
  Q -c "CREATE TABLE lines1m AS SELECT customer + 100000 * k AS customer, product, quantity, at
          FROM orl_lines, generate_series(0, 3) k ORDER BY k, customer, product, at LIMIT 1000000"
  Q -c "ANALYZE lines1m"
  cat > "$B/fit1m.sh" <<'SH'
pid=$(cat "$1/pid")
cpu() { awk '{ print $14 + $15 }' /proc/$pid/stat; }
SH
  load0=$(cut -d' ' -f1 /proc/loadavg)
  out=$(Q -At <<'SQL'
SET max_parallel_workers_per_gather = 0;
SELECT pg_backend_pid() \gset
\o /dev/null
SELECT clock_timestamp() AS t0 \gset
\setenv RIQ_PID :pg_backend_pid
\! awk '{ print $14 + $15 }' /proc/$RIQ_PID/stat > /tmp/riq_reco_cpu0
SELECT retailiq.recommender_fit(customer, product, quantity, at) IS NOT NULL FROM lines1m;
\! awk '{ print $14 + $15 }' /proc/$RIQ_PID/stat > /tmp/riq_reco_cpu1
\o
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 1);
SQL
)
  load1=$(cut -d' ' -f1 /proc/loadavg)
  tck=$(getconf CLK_TCK)
  cpu=$(awk -v a="$(cat /tmp/riq_reco_cpu0)" -v b="$(cat /tmp/riq_reco_cpu1)" -v t="$tck" 'BEGIN { printf "%.1f", (b - a) / t }')
  rm -f /tmp/riq_reco_cpu0 /tmp/riq_reco_cpu1
  echo "-- fit on 1,000,000 purchase lines ($(Q -At -c "SELECT count(DISTINCT customer) || ' customers, ' || count(DISTINCT product) || ' products' FROM lines1m")): $out s wall, $cpu s CPU of the backend (goal <= 30 s on one core); load average $load0 -> $load1 on $(nproc) cores"
fi

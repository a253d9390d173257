#!/usr/bin/env bash
# sample_ceiling.sh SEED: a diagnostic of "new products only" on the sample, not part of
# `make bench`. In a scratch database (riq_ceiling_SEED, dropped at the end) it makes the
# bench's split of generate_sample_data(2000 customers, 300 products, 365 days, SEED)
# (sample.sql), fits retailiq.recommender_fit with its defaults, and prints beside it the SQL
# item-kNN peer (k = 20) and the rankings of sample_ceiling.sql built from what the generator
# planted. Connects with the usual PG* variables, e.g.
#   PGHOST=/tmp/dev-x PGPORT=5513 PGUSER=postgres bash test/bench/recommend/sample_ceiling.sh 7
# Develop on seeds other than the bench's 42, whose held-back baskets are the bench's test.
set -euo pipefail
SEED=${1:?seed}
HERE=$(cd "$(dirname "$0")" && pwd)
DB=riq_ceiling_$SEED
Q() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
trap 'psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB"' EXIT
Q -c "CREATE EXTENSION retailiq CASCADE"
Q -v seed="$SEED" -f "$HERE/sample.sql" >/dev/null
Q -v train=smp_train -v last=smp_last -v k=20 -f "$HERE/peers.sql" >/dev/null
Q -c "CREATE TABLE smp_model AS SELECT retailiq.recommender_fit(customer, product, quantity, at) AS m FROM smp_train"
Q -c "CREATE TABLE smp_ours_new AS SELECT customer, rank, product FROM smp_model,
        retailiq.recommend_for_customers(m, 10, '{\"repeat\": false}') WHERE customer IN (SELECT customer FROM smp_last)"
echo "-- sample seed $SEED, new products only: recall@10 NDCG@10 (load: $(cut -d' ' -f1-3 /proc/loadavg))"
Q -At -F ' ' -f "$HERE/score.sql" -c "SELECT rpad('retailiq (defaults)', 20), round(recall10::numeric, 4), round(ndcg10::numeric, 4) FROM pg_temp.score_recs('smp_ours_new', 'smp_test')
      UNION ALL SELECT rpad('item-kNN k = 20', 20), round(recall10::numeric, 4), round(ndcg10::numeric, 4) FROM pg_temp.score_recs('peer_item_knn_new', 'smp_test')"
Q -v schema=bench_reco -v train=smp_train -v last=smp_last -v test=smp_test -f "$HERE/sample_ceiling.sql"

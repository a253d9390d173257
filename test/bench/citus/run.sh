#!/usr/bin/env bash
# BENCH=citus make bench: the same sample retailer on a local Citus cluster (coordinator + 2
# workers, 8 shards) and in plain tables on one node; per analytic: the time on each (best of
# 3), the ratio, the rows that reach the coordinator and
# where the work runs (rows and bytes: the task query of one shard, EXPLAIN VERBOSE, run on
# every shard with run_command_on_shards). Needs Citus (installed, or ../shared/citus, as the test suite).
# BENCH_CUSTOMERS (default 3000) sizes the data.
set -euo pipefail
cd "$REPO"
. tools/lib.sh
. tools/citus.sh
ROOT=$WORK/root
LOGDIR=$WORK/logs; mkdir -p "$LOGDIR"
if ! citus_find; then echo "citus: skipped ($CITUS_SKIP)"; exit 0; fi
citus_install
citus_cluster > "$LOGDIR/citus-bench.log" 2>&1 || { tail -20 "$LOGDIR/citus-bench.log"; exit 1; }
trap 'citus_stop; cleanup' EXIT
P=(psql -X -q -h "$CITUS_SOCK" -p "$CITUS_PORT_coord" -U "$(cluster_user)" -d retailiq_citus -v ON_ERROR_STOP=1)
# the suite's distribution script, at the bench size
sed "s/customers => 400/customers => ${BENCH_CUSTOMERS:-3000}/" test/citus/sql/00_distribute.sql | "${P[@]}" >/dev/null
"${P[@]}" -f test/bench/citus/bench.sql
echo "   load while measuring: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (shared machine)"

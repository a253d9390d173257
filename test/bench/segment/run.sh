#!/usr/bin/env bash
# Benchmark for the segment part (make bench; BENCH=segment make bench for this one only).
#  1. k-means, 300,000 x 8 generated features, k = 8, n_init = 4, k-means++, tol 1e-4,
#     raw features (standardize => false) on both sides: retailiq.kmeans_segment against
#     scikit-learn's KMeans (Debian python3-sklearn) -- the fit alone (data already in
#     numpy) on one thread (threadpoolctl) and on all threads, and the user's real path (COPY
#     the table out to CSV, pandas.read_csv, fit).
#     Both sides run the same algorithm (greedy k-means++, Lloyd, the same stopping rule) from
#     different random streams, so the number of Lloyd iterations, most of a fit's time, is a
#     random draw on each side: at seed 42 our four restarts took 41 iterations and
#     scikit-learn's 22, over seeds 1-40 the totals per fit averaged 38.1 and 38.6 (standard
#     deviation 9.5 and 7.7; doc/segment.md). One seed's ratio therefore says more about the
#     draws than about the code: the goal's pair (issue 20: the whole SQL call on a serial
#     plan against the one-thread fit, <= 1.2) and the fit-alone pair are timed over the seeds
#     BENCH_SEEDS (default 1-20, the same seed numbers on both sides, fixed in advance and not
#     chosen by their outcome: 20 seeds bring the iterations' share of the noise to about 3%
#     of the time ratio), as the sums of the seeds' best times; the Lloyd iterations of all
#     restarts and the mean inertia are printed per side. The parallel plan and the user's
#     path are timed at seed 42 alone (one draw each).
#  2. RFM segments of the 100,000-customer sample retailer (generate_sample_data): retailiq
#     (rfm_agg + rfm_breaks + rfm_score) against the equivalent plain SQL with NTILE windows.
# BENCH_ROWS, BENCH_CUSTOMERS, BENCH_SEEDS change the sizes. Timings are the best of BENCH_REPEAT
# runs (k-means: per seed, the serial SQL calls and the one-thread fits alternately, round by
# round; RFM: BENCH_REPEAT + 1 runs of each side, alternately).
set -euo pipefail
PY=/usr/bin/python3
ROWS=${BENCH_ROWS:-300000}
CUSTOMERS=${BENCH_CUSTOMERS:-100000}
REPEAT=${BENCH_REPEAT:-2}
SEEDS=${BENCH_SEEDS:-$(seq -s ' ' 1 20)}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$WORK/segment_bench
mkdir -p "$W"
chmod 777 "$W"

need=()
for p in python3-sklearn python3-pandas python3-numpy; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "   skipped: install ${need[*]} (Debian packages) to run the scikit-learn side"; exit 0
  fi
fi

now() { date +%s.%N; }
# best_of <n> <command...>: the best wall time of n runs, in seconds
best_of() {
  local n=$1 best='' s e t; shift
  for _ in $(seq 1 "$n"); do
    s=$(now); "$@" >/dev/null; e=$(now)
    t=$(echo "$e - $s" | bc)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" -eq 1 ]; then best=$t; fi
  done
  echo "$best"
}
# best_of_pair <n> <sql a> <sql b>: the best wall times of a and of b, run alternately n times
# each (a, b, a, b, ...), so that a load rising or falling during the runs favours neither
best_of_pair() {
  local n=$1 a=$2 b=$3 ba='' bb='' s t
  for _ in $(seq 1 "$n"); do
    s=$(now); q -c "$a" >/dev/null; t=$(echo "$(now) - $s" | bc)
    if [ -z "$ba" ] || [ "$(echo "$t < $ba" | bc)" -eq 1 ]; then ba=$t; fi
    s=$(now); q -c "$b" >/dev/null; t=$(echo "$(now) - $s" | bc)
    if [ -z "$bb" ] || [ "$(echo "$t < $bb" | bc)" -eq 1 ]; then bb=$t; fi
  done
  echo "$ba $bb"
}
ratio() { echo "scale=3; $1 / $2" | bc; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

echo "-- k-means: $ROWS x 8 features, k = 8, n_init = 4 (data: $HERE/gen_points.py, seeded); seeds $SEEDS"
$PY "$HERE/gen_points.py" "$ROWS" 8 8 "$W/points.csv"
q <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS seg_bench_raw, seg_bench_points;
CREATE TABLE seg_bench_raw (f1 float8, f2 float8, f3 float8, f4 float8, f5 float8, f6 float8, f7 float8, f8 float8);
\copy seg_bench_raw FROM '$W/points.csv' CSV
CREATE TABLE seg_bench_points AS
SELECT row_number() OVER () AS id, ARRAY[f1, f2, f3, f4, f5, f6, f7, f8] AS features FROM seg_bench_raw;
DROP TABLE seg_bench_raw;
VACUUM ANALYZE seg_bench_points;
SQL

# fit <seed>: the whole SQL call's statement
fit() { echo "SELECT (retailiq.model_info(retailiq.kmeans_segment(features, 8, $1, 4, 300, 1e-4, false)) #>> '{metrics,inertia}') FROM seg_bench_points"; }
riq_par=$(best_of "$REPEAT" q -c "$(fit 42)")

cat > "$W/sk.py" <<'PYEOF'
import sys, time, subprocess, io, contextlib
import numpy as np, pandas as pd
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
# sk.py fit <csv> <threads: 1 or all> <seed>...: one line per seed, "seed seconds inertia"
# sk.py iters <csv> <seed>...: one line per seed, "seed iterations" (of all n_init restarts, one thread)
# sk.py path <csv> <repeat>: the user's path at seed 42, "seconds"
mode, path = sys.argv[1], sys.argv[2]
def km(seed, verbose=0):
    return KMeans(n_clusters=8, n_init=4, init="k-means++", max_iter=300, tol=1e-4,
                  algorithm="lloyd", random_state=seed, verbose=verbose)
if mode == "fit":
    X = pd.read_csv(path, header=None).to_numpy()
    with threadpool_limits(limits=None if sys.argv[3] == "all" else int(sys.argv[3])):
        for seed in map(int, sys.argv[4:]):
            t = time.perf_counter(); m = km(seed).fit(X); t = time.perf_counter() - t
            print(seed, f"{t:.4f}", repr(m.inertia_), flush=True)
elif mode == "iters":
    # verbose prints one line per Lloyd iteration (and computes the inertia each time: untimed);
    # on one thread, as the goal's fit (threads split the sums, whose rounding can change a count)
    X = pd.read_csv(path, header=None).to_numpy()
    with threadpool_limits(limits=1):
        for seed in map(int, sys.argv[3:]):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                km(seed, verbose=1).fit(X)
            print(seed, out.getvalue().count("Iteration "), flush=True)
else:
    best = None
    for _ in range(int(sys.argv[3])):
        t = time.perf_counter()
        subprocess.run(["psql", "-X", "-q", "-c",
                        "\\copy (SELECT features[1], features[2], features[3], features[4], features[5], "
                        "features[6], features[7], features[8] FROM seg_bench_points) TO '" + path + "' CSV"],
                       check=True)
        X = pd.read_csv(path, header=None).to_numpy()
        km(42).fit(X)
        t = time.perf_counter() - t
        best = t if best is None else min(best, t)
    print(f"{best:.3f}")
PYEOF
# the goal's pair, round by round: every seed's whole SQL call on a serial plan, then every
# seed's one-thread fit (then all threads), so that a load rising or falling during the runs
# favours neither; each call's DEBUG1 lines give the Lloyd iterations of all its restarts
: > "$W/riq.txt"; : > "$W/sk1.txt"; : > "$W/skall.txt"
for _ in $(seq 1 "$REPEAT"); do
  for seed in $SEEDS; do
    s=$(now)
    out=$(q -c "SET max_parallel_workers_per_gather = 0" -c "SET client_min_messages = debug1" -c "$(fit "$seed")" 2>&1)
    t=$(echo "$(now) - $s" | bc)
    its=$(echo "$out" | sed -n 's/.*kmeans_segment restart [0-9]* of [0-9]*: \([0-9]*\) Lloyd iterations.*/\1/p' | paste -sd+ | bc)
    echo "$seed $t $(echo "$out" | tail -n 1) $its" >> "$W/riq.txt"
  done
  $PY "$W/sk.py" fit "$W/points.csv" 1 $SEEDS >> "$W/sk1.txt"
  $PY "$W/sk.py" fit "$W/points.csv" all $SEEDS >> "$W/skall.txt"
done
# shellcheck disable=SC2086
$PY "$W/sk.py" iters "$W/points.csv" $SEEDS > "$W/skiters.txt"
sk_path=$($PY "$W/sk.py" path "$W/export.csv" "$REPEAT")

# per side: the sum over the seeds of each seed's best time, the iterations, the mean inertia
read -r riq_ser sk_fit1 sk_fit riq_its sk_its riq_med sk_med riq_in sk_in < <($PY - "$W" <<'PYEOF'
import sys, statistics as st
w = sys.argv[1]
def best(name):
    b = {}
    for line in open(f"{w}/{name}"):
        f = line.split()
        s, t = int(f[0]), float(f[1])
        if s not in b or t < b[s][0]:
            b[s] = (t, float(f[2]), *f[3:])
    return b
riq, sk1, skall = best("riq.txt"), best("sk1.txt"), best("skall.txt")
skits = {int(l.split()[0]): int(l.split()[1]) for l in open(f"{w}/skiters.txt")}
ri = [int(riq[s][2]) for s in riq]
si = [skits[s] for s in riq]
print(f"{sum(v[0] for v in riq.values()):.3f} {sum(v[0] for v in sk1.values()):.3f} "
      f"{sum(v[0] for v in skall.values()):.3f} {sum(ri)} {sum(si)} {st.median(ri)} {st.median(si)} "
      f"{st.mean(v[1] for v in riq.values())!r} {st.mean(v[1] for v in sk1.values())!r}")
PYEOF
)
nseeds=$(echo $SEEDS | wc -w)

printf '   %-50s %8.2f s  (seed 42 alone)\n' "retailiq kmeans_segment, parallel plan" "$riq_par"
printf '   %-50s %8.2f s  (%s seeds; Lloyd iterations of all restarts %s, median per fit %s; mean inertia %.6e)\n' "retailiq kmeans_segment, serial plan" "$riq_ser" "$nseeds" "$riq_its" "$riq_med" "$riq_in"
printf '   %-50s %8.2f s  (%s seeds)\n' "scikit-learn KMeans.fit (data in numpy)" "$sk_fit" "$nseeds"
printf '   %-50s %8.2f s  (%s seeds; Lloyd iterations of all restarts %s, median per fit %s; mean inertia %.6e)\n' "scikit-learn KMeans.fit, one thread" "$sk_fit1" "$nseeds" "$sk_its" "$sk_med" "$sk_in"
printf '   %-50s %8.2f s  (seed 42 alone)\n' "scikit-learn user path (COPY out + read + fit)" "$sk_path"
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   whole SQL call (serial) / sklearn fit on one thread = $(ratio "$riq_ser" "$sk_fit1")   (target <= 1.2; sums over the seeds)"
echo "   fit alone:  retailiq (serial) / sklearn fit = $(ratio "$riq_ser" "$sk_fit")   (target <= 1.5; sums over the seeds)"
echo "   whole path: retailiq (parallel) / sklearn export+fit = $(ratio "$riq_par" "$sk_path")   (target < 1; seed 42)"
echo "   iterations: retailiq / sklearn = $(ratio "$riq_its" "$sk_its")   (the seeds' draws; the same rule on both sides)"
echo "   inertia:    retailiq / sklearn = $(echo "scale=6; $riq_in / $sk_in" | bc)   (means over the seeds; target <= 1.005)"
q -c "DROP TABLE seg_bench_points"
rm -f "$W/points.csv" "$W/export.csv"

echo "-- RFM: $CUSTOMERS-customer sample retailer, quintile scores and segments"
s=$(now)
q -c "SELECT count(*) FROM retailiq.generate_sample_data('seg_bench', $CUSTOMERS)" >/dev/null
echo "   (sample data generated in $(printf '%.0f' "$(echo "$(now) - $s" | bc)") s; $(q -c 'SELECT count(*) FROM seg_bench.orders') orders)"
AS_OF=$(q -c "SELECT max(ordered_at) FROM seg_bench.orders")
RIQ_RFM="WITH c AS (SELECT customer_id, retailiq.rfm_agg(ordered_at, total_amount, '$AS_OF') AS v
                   FROM seg_bench.orders GROUP BY customer_id),
     b AS (SELECT retailiq.rfm_breaks(v) AS br FROM c)
SELECT (retailiq.rfm_score(c.v, b.br)).segment, count(*) FROM c, b GROUP BY 1"
SQL_RFM="WITH c AS (SELECT customer_id, floor(extract(epoch FROM ('$AS_OF'::timestamptz - max(ordered_at))) / 86400) AS rec,
                          count(*) AS f, sum(total_amount) AS m
                   FROM seg_bench.orders WHERE ordered_at <= '$AS_OF' AND total_amount IS NOT NULL GROUP BY customer_id),
     s AS (SELECT ntile(5) OVER (ORDER BY rec DESC) AS r, ntile(5) OVER (ORDER BY f) AS f,
                  ntile(5) OVER (ORDER BY m) AS m FROM c)
SELECT CASE WHEN r <= 2 AND (f + m + 1) / 2 = 5 THEN 'Can''t Lose Them'
            WHEN r <= 2 AND (f + m + 1) / 2 >= 3 THEN 'At Risk'
            WHEN r = 1 AND (f + m + 1) / 2 = 1 THEN 'Lost'
            WHEN r <= 2 THEN 'Hibernating'
            WHEN r = 3 AND (f + m + 1) / 2 <= 2 THEN 'About to Sleep'
            WHEN r = 3 AND (f + m + 1) / 2 = 3 THEN 'Need Attention'
            WHEN r IN (3, 4) AND (f + m + 1) / 2 >= 4 THEN 'Loyal'
            WHEN r = 4 AND (f + m + 1) / 2 = 1 THEN 'Promising'
            WHEN r = 5 AND (f + m + 1) / 2 = 1 THEN 'New'
            WHEN (f + m + 1) / 2 <= 3 THEN 'Potential Loyalist'
            ELSE 'Champions' END AS segment, count(*)
FROM s GROUP BY 1"
read -r rfm_riq rfm_sql <<<"$(best_of_pair "$((REPEAT + 1))" "$RIQ_RFM" "$SQL_RFM")"
printf '   %-46s %8.2f s\n' "retailiq rfm_agg + rfm_breaks + rfm_score" "$rfm_riq"
printf '   %-46s %8.2f s\n' "plain SQL (GROUP BY + NTILE windows + CASE)" "$rfm_sql"
echo "   RFM: retailiq / plain SQL = $(ratio "$rfm_riq" "$rfm_sql")"
echo "   (NTILE splits tied values across tiles, retailiq scores ties alike, so segment counts differ a little:)"
q -F ' | ' -c "SELECT coalesce(a.segment, b.segment) AS segment, a.count AS retailiq, b.count AS ntile
               FROM ($RIQ_RFM) a FULL JOIN ($SQL_RFM) b USING (segment) ORDER BY 1" | sed 's/^/      /'
q -c "DROP SCHEMA seg_bench CASCADE" 2>/dev/null

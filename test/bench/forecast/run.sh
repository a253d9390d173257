#!/usr/bin/env bash
# Forecast accuracy bench (issue 17 item 5), run by `make bench BENCH=forecast`.
#
# Three real data sets, each with a final test window that no method's defaults are to be
# tuned on (provenance.csv says, per method and data set, what its defaults were chosen on;
# the report prints it beside each table):
#   aus_retail    152 ABS monthly turnover series; train to 2014-12, forecast 24 months from
#                 the one origin 2015-01; WAPE at h 1-12 and h 13-24, 80% interval coverage
#   m4_weekly     M4's 359 weekly series, the official test (h 13); sMAPE, MASE (period 1) and
#                 OWA against Naive2 computed in the same run, as the data README defines
#                 them; synthetic weekly dates ending on Monday 2018-12-31 (the series have none)
#   dominicks_oj  913 store x brand orange juice series; train on weeks <= 148, test weeks
#                 149..160, factors log(price), deal, feat; WAPE all / promoted / other weeks
# Every method of retailiq.forecast_methods runs on every data set through the trainer the
# table names (setup.sql: fb.run_method), methods taking factors with the factors where the
# data set has them, so new methods appear without a change here: 'global_ar' (one
# autoregression pooled over every series of a data set, fitted by forecast_fit like the local
# methods, "short": "fallback" included) runs as the others do, and
# FORECAST_BENCH_METHODS=global_ar,auto selects it. `auto` is the default method. Beside them, in the same run: R forecast's ets, thetaf and stlf (peer_r.R; with
# Dominick's, a per-series OLS on the same three factors), the published M4 rows and the
# Dominick's README's reference figures. A summary ends the output: one line per threshold of
# issue 17, PASS/FAIL with the figure, the bound and the ratio to R ets.
#
# Env: REPO, WORK, BENCH_DATA, PGDATABASE (set by tools/bench.sh), and the knobs
#   FORECAST_BENCH_DATASETS=a,b   data sets to run (default aus_retail,m4_weekly,dominicks_oj)
#   FORECAST_BENCH_METHODS=a,b    only these retailiq methods (default: every method of the table)
#   FORECAST_BENCH_SERIES=N       only the first N series (by key) of each data set (a quick look)
#   FORECAST_BENCH_R=0            skip R (ets takes ~15 minutes over the three sets on one core)
#   FORECAST_BENCH_PEER_DIR=d     cache of R's forecasts, one set of files per data set
#                                 (d/<set>.r.csv, .time, .key); reused when the key (R's input,
#                                 peer_r.R and its arguments) is unchanged, else written there
#   FORECAST_BENCH_R_BESIDE=0     run R before retailiq instead of beside it (default beside:
#                                 faster, but the fit times then share the cores with R)
#   FORECAST_BENCH_WINDOW=dev     the development windows instead of the final ones, for choosing
#                                 anything without looking at a final window: aus_retail train to
#                                 2012-12, evaluate 2013-01..2014-12; M4 weekly the last 13 weeks of
#                                 each training series; Dominick's train weeks <= 136, evaluate
#                                 137..148 (the report's headings still name the final windows;
#                                 a banner says which ran). Use a PEER_DIR of its own for it.
#   FORECAST_BENCH_SCALE=N        also time ETS and the LSTM on N synthetic daily series of two
#                                 years (issue 18's scale question; default 0 = skipped; about
#                                 20 minutes at 1000)
set -euo pipefail
REPO=${REPO:-$(cd "$(dirname "$0")/../../.." && pwd)}
BENCH_DATA=${BENCH_DATA:-$REPO/../shared/data}
WORK=${WORK:-$(mktemp -d)}
HERE=$REPO/test/bench/forecast
OUT=$WORK/forecast_bench
mkdir -p "$OUT"
chmod 777 "$OUT" 2>/dev/null || true
PSQL="psql -X -q -v ON_ERROR_STOP=1"
DO_R=${FORECAST_BENCH_R:-1}
DATASETS=${FORECAST_BENCH_DATASETS:-aus_retail,m4_weekly,dominicks_oj}
PEER_DIR=${FORECAST_BENCH_PEER_DIR:-}
[ -n "$PEER_DIR" ] && mkdir -p "$PEER_DIR"

if [ "$(id -u)" -eq 0 ] && [ "$DO_R" = 1 ] && ! dpkg-query -W -f='${Status}' r-cran-forecast 2>/dev/null | grep -q 'ok installed'; then
  echo "installing r-cran-forecast"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq r-cran-forecast; } >/dev/null || true
fi
if [ "$DO_R" = 1 ] && ! { command -v Rscript >/dev/null && Rscript -e 'library(forecast)' >/dev/null 2>&1; }; then
  echo "note: R with the forecast package is missing (apt-get install r-cran-forecast): no R peers, no thresholds relative to R ets"
  DO_R=0
fi
WINDOW=${FORECAST_BENCH_WINDOW:-final}
case $WINDOW in
  final) WVARS=(-v aus_origin=2015-01-01 -v m4_dev=0 -v oj_last=148) ;;
  dev) WVARS=(-v aus_origin=2013-01-01 -v m4_dev=1 -v oj_last=136)
       echo "== DEVELOPMENT WINDOWS (FORECAST_BENCH_WINDOW=dev): aus_retail 2013-01..2014-12, M4 weekly the last 13 training weeks, Dominick's weeks 137..148" ;;
  *) echo "FORECAST_BENCH_WINDOW must be final or dev, not $WINDOW"; exit 1 ;;
esac
has() { case ",$DATASETS," in *,"$1",*) return 0 ;; esac; return 1; }

$PSQL -f "$HERE/setup.sql"
grep -v '^#' "$HERE/provenance.csv" | $PSQL -c "\\copy fb.provenance FROM pstdin CSV HEADER"

# ---------------------------------------------------------------- the data sets
AUS=$BENCH_DATA/aus_retail/aus_retail_to_2016.csv
M4=$BENCH_DATA/m4_weekly
OJ=$BENCH_DATA/dominicks/orange_juice_weekly.csv
sets=()
if has aus_retail; then
  if [ -f "$AUS" ]; then $PSQL "${WVARS[@]}" -f "$HERE/aus.sql" < "$AUS"; sets+=(aus_retail)
  else echo "aus_retail skipped: $AUS not found"; fi
fi
if has m4_weekly; then
  if [ -f "$M4/Weekly-train.csv" ]; then
    { cat "$M4/Weekly-train.csv"; echo '\.'; cat "$M4/Weekly-test.csv"; } | $PSQL "${WVARS[@]}" -f "$HERE/m4.sql"
    $PSQL -c "\\copy fb.m4_published FROM '$M4/m4_point_forecast_accuracy.csv' CSV HEADER"
    sets+=(m4_weekly)
  else echo "m4_weekly skipped: $M4/Weekly-train.csv not found"; fi
fi
if has dominicks_oj; then
  if [ -f "$OJ" ]; then
    $PSQL "${WVARS[@]}" -f "$HERE/dominicks.sql" < "$OJ"
    sets+=(dominicks_oj)
  else echo "dominicks_oj skipped: $OJ not found"; fi
fi
NSER=${FORECAST_BENCH_SERIES:-0}
if [ "$NSER" -gt 0 ]; then
  echo "only the first $NSER series (by key) of each data set (FORECAST_BENCH_SERIES)"
  $PSQL -c "CREATE TEMP TABLE keep AS SELECT ds, series FROM (SELECT ds, series, row_number() OVER (PARTITION BY ds ORDER BY series) AS k
                                                        FROM (SELECT DISTINCT ds, series FROM fb.train) a) b WHERE k <= $NSER" \
        -c "DELETE FROM fb.train WHERE (ds, series) NOT IN (SELECT ds, series FROM keep)" \
        -c "DELETE FROM fb.future WHERE (ds, series) NOT IN (SELECT ds, series FROM keep)" \
        -c "DELETE FROM fb.actual WHERE (ds, series) NOT IN (SELECT ds, series FROM keep)" \
        -c "DELETE FROM fb.fc WHERE (ds, series) NOT IN (SELECT ds, series FROM keep)"
fi
[ ${#sets[@]} -gt 0 ] || { echo "no data set found under $BENCH_DATA"; exit 0; }
$PSQL -At -c "SELECT ds || ': ' || count(DISTINCT series) || ' series, ' || count(*) || ' training rows, horizon '
                     || (SELECT horizon FROM fb.dataset d WHERE d.ds = t.ds)
              FROM fb.train t GROUP BY ds ORDER BY ds"

# ---------------------------------------------------------------- R peers (cached)
# r_args SET: the frequencies given to ets, thetaf and stlf. Monthly: 12. Weekly: ets ignores
# 52 (more than 24), thetaf gets 1 (M4's setting for weekly, so its Theta benchmark is what R
# reproduces), stlf 52 (mstl drops the season of a series shorter than two years).
r_args() { case $1 in aus_retail) echo "12 12 12" ;; *) echo "52 1 52" ;; esac; }
r_pids=()
run_r() {
  local ds=$1 h extra=() key
  h=$($PSQL -At -c "SELECT horizon FROM fb.dataset WHERE ds = '$ds'")
  $PSQL -c "\\copy (SELECT series, y FROM fb.train WHERE ds = '$ds' ORDER BY series, ts) TO '$OUT/$ds.train.csv' CSV HEADER"
  if [ "$ds" = dominicks_oj ]; then
    extra=("$OUT/$ds.ols_train.csv" "$OUT/$ds.ols_test.csv")
    $PSQL -c "\\copy (SELECT * FROM fb.oj_ols_train) TO '${extra[0]}' CSV HEADER" \
          -c "\\copy (SELECT * FROM fb.oj_ols_test) TO '${extra[1]}' CSV HEADER"
  fi
  key=$(cat "$OUT/$ds.train.csv" "${extra[@]}" "$HERE/peer_r.R" | md5sum | cut -d' ' -f1)-$(r_args "$ds" | tr ' ' _)-$h
  if [ -n "$PEER_DIR" ] && [ -f "$PEER_DIR/$ds.r.key" ] && [ "$(cat "$PEER_DIR/$ds.r.key")" = "$key" ]; then
    echo "R $ds: reusing $PEER_DIR/$ds.r.csv (same input)"
    cp "$PEER_DIR/$ds.r.csv" "$PEER_DIR/$ds.r.csv.time" "$OUT/"
    return
  fi
  echo "R $ds: ets, thetaf, stlf$([ ${#extra[@]} -gt 0 ] && echo ', OLS on the factors') ..."
  rm -f "$OUT/$ds.r.csv.time"
  # shellcheck disable=SC2046
  if Rscript "$HERE/peer_r.R" "$OUT/$ds.train.csv" "$h" $(r_args "$ds") "$OUT/$ds.r.csv" "${extra[@]}" > "$OUT/$ds.r.log" 2>&1; then
    echo "R $ds: done"
    if [ -n "$PEER_DIR" ]; then cp "$OUT/$ds.r.csv" "$OUT/$ds.r.csv.time" "$PEER_DIR/" && echo "$key" > "$PEER_DIR/$ds.r.key"; fi
  else
    echo "R $ds FAILED: see $OUT/$ds.r.log"
    rm -f "$OUT/$ds.r.csv"
  fi
}
# one R process at a time (the machine has few cores), beside retailiq unless asked not to
if [ "$DO_R" = 1 ]; then
  ( for ds in "${sets[@]}"; do run_r "$ds"; done ) &
  r_pids+=($!)
  if [ "${FORECAST_BENCH_R_BESIDE:-1}" != 1 ]; then wait $!; fi
fi

# ---------------------------------------------------------------- retailiq, every method
only=${FORECAST_BENCH_METHODS:-}
for ds in "${sets[@]}"; do
  while IFS='|' read -r meth fac; do
    [ -n "$only" ] && case ",$only," in *,"$meth",*) ;; *) continue ;; esac
    t0=$(date +%s)
    st=$($PSQL -At -c "SELECT fb.run_method('$ds', '$meth', '$fac')")
    echo "retailiq $ds $meth$([ "$fac" = t ] && echo ' (factors)'): $st ($(( $(date +%s) - t0 )) s)"
  done < <($PSQL -At -c "SELECT method, factors FROM fb.methods('$ds')")
done

if [ ${#r_pids[@]} -gt 0 ]; then
  echo "waiting for R ..."
  for p in "${r_pids[@]}"; do wait "$p" || true; done
fi
if [ "$DO_R" = 1 ]; then
  for ds in "${sets[@]}"; do
    [ -f "$OUT/$ds.r.csv" ] || continue
    $PSQL <<SQL
\copy fb.peer_csv FROM '$OUT/$ds.r.csv' CSV HEADER
\o /dev/null
SELECT fb.load_peer('$ds', 'R forecast', ARRAY['ols_factors']);
SQL
    while read -r meth secs fails; do
      $PSQL -c "INSERT INTO fb.run SELECT '$ds', '$meth', 'R forecast', '$meth' = 'ols_factors', $secs,
                  (SELECT count(DISTINCT series) FROM fb.train WHERE ds = '$ds'),
                  CASE WHEN $fails = 0 THEN 'ok' ELSE '$fails series failed' END"
    done < "$OUT/$ds.r.csv.time"
  done
fi

# ---------------------------------------------------------------- the report
$PSQL -P footer=off -f "$HERE/report.sql"
if [ "$WINDOW" = dev ]; then echo "== (the figures above are the DEVELOPMENT windows, not the final ones the headings name)"; fi

# ---------------------------------------------------------------- (optional) training time at scale
NSCALE=${FORECAST_BENCH_SCALE:-0}
if [ "$NSCALE" -gt 0 ]; then
  echo
  echo "training time: $NSCALE synthetic daily series of two years (weekly pattern, promotions, holidays, noise), default options"
  $PSQL -v n="$NSCALE" -f "$HERE/scale.sql"
fi

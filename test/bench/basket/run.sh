#!/usr/bin/env bash
# Market-basket benchmark: retailiq's FP-growth aggregates against
#   - a plain-SQL self-join apriori (SETM: level-wise joins of itemset occurrences with the
#     basket lines), as a user without the extension would write it, in the same server;
#   - node-fpgrowth from npm (FP-growth in JavaScript; mining time only, data in memory);
# on Groceries and the FIMI sets (T10I4D100K, chess, mushroom) at several supports, in one run.
# Prints per case the times, the ratios and the itemset / rule counts (which must agree).
# Needs PGHOST/PGPORT/PGUSER/PGDATABASE of a cluster with the extension, BENCH_DATA, REPO, WORK.
# BENCH_REPS (default 3): runs per timing, median reported. BENCH_SQL_TIMEOUT (default 60 s).
set -euo pipefail
D=${BENCH_DATA:-$REPO/../shared/data}
HERE=$(cd "$(dirname "$0")" && pwd)
REPS=${BENCH_REPS:-3}
SQL_TIMEOUT=${BENCH_SQL_TIMEOUT:-60}
WORK=${WORK:-$(mktemp -d)}

if [ ! -f "$D/groceries/groceries_baskets.tsv" ] || [ ! -f "$D/fimi/T10I4D100K.dat" ]; then
  echo "basket bench: $D/groceries or $D/fimi is missing; skipped"
  exit 0
fi

# the npm peer
PEER=$WORK/basket-node
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq nodejs npm >/dev/null; fi
fi
HAVE_NODE=0
if command -v node >/dev/null && command -v npm >/dev/null; then
  mkdir -p "$PEER"
  if [ ! -d "$PEER/node_modules/node-fpgrowth" ]; then
    (cd "$PEER" && npm install --silent --no-audit --no-fund node-fpgrowth@1.2.1 >/dev/null 2>&1) || true
  fi
  [ -d "$PEER/node_modules/node-fpgrowth" ] && HAVE_NODE=1
fi
[ "$HAVE_NODE" = 1 ] || echo "note: node-fpgrowth could not be installed; its column is empty"

export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
P="psql -X -q -v ON_ERROR_STOP=1"
$P -c 'DROP SCHEMA IF EXISTS basket_bench CASCADE' -c 'CREATE SCHEMA basket_bench' \
   -c 'CREATE TABLE basket_bench.raw (dataset text, line text)'
load() {
  $P -c "\\copy basket_bench.raw (line) FROM '$2' WITH (FORMAT text, DELIMITER E'\\x01')" \
     -c "UPDATE basket_bench.raw SET dataset = '$1' WHERE dataset IS NULL"
}
load groceries "$D/groceries/groceries_baskets.tsv"
load T10I4D100K "$D/fimi/T10I4D100K.dat"
load chess "$D/fimi/chess.dat"
load mushroom "$D/fimi/mushroom.dat"
$P -f "$HERE/setup.sql"

file_of() {
  case $1 in
    groceries) echo "$D/groceries/groceries_baskets.tsv" ;;
    T10I4D100K) echo "$D/fimi/T10I4D100K.dat" ;;
    *) echo "$D/fimi/$1.dat" ;;
  esac
}

# time_sql <query> <reps> [timeout s]: "ms n" or "timeout"
time_sql() {
  local out
  if out=$($P -At -c "SET max_parallel_workers_per_gather = 0" -c "SET statement_timeout = '${3:-0}s'" \
             -c "SELECT round(ms::numeric, 1), n FROM basket_bench.time_query(\$q\$$1\$q\$, $2)" 2>/dev/null); then
    echo "$out" | tail -1 | tr '|' ' '
  else
    echo "timeout -"
  fi
}

ratio() { awk -v a="$1" -v b="$2" -v t="$SQL_TIMEOUT" 'BEGIN { if (a == "timeout" || a == "skip" || b == "skip" || a == "" || b == "") print "-"; else if (b == "timeout") printf ">%.0fx", t * 1000 / a; else if (a + 0 > 0) printf "%.1fx", b / a; else print "-" }'; }
secs() { awk -v a="$1" 'BEGIN { if (a == "timeout") print ">'"$SQL_TIMEOUT"'s"; else printf "%.3fs", a / 1000 }'; }

echo "Frequent itemsets (all lengths) and rules (confidence 0.5, one-item consequents, at most 10 items)."
echo "retailiq: median of $REPS serial runs of the aggregate over the table, output array included."
echo "SQL apriori: one run, statement_timeout ${SQL_TIMEOUT}s. node-fpgrowth: median of $REPS, mining only."
printf '%-11s %-6s | %-18s %-18s %-8s | %-18s %-8s | %-18s %-18s %-8s\n' \
  data support "retailiq itemsets" "SQL apriori" ratio "node-fpgrowth" ratio "retailiq rules" "SQL rules" ratio
while read -r ds sup sql node; do
  if [ "$ds" = groceries ]; then tab=basket_bench.baskets_text; where=true; else tab=basket_bench.baskets_int; where="dataset = '$ds'"; fi
  read -r r_ms r_n <<<"$(time_sql "SELECT cardinality(retailiq.frequent_itemsets(items, $sup, 1000)) FROM $tab WHERE $where" "$REPS")"
  read -r rr_ms rr_n <<<"$(time_sql "SELECT cardinality(retailiq.assoc_rules(items, $sup, 0.5)) FROM $tab WHERE $where" "$REPS")"
  s_ms=skip; s_n=-; sr_ms=skip; sr_n=-
  if [ "$sql" = yes ]; then
    read -r s_ms s_n <<<"$(time_sql "SELECT basket_bench.sql_apriori('$ds', $sup, 1000)" 1 "$SQL_TIMEOUT")"
    if [ "$s_ms" != timeout ]; then
      # rules from the itemsets just mined (all their subsets are there): itemset time + rule query
      read -r q_ms sr_n <<<"$(time_sql "SELECT basket_bench.sql_rules(0.5, 10)" 1 "$SQL_TIMEOUT")"
      if [ "$q_ms" != timeout ]; then sr_ms=$(awk -v a="$s_ms" -v b="$q_ms" 'BEGIN { print a + b }'); else sr_ms=timeout; fi
    fi
  fi
  n_ms=skip; n_n=-
  if [ "$HAVE_NODE" = 1 ] && [ "$node" = yes ]; then
    kind=int; [ "$ds" = groceries ] && kind=text
    if out=$(cd "$PEER" && NODE_PATH="$PEER/node_modules" timeout "$SQL_TIMEOUT" node --max-old-space-size=4096 "$HERE/fpgrowth_peer.js" "$(file_of "$ds")" $kind "$sup" "$REPS" 2>/dev/null); then
      read -r n_ms n_n <<<"$out"
    else
      n_ms=timeout
    fi
  fi
  fmt() { if [ "$1" = skip ]; then echo "not run"; else echo "$(secs "$1") ($2)"; fi; }
  printf '%-11s %-6s | %-18s %-18s %-8s | %-18s %-8s | %-18s %-18s %-8s\n' "$ds" "$sup" \
    "$(fmt "$r_ms" "$r_n")" "$(fmt "$s_ms" "$s_n")" "$(ratio "$r_ms" "$s_ms")" \
    "$(fmt "$n_ms" "$n_n")" "$(ratio "$r_ms" "$n_ms")" \
    "$(fmt "$rr_ms" "$rr_n")" "$(fmt "$sr_ms" "$sr_n")" "$(ratio "$rr_ms" "$sr_ms")"
done <<'CASES'
groceries 0.01 yes yes
groceries 0.005 yes yes
groceries 0.001 yes yes
T10I4D100K 0.01 yes yes
T10I4D100K 0.005 yes yes
T10I4D100K 0.001 yes yes
chess 0.9 yes yes
chess 0.8 yes yes
mushroom 0.3 yes yes
mushroom 0.1 no yes
CASES
echo "ratio = peer time / retailiq time (above 1: retailiq is faster). Reference counts (arules, ../shared/data READMEs):"
echo "groceries 0.001: 13,492 itemsets, 5,668 rules; T10I4D100K 0.01: 385 / 6, 0.001: 27,532 / 72,054;"
echo "chess 0.9: 622 / 2,351, 0.8: 8,227 / 44,637; mushroom 0.3: 2,735 / 11,967, 0.1: 574,431 / 3,766,643."
$P -c 'DROP SCHEMA basket_bench CASCADE'

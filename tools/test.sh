#!/usr/bin/env bash
# make test: installs what is missing (as root), builds with -Werror, starts a throwaway
# cluster with shared_preload_libraries = 'retailiq', and runs every suite:
#   pg_regress (sql/, expected/), then the same again with parallel query forced,
#   isolation specs (test/isolation), pgTAP (test/pgtap, via pg_prove),
#   Perl TAP (test/t, PostgreSQL::Test::Cluster, each with its own server),
#   the Citus suite (test/citus, tools/citus.sh).
# Ends with "N passed, N failed" over all of them; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib.sh

ensure_packages
build
setup_pgroot
start_cluster

PASSED=0
FAILED=0
FAILURES=()
LOGDIR=$WORK/logs
mkdir -p "$LOGDIR" test/isolation/output
[ "$(id -u)" -eq 0 ] && chmod -R a+rwX test/isolation/output

# count_results <suite> <log>: pg_regress style "name ... ok|FAILED" lines.
count_results() {
  local suite=$1 log=$2 line name
  while IFS= read -r line; do
    name=$(sed -E 's/^(test |     |ok [0-9]+ +- +|not ok [0-9]+ +- +)?[[:space:]]*([^ ]+).*/\2/' <<<"$line")
    if grep -qE '\.\.\. ok|\.\.\. failed \(ignored\)' <<<"$line"; then
      PASSED=$((PASSED + 1))
    else
      FAILED=$((FAILED + 1)); FAILURES+=("$suite: $name")
    fi
  done < <(grep -E '\.\.\. (ok|FAILED|failed)' "$log" || true)
}

run_regress() {
  local label=$1; shift
  local log=$LOGDIR/$label.log
  echo "== pg_regress ($label)"
  # -i: the isolation specs run even when a pg_regress test failed (same recipe in PGXS)
  env "$@" make -s -i installcheck PG_CONFIG=$SYS_BINDIR/pg_config ${REGRESS_MAKE_ARGS:+"$REGRESS_MAKE_ARGS"} > "$log" 2>&1 || true
  grep -E '\.\.\. |tests (passed|failed)' "$log" || true
  count_results "$label" "$log"
  if ! grep -qE '\.\.\. ' "$log"; then   # pg_regress did not even start: say so, count it
    FAILED=$((FAILED + 1)); FAILURES+=("$label: no results (see $log)"); tail -20 "$log"
  fi
  if [ -f regression.diffs ]; then
    cp regression.diffs "$LOGDIR/$label.diffs"
    echo "   (differences: $LOGDIR/$label.diffs)"
    KEEP_WORK=1
  fi
  if [ -f test/isolation/output/regression.diffs ]; then
    cp test/isolation/output/regression.diffs "$LOGDIR/$label-isolation.diffs"
    KEEP_WORK=1
  fi
}

# 0. The upgrade from every kept release (tools/upgradecheck.sh): catalogue equal to a fresh
#    installation's, old models read; the parallel pass below runs on the database upgraded
#    from the previous release, the others are dropped.
. tools/upgradecheck.sh
UPGRADE_PREV=$(sed -n 's/^UPGRADE_FROM *= *//p' Makefile)
for from in $(upgrade_check_releases); do
  if upgrade_check "retailiq_upgraded_${from//./_}" "$from" > "$LOGDIR/upgrade-$from.log" 2>&1; then
    PASSED=$((PASSED + 1)); grep -E '^(==|   )' "$LOGDIR/upgrade-$from.log" | grep -v '^      '
  else
    FAILED=$((FAILED + 1)); FAILURES+=("upgrade check from $from (see $LOGDIR/upgrade-$from.log)"); cat "$LOGDIR/upgrade-$from.log"; KEEP_WORK=1
  fi
  [ "$from" = "$UPGRADE_PREV" ] || dropdb --if-exists "retailiq_upgraded_${from//./_}"
done

# 1. pg_regress + isolation (PGXS installcheck runs both), plain.
run_regress regress
# 2. The same with every query planned in parallel: partial aggregates, serial/deserial
#    and combine functions, and workers loading the library, all get exercised; in the
#    database upgraded from the previous release (step 0), so the suites pass on it too.
REGRESS_MAKE_ARGS="REGRESS_OPTS=--use-existing --dbname=retailiq_upgraded_${UPGRADE_PREV//./_}" run_regress parallel PGOPTIONS="-c force_parallel_mode=regress -c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0 -c max_parallel_workers_per_gather=2"

# 3. pgTAP.
if ls test/pgtap/*.sql >/dev/null 2>&1; then
  echo "== pgTAP"
  createdb retailiq_tap
  psql -X -q -d retailiq_tap -c 'CREATE EXTENSION pgtap' -c 'CREATE EXTENSION retailiq' >/dev/null
  for f in test/pgtap/*.sql; do
    log=$LOGDIR/pgtap-$(basename "$f" .sql).log
    if pg_prove -d retailiq_tap "$f" > "$log" 2>&1; then
      PASSED=$((PASSED + 1)); echo "   $f ... ok"
    else
      FAILED=$((FAILED + 1)); FAILURES+=("pgtap: $f"); echo "   $f ... FAILED"
      sed 's/^/      /' "$log" | tail -30
      KEEP_WORK=1
    fi
  done
fi

# 4. Perl TAP: each test starts its own servers from the private installation.
if ls test/t/*.pl >/dev/null 2>&1; then
  echo "== Perl TAP"
  tapdir=$WORK/tap
  mkdir -p "$tapdir"
  cp -r test/t "$tapdir/"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$tapdir"
  for f in "$tapdir"/t/*.pl; do
    log=$LOGDIR/tap-$(basename "$f" .pl).log
    if (cd "$tapdir" && as_cluster_user env TESTDIR="$tapdir" PG_REGRESS=$SYS_BINDIR/../lib/pgxs/src/test/regress/pg_regress \
          prove -I /usr/lib/postgresql/$PG_VERSION/lib/pgxs/src/test/perl "t/$(basename "$f")") > "$log" 2>&1; then
      PASSED=$((PASSED + 1)); echo "   t/$(basename "$f") ... ok"
    else
      FAILED=$((FAILED + 1)); FAILURES+=("tap: $(basename "$f")"); echo "   t/$(basename "$f") ... FAILED"
      tail -30 "$log" | sed 's/^/      /'
      KEEP_WORK=1
    fi
  done
fi

# 5. Citus: a coordinator and two workers of their own (tools/citus.sh); "citus: skipped
#    (reason)" where no Citus is installed and ../shared/citus is not there to build one.
. tools/citus.sh
citus_suite

if [ -n "${VALGRIND:-}" ] && ! valgrind_report; then
  FAILED=$((FAILED + 1)); FAILURES+=("valgrind memcheck"); KEEP_WORK=1
fi
if [ ${#FAILURES[@]} -gt 0 ]; then
  echo "failures:"; printf '   %s\n' "${FAILURES[@]}"
  echo "logs kept in $LOGDIR"
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]

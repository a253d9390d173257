#!/usr/bin/env bash
# make fuzz-sql [FUZZ_SECONDS=N] [VALGRIND=1]: fuzzes every C function SQL can reach
# (test/fuzz/hostile.sql) for N seconds (default 600) on a throwaway cluster; with VALGRIND=1
# every server process runs under memcheck (tools/lib.sh). Cases run in batches of 200, each
# batch a new seed; a crash (the connection lost) is replayed case by case to name the case,
# and the server's restart is waited for. Ends with the count of cases, crashes, XX000
# errors (and memcheck reports); exits non-zero on any of them.
#
# Why not AddressSanitizer inside the server: preloading libasan into Debian 12's PostgreSQL
# (or psql) deadlocks in glibc's bindtextdomain before main() gets anywhere (gcc's and clang's
# runtimes alike), so the in-server fuzz runs natively or under memcheck, and the decoders
# that can live outside the server are fuzzed under AddressSanitizer by `make fuzz`.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/lib.sh

seconds=${1:-600}
batch=200
[ -n "${VALGRIND:-}" ] && batch=20
ensure_packages
build
setup_pgroot
start_cluster "restart_after_crash = on"
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION retailiq' -f test/fuzz/hostile.sql >/dev/null

start=$(date +%s)
seed=$(( $(date +%s) % 100000 ))
first_seed=$seed
cases=0
crashes=0
while [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
  if out=$(psql -X -q -At -c "SET statement_timeout = '${TIMEOUT:-60s}'" -c "SELECT fuzz.run($seed, $batch)" 2>&1); then
    cases=$((cases + batch))
  elif grep -q 'statement timeout' <<<"$out"; then
    say "seed $seed: a batch hit the 60 s timeout (a slow case, not a crash)"
  else
    crashes=$((crashes + 1))
    say "seed $seed: the connection was lost: $(tail -2 <<<"$out")"
    for _ in $(seq 1 60); do pg_isready -q && break; sleep 1; done
    sleep 2
    # replay case by case: the last case printed before the loss is the culprit
    psql -X -q -c "SELECT fuzz.run($seed, $batch, true)" > "$WORK/replay-$seed.log" 2>&1 || true
    say "   last case: $(grep 'fuzz case:' "$WORK/replay-$seed.log" | tail -1)"
    for _ in $(seq 1 60); do pg_isready -q && break; sleep 1; done
    sleep 2
  fi
  seed=$((seed + 1))
done

echo "outcomes (kind, target, SQLSTATE, cases):"
psql -X -q -c "SELECT kind, target, sqlstate, n FROM fuzz.outcome ORDER BY kind, target, sqlstate" || true
xx000=$(psql -X -q -At -c "SELECT coalesce(sum(n), 0) FROM fuzz.outcome WHERE sqlstate = 'XX000'" || echo "?")
if [ "$xx000" != 0 ]; then
  psql -X -q -c "SELECT target, example FROM fuzz.outcome WHERE sqlstate = 'XX000'" || true
fi
memcheck=0
if [ -n "${VALGRIND:-}" ] && ! valgrind_report; then memcheck=1; KEEP_WORK=1; fi
echo "seeds $first_seed..$((seed - 1)): $cases cases in $(( $(date +%s) - start )) s, $crashes crashes, $xx000 XX000 errors${VALGRIND:+, memcheck errors: $memcheck}"
[ "$crashes" -eq 0 ] && [ "$xx000" = 0 ] && [ "$memcheck" -eq 0 ]

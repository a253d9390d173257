#!/usr/bin/env bash
# make fuzz-sql [FUZZ_SECONDS=N]: fuzzes every C function SQL can reach (test/fuzz/hostile.sql)
# for N seconds (default 600) on a throwaway cluster whose retailiq is built with
# AddressSanitizer (the server runs with libasan preloaded). Cases run in batches of 200,
# each batch a new seed; a crash (the connection lost) is replayed case by case to name
# the case, and the server's restart is waited for. Ends with the count of cases, crashes,
# XX000 errors and sanitizer reports; exits non-zero on any of them.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/lib.sh

seconds=${1:-600}
batch=200
ensure_packages
libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { say "libasan not found (gcc's AddressSanitizer runtime)"; exit 2; }

# A private installation of an AddressSanitizer build; the tree's own build is restored after.
make -s clean >/dev/null
build COPT='-fsanitize=address -fno-omit-frame-pointer -g'
setup_pgroot
make -s clean >/dev/null
asan_log=$WORK/asan
# start_cluster reads LD_PRELOAD/ASAN_OPTIONS from the environment of pg_ctl
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:disable_coredump=1:log_path=$asan_log"
LD_PRELOAD=$libasan start_cluster "restart_after_crash = on"
unset LD_PRELOAD
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION retailiq' -f test/fuzz/hostile.sql >/dev/null

start=$(date +%s)
seed=$(( $(date +%s) % 100000 ))
first_seed=$seed
cases=0
crashes=0
while [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
  if out=$(psql -X -q -At -c "SET statement_timeout = '60s'" -c "SELECT fuzz.run($seed, $batch)" 2>&1); then
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
reports=$(ls "$asan_log".* 2>/dev/null | wc -l)
[ "$reports" -gt 0 ] && { KEEP_WORK=1; head -40 "$asan_log".*; }
echo "seeds $first_seed..$((seed - 1)): $cases cases in $(( $(date +%s) - start )) s, $crashes crashes, $xx000 XX000 errors, $reports AddressSanitizer reports"
[ "$crashes" -eq 0 ] && [ "$xx000" = 0 ] && [ "$reports" -eq 0 ]

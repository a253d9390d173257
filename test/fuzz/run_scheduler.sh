#!/usr/bin/env bash
# test/fuzz/run_scheduler.sh [seconds]: builds the schedule parser (src/scheduler/cron_spec.c)
# with libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer and fuzzes it for N seconds
# (default 120) from a seed corpus of valid and invalid schedules.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-120}
inc=$(pg_config --includedir-server)
libdir=$(pg_config --pkglibdir)
mkdir -p build/cron_corpus
flags="-Wno-ignored-attributes -g -O1 -I../../src -I$inc -fsanitize=address,undefined -fno-sanitize-recover=all"
clang $flags -fsanitize=fuzzer -o build/cron_parse_fuzz cron_parse_fuzz.c ../../src/scheduler/cron_spec.c \
      -L$libdir -lpgport -lpgcommon
i=0
for s in '*/15 * * * *' '5,10-20/5 8-9 * * *' '0 9 * JAN,jul Mon-Fri' '0 0 13 * fri' '0 0 */10 * mon' \
         '0 0 29 2 *' '59 23 31 12 *' '@daily' '@every 5 minutes' '0 0 30 2 *' '1,,2 * * * *' '* * * * 7' \
         '50/5 23 * * *' '0 0 31 4,6,9,11 *' '@reboot' '*/7 */5 1-10/3 1,6,11 *'; do
  printf '%s' "$s" > build/cron_corpus/seed$i; i=$((i + 1))
done
echo "fuzzing the schedule parser for $seconds s"
build/cron_parse_fuzz -max_total_time="$seconds" -max_len=256 -print_final_stats=1 build/cron_corpus 2>&1 | tail -12

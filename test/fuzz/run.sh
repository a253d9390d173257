#!/usr/bin/env bash
# make fuzz [FUZZ_SECONDS=N]: builds the model decoder with libFuzzer + AddressSanitizer +
# UndefinedBehaviorSanitizer and fuzzes it for N seconds (default 300) from valid seeds.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-300}
inc=$(pg_config --includedir-server)
libdir=$(pg_config --pkglibdir)
mkdir -p build/corpus
flags="-Wno-ignored-attributes -g -O1 -I../../src -I$inc -fsanitize=address,undefined -fno-sanitize-recover=all"
clang $flags -o build/make_seeds make_seeds.c ../../src/core/model_format.c -L$libdir -lpgport -lpgcommon
clang $flags -fsanitize=fuzzer -o build/model_decode_fuzz model_decode_fuzz.c \
      ../../src/core/model_format.c -L$libdir -lpgport -lpgcommon
build/make_seeds build/corpus
echo "fuzzing the model decoder for $seconds s"
build/model_decode_fuzz -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 build/corpus 2>&1 | tail -15

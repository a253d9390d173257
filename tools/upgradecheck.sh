#!/usr/bin/env bash
# make upgradecheck: the upgrade to this version from the previous release (Makefile
# UPGRADE_FROM) and from every older release whose install script src/upgrade/ keeps (those go
# through the frozen scripts src/upgrade/retailiq--a--b.sql first), checked. In a throwaway
# cluster (or, sourced by tools/test.sh, in its cluster):
#   1. CREATE EXTENSION retailiq VERSION '<previous>' from the release's install script kept in
#      src/upgrade/ (C functions the library no longer has point at a stub library, as the
#      catalogue of a database created by the previous package would point at a symbol that
#      is gone once the new package is installed), with data: a saved model, a job, a source;
#   2. ALTER EXTENSION retailiq UPDATE;
#   3. its catalogue (tools/catalogue.sql: every object, definition, grant, comment, the row
#      counts of its tables) against a fresh CREATE EXTENSION's, printed as a diff;
#      and test/data/upgrade/models-<previous>.sql: models the previous library wrote, read;
#   4. standalone: the pg_regress suites on the upgraded database (tools/test.sh runs its
#      parallel pass on it instead, UPGRADED_DB).
set -euo pipefail

upgrade_check_prepare() {
  local from=$1 ext lib syms missing
  ext=$ROOT/usr/share/postgresql/$PG_VERSION/extension
  lib=$ROOT/usr/lib/postgresql/$PG_VERSION/lib
  syms=$(grep -oE "'MODULE_PATHNAME', *'[A-Za-z0-9_]+'" "src/upgrade/retailiq--$from.sql" | sed -E "s/.*'([A-Za-z0-9_]+)'$/\1/" | sort -u)
  missing=$(comm -23 <(echo "$syms") <(nm -D --defined-only "$lib/retailiq.so" | awk '{print $3}' | sort -u))
  {
    echo '#include "postgres.h"'
    echo '#include "fmgr.h"'
    echo 'PG_MODULE_MAGIC;'
    for s in $missing; do
      echo "PG_FUNCTION_INFO_V1($s); Datum $s(PG_FUNCTION_ARGS);"
      echo "Datum $s(PG_FUNCTION_ARGS) { ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg(\"retailiq $from function $s is gone\"), errhint(\"Run ALTER EXTENSION retailiq UPDATE.\"))); PG_RETURN_NULL(); }"
    done
  } > "$WORK/stub.c"
  gcc -shared -fPIC -O0 -w -I"$($SYS_BINDIR/pg_config --includedir-server)" -o "$lib/retailiq_${from//./_}_stub.so" "$WORK/stub.c"
  cp "src/upgrade/retailiq--$from.sql" "$ext/retailiq--$from.sql"
  for s in $missing; do
    sed -i -E "s/'MODULE_PATHNAME', *'$s'/'\$libdir\/retailiq_${from//./_}_stub', '$s'/" "$ext/retailiq--$from.sql"
  done
  UPGRADE_STUBBED=$(echo $missing | wc -w)
}

# the releases an installation can be upgraded from: every kept install script, newest first
upgrade_check_releases() {
  ls src/upgrade/retailiq--*.sql | grep -v -- '--.*--' | sed -E 's/.*retailiq--(.*)\.sql/\1/' | sort -rV
}

# upgrade_check <db> [<from>]: leaves <db> upgraded from <from> (default: the previous release,
# Makefile UPGRADE_FROM); returns non-zero when the catalogues differ
upgrade_check() {
  local db=$1 from=${2:-} to out
  [ -n "$from" ] || from=$(sed -n 's/^UPGRADE_FROM *= *//p' Makefile)
  to=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" retailiq.control)
  out=$WORK/upgrade-$from
  mkdir -p "$out"
  upgrade_check_prepare "$from"
  echo "== upgrade check: $from -> $to ($UPGRADE_STUBBED C functions of $from gone from the library)"
  createdb "$db"
  # the settings pg_regress gives the databases it creates (the suites run on this one)
  psql -X -q -d "$db" -c "ALTER DATABASE \"$db\" SET lc_messages TO 'C'; ALTER DATABASE \"$db\" SET lc_monetary TO 'C';
    ALTER DATABASE \"$db\" SET lc_numeric TO 'C'; ALTER DATABASE \"$db\" SET lc_time TO 'C';
    ALTER DATABASE \"$db\" SET bytea_output TO 'hex'; ALTER DATABASE \"$db\" SET timezone_abbreviations TO 'Default'"
  createdb retailiq_fresh
  local ok=0
  if ! psql -X -q -v ON_ERROR_STOP=1 -d "$db" > "$out/install.log" 2>&1 <<SQL
CREATE EXTENSION retailiq VERSION '$from';
-- what a $from installation holds: a saved model, a job, a registered source
SELECT retailiq.save_model('k', retailiq.kmeans_segment(ARRAY[x, x * 2]::float8[], 2, 7))
  FROM generate_series(1, 40) x;
SELECT retailiq.schedule('upgrade_probe', '0 3 * * *', 'SELECT 1');
ALTER EXTENSION retailiq UPDATE;
SELECT retailiq.kmeans_assign(retailiq.load_model('k'), ARRAY[1, 2]::float8[]) IS NOT NULL AS model_still_reads;
SQL
  then
    echo "   upgrade ... FAILED"; tail -20 "$out/install.log"; ok=1
  fi
  # models written by the previous release's library, read and used by this one
  if [ -f "test/data/upgrade/models-$from.sql" ]; then
    if psql -X -q -d "$db" -f "test/data/upgrade/models-$from.sql" 2>&1 \
         | diff -u "test/data/upgrade/models-$from.expected" - > "$out/models.diff"; then
      echo "   models written by $from read and predict as in $from ... ok"
    else
      echo "   models written by $from ... FAILED:"; sed 's/^/      /' "$out/models.diff" | head -40; ok=1
    fi
  fi
  psql -X -q -d retailiq_fresh -c 'CREATE EXTENSION retailiq' >/dev/null
  psql -X -q -d "$db" -c "SELECT retailiq.unschedule('upgrade_probe'); DELETE FROM retailiq.models WHERE name = 'k'" >/dev/null 2>&1 || true
  local v
  v=$(psql -X -At -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'retailiq'")
  [ "$v" = "$to" ] || { echo "   extension version after the update: $v, not $to"; ok=1; }
  psql -X -q -d retailiq_fresh -f tools/catalogue.sql > "$out/fresh.txt" 2>&1
  psql -X -q -d "$db" -f tools/catalogue.sql > "$out/upgraded.txt" 2>&1
  if diff -u --label "fresh $to" --label "upgraded $from -> $to" "$out/fresh.txt" "$out/upgraded.txt" > "$out/catalogue.diff"; then
    echo "   catalogue of the upgraded installation equals a fresh one's ($(wc -l < "$out/fresh.txt") lines) ... ok"
  else
    echo "   catalogue differs from a fresh installation's ... FAILED ('-' fresh only, '+' upgraded only):"
    sed 's/^/      /' "$out/catalogue.diff" | head -${UPGRADE_DIFF_LINES:-200}
    echo "      (whole diff: $out/catalogue.diff)"
    ok=1
  fi
  dropdb retailiq_fresh
  return $ok
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cd "$(dirname "$0")/.."
  . tools/lib.sh
  ensure_packages
  build
  setup_pgroot
  start_cluster
  rc=0
  for from in $(upgrade_check_releases); do
    upgrade_check "retailiq_upgraded_${from//./_}" "$from" || rc=1
  done
  KEEP_WORK=${rc/0/}
  prev=$(sed -n 's/^UPGRADE_FROM *= *//p' Makefile)
  echo "== pg_regress on the database upgraded from $prev"
  mkdir -p test/isolation/output
  make -s installcheck PG_CONFIG=$SYS_BINDIR/pg_config ISOLATION= \
    REGRESS_OPTS="--use-existing --dbname=retailiq_upgraded_${prev//./_}" > "$WORK/regress.log" 2>&1 || rc=1
  grep -E '\.\.\. |tests (passed|failed)' "$WORK/regress.log" | grep -v '\.\.\. ok' || true
  grep -E 'tests (passed|failed)|^# ' "$WORK/regress.log" | tail -2
  [ $rc -eq 0 ] && echo "upgrade check passed" || { echo "upgrade check FAILED"; KEEP_WORK=1; }
  exit $rc
fi

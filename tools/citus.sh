#!/usr/bin/env bash
# tools/citus.sh: the Citus suite of `make test` (sourced by tools/test.sh after tools/lib.sh,
# with $ROOT, $WORK, $LOGDIR, PASSED/FAILED/FAILURES set), or on its own: tools/citus.sh.
#
# Finds Citus: one installed in the system PostgreSQL, else a build of ../shared/citus (or
# $RETAILIQ_SHARED/citus) cached outside the clone under
# ${XDG_CACHE_HOME:-$HOME/.cache}/retailiq/citus-<sha256 of the tarball>, built once.
# Installs it into the private PostgreSQL ($ROOT), starts a coordinator and two workers on
# localhost (unix sockets, free ports, stopped at exit), distributes the sample schema and runs
# test/citus/*.sql, each compared with test/citus/expected/*.out. With no Citus to be had it
# prints "citus: skipped (reason)" and counts nothing.

CITUS_PG=${PG_VERSION:-15}

# citus_find: sets CITUS_FROM to a staged root holding usr/lib/postgresql/15/lib/citus.so
# (or "system"), or CITUS_SKIP to the reason there is none.
citus_find() {
  CITUS_FROM= CITUS_SKIP=
  if [ -f /usr/lib/postgresql/$CITUS_PG/lib/citus.so ] &&
     [ -f /usr/share/postgresql/$CITUS_PG/extension/citus.control ]; then
    CITUS_FROM=system; return 0
  fi
  # ../shared beside the clone; for a git worktree also beside its main checkout
  local repo shared tarball cand common
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  shared=${RETAILIQ_SHARED:-}
  if [ -z "$shared" ]; then
    shared=$(dirname "$repo")/shared
    common=$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
    for cand in "$(dirname "$repo")/shared" ${common:+"$(dirname "$(dirname "$common")")/shared"}; do
      if [ -x "$cand/citus/build.sh" ]; then shared=$cand; break; fi
    done
  fi
  tarball=$(ls "$shared"/citus/citus-*.tar.gz 2>/dev/null | head -1 || true)
  if [ -z "$tarball" ] || [ ! -x "$shared/citus/build.sh" ]; then
    CITUS_SKIP="no Citus installed and no $shared/citus/build.sh with its tarball; set RETAILIQ_SHARED to the shared folder"
    return 1
  fi
  local sha cache
  sha=$(sha256sum "$tarball" | cut -c1-16)
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/retailiq/citus-$sha
  if [ ! -f "$cache/usr/lib/postgresql/$CITUS_PG/lib/citus.so" ]; then
    mkdir -p "$(dirname "$cache")"
    local stage log t0
    stage=$(mktemp -d "$cache.tmp.XXXXXX")
    log=$stage.log
    t0=$(date +%s)
    echo "   building Citus from $tarball into $cache (once; several minutes)" >&2
    if ! "$shared/citus/build.sh" "$stage" > "$log" 2>&1; then
      CITUS_SKIP="building Citus failed, see $log"
      rm -rf "$stage"; return 1
    fi
    rm -rf "$cache"; mv "$stage" "$cache"; rm -f "$log"
    echo "   Citus built in $(( $(date +%s) - t0 )) s" >&2
  fi
  CITUS_FROM=$cache
}

# citus_install: Citus into the private PostgreSQL at $ROOT (the system one is there already).
citus_install() {
  [ "$CITUS_FROM" = system ] && return 0
  cp -a "$CITUS_FROM/usr/lib/postgresql/$CITUS_PG/lib/." "$ROOT/usr/lib/postgresql/$CITUS_PG/lib/"
  cp -a "$CITUS_FROM/usr/share/postgresql/$CITUS_PG/extension/." "$ROOT/usr/share/postgresql/$CITUS_PG/extension/"
}

# citus_free_port: a port no server listens on (neither TCP on localhost nor a socket in $CITUS_SOCK).
citus_free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 20000 ))
    [ -e "$CITUS_SOCK/.s.PGSQL.$p" ] && continue
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && continue
    echo "$p"; return
  done
}

# citus_start_node <name>: a cluster in $WORK/citus-<name>, port in CITUS_PORT_<name>.
citus_start_node() {
  local name=$1 data=$WORK/citus-$1 port
  port=$(citus_free_port)
  mkdir -p "$data"
  [ "$(id -u)" -eq 0 ] && chown postgres "$WORK" "$data"
  as_cluster_user initdb -D "$data" -U "$(cluster_user)" -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
  {
    echo "port = $port"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$CITUS_SOCK'"
    echo "shared_preload_libraries = 'citus,retailiq'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "jit = off"
    echo "max_worker_processes = 16"
    echo "shared_buffers = 64MB"
    echo "work_mem = 32MB"
    echo "max_connections = 100"
    echo "log_min_messages = warning"
    echo "citus.shard_count = 8"
    echo "citus.local_hostname = '$CITUS_SOCK'"   # connections to itself: the socket too
    echo "retailiq.database = 'retailiq_citus'"
  } >> "$data/postgresql.conf"
  CITUS_NODES+=("$data")
  as_cluster_user pg_ctl -D "$data" -l "$WORK/citus-$name.log" -w -t 120 start >/dev/null || return 1
  printf -v "CITUS_PORT_$name" '%s' "$port"
}

citus_stop() {
  local d
  for d in "${CITUS_NODES[@]}"; do
    [ -f "$d/postmaster.pid" ] && as_cluster_user pg_ctl -D "$d" -m fast -w stop >/dev/null 2>&1 || true
  done
  CITUS_NODES=()
}

# citus_cluster: coordinator + 2 workers, database retailiq_citus with citus and retailiq on each,
# the workers registered. Node names are the socket directory (libpq reads a leading / as one).
citus_cluster() {
  CITUS_SOCK=$WORK/csock
  CITUS_NODES=()
  mkdir -p "$CITUS_SOCK"
  [ "$(id -u)" -eq 0 ] && chown postgres "$CITUS_SOCK"
  trap 'citus_stop; cleanup' EXIT
  citus_start_node coord && citus_start_node w1 && citus_start_node w2 || return 1
  local p
  for p in "$CITUS_PORT_coord" "$CITUS_PORT_w1" "$CITUS_PORT_w2"; do
    psql -X -q -h "$CITUS_SOCK" -p "$p" -U "$(cluster_user)" -d postgres -v ON_ERROR_STOP=1 \
      -c 'CREATE DATABASE retailiq_citus' || return 1
    psql -X -q -h "$CITUS_SOCK" -p "$p" -U "$(cluster_user)" -d retailiq_citus -v ON_ERROR_STOP=1 \
      -c 'CREATE EXTENSION citus' -c 'CREATE EXTENSION retailiq' >/dev/null || return 1
  done
  psql -X -q -h "$CITUS_SOCK" -p "$CITUS_PORT_coord" -U "$(cluster_user)" -d retailiq_citus -v ON_ERROR_STOP=1 \
    -c "SELECT citus_set_coordinator_host('$CITUS_SOCK', $CITUS_PORT_coord)" \
    -c "SELECT citus_add_node('$CITUS_SOCK', $CITUS_PORT_w1)" \
    -c "SELECT citus_add_node('$CITUS_SOCK', $CITUS_PORT_w2)" >/dev/null || return 1
}

# citus_suite: find/build, install, start, run test/citus/sql/*.sql with pg_regress; counts into
# PASSED/FAILED/FAILURES (tools/test.sh) and prints the timing.
citus_suite() {
  local t0 log out tests
  t0=$(date +%s)
  echo "== Citus (coordinator + 2 workers)"
  if ! citus_find; then
    echo "citus: skipped ($CITUS_SKIP)"
    return 0
  fi
  citus_install
  log=$LOGDIR/citus.log
  if ! citus_cluster > "$log" 2>&1; then
    FAILED=$((FAILED + 1)); FAILURES+=("citus: cluster did not start (see $log)")
    tail -20 "$log"; KEEP_WORK=1; citus_stop; return 0
  fi
  out=$WORK/citus-out
  mkdir -p "$out"
  [ "$(id -u)" -eq 0 ] && chown postgres "$out"
  tests=$(cd test/citus/sql && ls *.sql | sed 's/\.sql$//' | sort)
  # shellcheck disable=SC2086
  as_cluster_user "$ROOT/usr/lib/postgresql/$CITUS_PG/lib/pgxs/src/test/regress/pg_regress" \
    --use-existing --host="$CITUS_SOCK" --port="$CITUS_PORT_coord" --user="$(cluster_user)" \
    --dbname=retailiq_citus --inputdir=test/citus --outputdir="$out" \
    --bindir="$ROOT/usr/lib/postgresql/$CITUS_PG/bin" $tests >> "$log" 2>&1 || true
  grep -E '\.\.\. |tests (passed|failed)' "$log" || true
  count_results citus "$log"
  if ! grep -qE '\.\.\. ' "$log"; then
    FAILED=$((FAILED + 1)); FAILURES+=("citus: no results (see $log)"); tail -20 "$log"
  fi
  if [ -f "$out/regression.diffs" ]; then
    cp "$out/regression.diffs" "$LOGDIR/citus.diffs"
    echo "   (differences: $LOGDIR/citus.diffs)"
    KEEP_WORK=1
  fi
  citus_stop
  echo "   citus suite: $(( $(date +%s) - t0 )) s"
}

# On its own: the same set-up as tools/test.sh, then only this suite.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cd "$(dirname "$0")/.."
  . tools/lib.sh
  PASSED=0 FAILED=0 FAILURES=()
  ensure_packages
  build
  setup_pgroot
  LOGDIR=$WORK/logs
  mkdir -p "$LOGDIR"
  count_results() {   # tools/test.sh has the full one; here pg_regress's own verdicts
    PASSED=$((PASSED + $(grep -cE '\.\.\. +ok' "$2" || true)))
    FAILED=$((FAILED + $(grep -cE '\.\.\. +FAILED' "$2" || true)))
  }
  citus_suite
  [ ${#FAILURES[@]} -gt 0 ] && printf '   %s\n' "${FAILURES[@]}"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
fi

# tools/lib.sh: set-up shared by `make test`, `make demo` and `make bench`.
#
# Everything runs against a private copy of the PostgreSQL 15 installation with retailiq
# installed into it (PostgreSQL finds its share/ and lib/ relative to its binaries), and
# a throwaway cluster with shared_preload_libraries = 'retailiq'. Nothing is left running
# and the system installation is not touched, so several checkouts can test at once.

PG_VERSION=15
SYS_BINDIR=/usr/lib/postgresql/$PG_VERSION/bin
PACKAGES="postgresql-$PG_VERSION postgresql-server-dev-$PG_VERSION postgresql-$PG_VERSION-pgtap
 libtap-parser-sourcehandler-pgtap-perl libipc-run-perl libopenblas-serial-dev libopenblas-dev
 make gcc bc"

say() { printf '%s\n' "$*" >&2; }

ensure_packages() {
  local missing=() p
  for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "run this command as root once, or: sudo apt-get install ${missing[*]}"
    exit 2
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# build [make args...]: the test build, every warning an error.
build() {
  make -s -j2 WERROR=1 PG_CONFIG=$SYS_BINDIR/pg_config "$@" >&2
}

# The user the cluster runs as: initdb refuses root.
cluster_user() {
  if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

as_cluster_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env PATH="$PATH" "$@"; else "$@"; fi
}

# setup_pgroot: a private PostgreSQL with retailiq installed, in $WORK/root.
setup_pgroot() {
  WORK=$(mktemp -d /tmp/retailiq.XXXXXX)
  chmod 755 "$WORK"
  ROOT=$WORK/root
  mkdir -p "$ROOT/usr/lib/postgresql" "$ROOT/usr/share/postgresql"
  cp -a /usr/lib/postgresql/$PG_VERSION "$ROOT/usr/lib/postgresql/"
  cp -a /usr/share/postgresql/$PG_VERSION "$ROOT/usr/share/postgresql/"
  make -s install DESTDIR="$ROOT" PG_CONFIG=$SYS_BINDIR/pg_config >/dev/null
  export PATH="$ROOT/usr/lib/postgresql/$PG_VERSION/bin:$PATH"
  trap cleanup EXIT
}

# start_cluster [extra postgresql.conf lines...]
start_cluster() {
  DATA=$WORK/data
  SOCK=$WORK/sock
  mkdir -p "$SOCK"
  [ "$(id -u)" -eq 0 ] && chown postgres "$WORK" "$SOCK"
  as_cluster_user initdb -D "$DATA" -U "$(cluster_user)" -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
  PGPORT=$(( 20000 + RANDOM % 20000 ))
  {
    echo "port = $PGPORT"
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$SOCK'"
    echo "shared_preload_libraries = 'retailiq'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "wal_level = minimal"
    echo "max_wal_senders = 0"
    echo "jit = off"
    echo "max_worker_processes = 16"
    echo "max_parallel_workers = 8"
    echo "shared_buffers = 256MB"
    echo "work_mem = 64MB"
    echo "maintenance_work_mem = 256MB"
    echo "log_min_messages = warning"
    for line in "$@"; do echo "$line"; done
  } >> "$DATA/postgresql.conf"
  if [ -n "${VALGRIND:-}" ]; then
    # every backend under memcheck; reports land in $WORK/valgrind.<pid>.log
    chmod 777 "$WORK"
    as_cluster_user valgrind --quiet --trace-children=yes --leak-check=no --num-callers=30 \
      --suppressions="$PWD/tools/valgrind.supp" --log-file="$WORK/valgrind.%p.log" \
      postgres -D "$DATA" > "$WORK/server.log" 2>&1 &
    for _ in $(seq 1 120); do
      pg_isready -q -h "$SOCK" -p "$PGPORT" && break; sleep 1
    done
  else
    as_cluster_user pg_ctl -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null
  fi
  export PGHOST=$SOCK PGPORT PGUSER=$(cluster_user) PGDATABASE=postgres
}

# valgrind_report: memcheck errors found in the server's processes (VALGRIND=1 only).
valgrind_report() {
  local bad
  bad=$(grep -l 'ERROR SUMMARY: [1-9]\|^==[0-9]*== [A-Z]' "$WORK"/valgrind.*.log 2>/dev/null || true)
  if [ -n "$bad" ]; then
    echo "valgrind reports:"; cat $bad; return 1
  fi
  echo "valgrind: no memcheck errors in $(ls "$WORK"/valgrind.*.log 2>/dev/null | wc -l) server processes"
}

cleanup() {
  if [ -n "${DATA:-}" ] && [ -f "$DATA/postmaster.pid" ]; then
    as_cluster_user pg_ctl -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${KEEP_WORK:-}" ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}

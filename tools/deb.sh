#!/usr/bin/env bash
# make deb: builds postgresql-15-retailiq_<version>_<arch>.deb with pg_buildext
# (postgresql-server-dev-all) from a clean copy of the committed tree, into build/deb/,
# and runs lintian on it. Installs the build tools first when run as root.
#   tools/deb.sh          build (and lintian)
#   tools/deb.sh check    also: install the package, run `make installcheck` against a server
#                         of the installation it went into (pg_virtualenv, with
#                         shared_preload_libraries = 'retailiq'), remove it, check nothing is left
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib.sh

TOOLS="postgresql-server-dev-all debhelper devscripts lintian fakeroot libopenblas-serial-dev"
missing=()
for p in $TOOLS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]}; run as root once, or: sudo apt-get install ${missing[*]}"
    exit 2
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

VERSION=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" retailiq.control)
grep -q "^retailiq ($VERSION)" debian/changelog || { say "debian/changelog has no entry for $VERSION"; exit 1; }
OUT=$PWD/build/deb
STAGE=$(mktemp -d /tmp/retailiq-deb.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$OUT" "$STAGE/retailiq-$VERSION"
# a clean clone's files: what git tracks, as committed
git archive HEAD | tar -x -C "$STAGE/retailiq-$VERSION"
(cd "$STAGE/retailiq-$VERSION" && pg_buildext checkcontrol && dpkg-buildpackage -b -us -uc) > "$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
DEB=$(ls "$STAGE"/postgresql-15-retailiq_"$VERSION"_*.deb)
rm -f "$OUT"/*.deb
cp "$DEB" "$OUT/"
DEB=$OUT/$(basename "$DEB")
echo "built $DEB"
echo "== lintian"
lintian --no-tag-display-limit "$DEB" | tee "$OUT/lintian.log" || true
if grep -q '^E:' "$OUT/lintian.log"; then echo "lintian: errors"; exit 1; fi
echo "lintian: no error"

[ "${1:-}" = check ] || exit 0
[ "$(id -u)" -eq 0 ] || { say "tools/deb.sh check installs the package: run it as root"; exit 2; }
echo "== install"
apt-get install -y -qq "$DEB" >/dev/null
dpkg -L postgresql-15-retailiq > "$OUT/files.txt"
echo "== make installcheck against the installed package (pg_virtualenv, shared_preload_libraries = 'retailiq')"
chmod -R a+rwX . 2>/dev/null || true
mkdir -p test/isolation/output
rc=0
LANG=C.UTF-8 LC_ALL=C.UTF-8 pg_virtualenv -v 15 -o shared_preload_libraries=retailiq \
  make -s installcheck PG_CONFIG=$SYS_BINDIR/pg_config > "$OUT/installcheck.log" 2>&1 || rc=$?
grep -E 'tests (passed|failed)|^# (All|[0-9]+ of)' "$OUT/installcheck.log" || tail -20 "$OUT/installcheck.log"
echo "== remove"
apt-get remove --purge -y -qq postgresql-15-retailiq >/dev/null
left=0
while read -r f; do
  [ -f "$f" ] && { echo "left behind: $f"; left=1; }
done < "$OUT/files.txt"
[ $left -eq 0 ] && echo "removed: none of its $(wc -l < "$OUT/files.txt") paths' files left"
[ $rc -eq 0 ] && [ $left -eq 0 ]

#!/usr/bin/env bash
# tools/report-screenshot.sh FROM TO [OUT_PREFIX [STORE]]: renders retailiq.report_html(FROM, TO
# [, STORE]) from the database psql connects to (PGHOST, PGDATABASE, ...) into OUT_PREFIX.html
# and takes a 1200x2000 headless-Chromium screenshot OUT_PREFIX.png, to look at before sending
# the page to anyone. Installs Debian's chromium when run as root and it is missing.
set -euo pipefail
from=${1:?usage: $0 FROM TO [OUT_PREFIX [STORE]]}
to=${2:?usage: $0 FROM TO [OUT_PREFIX [STORE]]}
out=${3:-/tmp/retailiq_report}
store=${4:-NULL}
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is not installed: apt-get install chromium (as root)" >&2; exit 2
  fi
fi
echo "SELECT retailiq.report_html(:'f'::date, :'t'::date, nullif(:'s', 'NULL')::int)" |
  psql -X -q -At -v ON_ERROR_STOP=1 -v f="$from" -v t="$to" -v s="$store" -o "$out.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,2000 \
         --screenshot="$out.png" "file://$(realpath "$out.html")" 2>/dev/null
echo "$out.html ($(wc -c < "$out.html") bytes), screenshot $out.png"

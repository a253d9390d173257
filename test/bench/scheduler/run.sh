#!/usr/bin/env bash
# Scheduler benchmark: retailiq's scheduler beside pg_cron (Debian's postgresql-15-cron,
# version 1.4, minute granularity) in one server with both preloaded.
#  1. start latency: 20 jobs due at the same minute ('SELECT 1'), two minutes each; retailiq
#     on even minutes, pg_cron on odd minutes so they never compete. Latency = actual start
#     minus the minute the run was due (retailiq.job_run.started - scheduled_for; pg_cron:
#     cron.job_run_details.start_time - its minute).
#  2. sub-minute throughput (retailiq only: pg_cron 1.4 has no second schedules): 10 jobs
#     '@every 1 second' for 20 seconds; runs achieved against the 200 due, and the overhead
#     of one run (worker start to recorded result).
# The spec's targets: a 1-second job runs at least 10 times in 15 s; tag refresh within a minute.
set -euo pipefail
. "$REPO/tools/lib.sh"
PGBIN=$(dirname "$(command -v postgres)")
pkglib=$("$PGBIN/pg_config" --pkglibdir); share=$("$PGBIN/pg_config" --sharedir)
if [ ! -f "$pkglib/pg_cron.so" ]; then
  if [ ! -f /usr/lib/postgresql/15/lib/pg_cron.so ]; then
    if [ "$(id -u)" -eq 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-cron >/dev/null
    else
      echo "   pg_cron is not installed: run 'apt-get install postgresql-15-cron' as root; skipping the peer"
    fi
  fi
  if [ -f /usr/lib/postgresql/15/lib/pg_cron.so ]; then
    cp /usr/lib/postgresql/15/lib/pg_cron.so "$pkglib/"
    cp /usr/share/postgresql/15/extension/pg_cron* "$share/extension/"
  fi
fi
have_cron=0; [ -f "$pkglib/pg_cron.so" ] && have_cron=1

D=$WORK/schedbench; S=$WORK/schedbench_sock
mkdir -p "$S"; [ "$(id -u)" -eq 0 ] && chown postgres "$S"
as_cluster_user "$PGBIN/initdb" -D "$D" -U "$(cluster_user)" -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
PORT=$(( 20000 + RANDOM % 20000 ))
libs="retailiq"; [ $have_cron -eq 1 ] && libs="retailiq,pg_cron"
cat >> "$D/postgresql.conf" <<CONF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$S'
shared_preload_libraries = '$libs'
fsync = off
synchronous_commit = off
max_worker_processes = 40
max_connections = 100
retailiq.database = 'sched'
retailiq.max_job_workers = 20
cron.database_name = 'sched'
cron.host = '$S'
cron.max_running_jobs = 20
log_min_messages = warning
CONF
as_cluster_user "$PGBIN/pg_ctl" -D "$D" -l "$WORK/schedbench.log" -w start >/dev/null
trap 'as_cluster_user "$PGBIN/pg_ctl" -D "$D" -m immediate -w stop >/dev/null 2>&1 || true' EXIT
P="psql -X -q -At -h $S -p $PORT -U $(cluster_user)"
$P -d postgres -c 'CREATE DATABASE sched'
$P -d sched -c 'CREATE EXTENSION retailiq'
[ $have_cron -eq 1 ] && $P -d sched -c 'CREATE EXTENSION pg_cron'

echo "   1. start latency, 20 jobs due at the same minute, two minutes each (this takes about 5 minutes)"
$P -d sched -c "SELECT retailiq.schedule('m' || i, '0-58/2 * * * *', 'SELECT 1') FROM generate_series(1, 20) i" >/dev/null
[ $have_cron -eq 1 ] && $P -d sched -c "SELECT cron.schedule('c' || i, '1-59/2 * * * *', 'SELECT 1') FROM generate_series(1, 20) i" >/dev/null
for _ in $(seq 1 400); do
  r=$($P -d sched -c "SELECT count(*) FROM retailiq.job_run WHERE job_name LIKE 'm%' AND status = 'succeeded'")
  c=40; [ $have_cron -eq 1 ] && c=$($P -d sched -c "SELECT count(*) FROM cron.job_run_details WHERE status = 'succeeded'")
  [ "$r" -ge 40 ] && [ "$c" -ge 40 ] && break
  sleep 1
done
$P -d sched -c "SELECT retailiq.alter_job('m' || i, enabled => false) FROM generate_series(1, 20) i" >/dev/null
[ $have_cron -eq 1 ] && $P -d sched -c "UPDATE cron.job SET active = false"
stats="percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY ms), max(ms), count(*)"
rq=$($P -d sched -F ' ' -c "SELECT round(a::numeric, 1), round(b::numeric, 1), round(c::numeric, 1), n FROM (SELECT $stats
     FROM (SELECT extract(epoch FROM started - scheduled_for) * 1000 AS ms FROM retailiq.job_run
           WHERE job_name LIKE 'm%' AND status = 'succeeded' ORDER BY run_id LIMIT 40) x) s(a, b, c, n)")
printf '   retailiq  start latency ms: median %s  p95 %s  max %s  (%s runs)\n' $rq
if [ $have_cron -eq 1 ]; then
  cq=$($P -d sched -F ' ' -c "SELECT round(a::numeric, 1), round(b::numeric, 1), round(c::numeric, 1), n FROM (SELECT $stats
       FROM (SELECT extract(epoch FROM start_time - date_trunc('minute', start_time)) * 1000 AS ms FROM cron.job_run_details
             WHERE status = 'succeeded' ORDER BY runid LIMIT 40) x) s(a, b, c, n)")
  printf '   pg_cron   start latency ms: median %s  p95 %s  max %s  (%s runs)\n' $cq
  set -- $rq; rmed=$1; set -- $cq; cmed=$1
  printf '   median latency ratio pg_cron / retailiq: %s\n' "$(echo "scale=1; $cmed / $rmed" | bc -l)"
else
  echo "   pg_cron: not installed, no peer figures"
fi

echo "   2. sub-minute: 10 jobs '@every 1 second' for 20 s (pg_cron 1.4 cannot schedule below a minute)"
$P -d sched -c "SELECT retailiq.schedule('s' || i, '@every 1 second', 'SELECT 1') FROM generate_series(1, 10) i" >/dev/null
sleep 20
$P -d sched -c "SELECT retailiq.alter_job('s' || i, enabled => false) FROM generate_series(1, 10) i" >/dev/null
sleep 1
$P -d sched -F ' ' -c "SELECT count(*), round(count(*) / 200.0 * 100, 1),
    round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished - started) * 1000))::numeric, 1),
    round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started - scheduled_for) * 1000))::numeric, 1)
  FROM retailiq.job_run WHERE job_name LIKE 's%' AND status = 'succeeded'
   AND started < (SELECT min(started) FROM retailiq.job_run WHERE job_name LIKE 's%') + interval '20 seconds'" |
  { read -r n pct run lat; printf '   retailiq: %s runs in 20 s of 200 due (%s%%); median %s ms from dispatch to recorded result (worker start-up included); median start latency %s ms\n' "$n" "$pct" "$run" "$lat"; }

echo "   3. fire times against python3-croniter (the reference for cron arithmetic)"
if ! /usr/bin/python3 -c 'import croniter' 2>/dev/null && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-croniter >/dev/null
fi
if /usr/bin/python3 -c 'import croniter' 2>/dev/null; then
  /usr/bin/python3 "$REPO/test/bench/scheduler/cron_reference.py"
else
  echo "   python3-croniter is not installed: run 'apt-get install python3-croniter' as root"
fi

#!/usr/bin/python3
# Reference check of retailiq.next_runs against python3-croniter (Debian package), in UTC:
# the same schedules from the same start times must give the same fire times. Connects with
# psql through the usual PG* environment variables to a database with retailiq installed.
# Left out: '0 0 */10 * mon' (croniter ORs the day fields even when one starts with '*';
# Vixie cron, pg_cron and retailiq AND them) and '0 0 31 2 mon' (croniter gives up).
import sys, subprocess, datetime
from croniter import croniter
cases = [('0 0 1,15 * wed','2026-01-01',8),('15 14 1 * *','2026-01-01',3),('0 22 * * 1-5','2026-01-01',6),('23 0-20/2 * * *','2026-01-01',12),('5 4 * * sun','2026-01-01',3),('0 0,12 1 */2 *','2026-01-01',6),('0 4 8-14 * *','2026-01-01',8),('@hourly','2026-01-01 00:30',3),('*/15 * * * *','2026-01-01 10:07:30',5),('*/15 * * * *','2026-01-01 10:15:00',2),
 ('5,10-20/5 8-9 * * *','2026-01-01 00:00',9),('50/5 23 * * *','2026-01-01 00:00',3),
 ('0 9 * JAN,jul Mon-Fri','2026-01-28',5),('0 0 * * sun','2026-01-01',2),('0 0 * * 7','2026-01-01',10),
 ('0 0 13 * fri','2026-04-01',6),('0 0 31 * *','2026-01-01',7),
 ('0 12 30 * *','2026-01-15',3),('0 0 29 2 *','2025-06-01',3),('0 0 29 feb *','2096-03-01',1),
 ('0 0 29 2 *','1999-01-01',1),('59 23 31 12 *','2026-12-31 23:59',2),
 ('*/7 */5 1-10/3 1,6,11 *','2026-01-01',12), ('0 0 * * 1-5/2', '2026-01-01', 6)]
bad = 0
for s, start, n in cases:
    st = datetime.datetime.fromisoformat(start)
    it = croniter(s.lower().replace('sunday','sun'), st)
    ref = [it.get_next(datetime.datetime).strftime('%Y-%m-%d %H:%M:%S') for _ in range(n)]
    out = subprocess.run(['psql','-XAtq','-c',"SET timezone='UTC'; SELECT to_char(t,'YYYY-MM-DD HH24:MI:SS') FROM retailiq.next_runs('%s','%s',%d) t" % (s, start, n)],capture_output=True,text=True).stdout.split()
    ours = [' '.join(out[i:i+2]) for i in range(0,len(out),2)]
    ok = ours == ref
    bad += not ok
    if not ok:
        print('   DIFF', s, start, ours, ref)
print('   croniter reference: %d schedules, %d mismatches' % (len(cases), bad))
sys.exit(1 if bad else 0)

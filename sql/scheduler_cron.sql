-- The schedule language of retailiq jobs: five cron fields, shorthands and @every, and the
-- next fire times they give (retailiq.next_runs lists them). Fire times are shown in UTC;
-- cron fields are read in retailiq.job_time_zone (UTC here) unless a zone is given.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SHOW retailiq.job_time_zone;

-- every 15 minutes, from a time between two fire times and from a fire time itself
SELECT * FROM retailiq.next_runs('*/15 * * * *', '2026-01-01 10:07:30', 5);
SELECT * FROM retailiq.next_runs('*/15 * * * *', '2026-01-01 10:15:00', 2);
-- lists, ranges and steps in one field; N/step runs from N to the end of the range
SELECT * FROM retailiq.next_runs('5,10-20/5 8-9 * * *', '2026-01-01 00:00', 9);
SELECT * FROM retailiq.next_runs('50/5 23 * * *', '2026-01-01 00:00', 3);
-- names of months and days, any case, short or full; 7 is Sunday like 0
SELECT * FROM retailiq.next_runs('0 9 * JAN,jul Mon-Fri', '2026-01-28', 5);
SELECT * FROM retailiq.next_runs('0 0 * * sunday', '2026-01-01', 2);
SELECT a = b AS seven_is_sunday
FROM (SELECT array_agg(t) a FROM retailiq.next_runs('0 0 * * 7', '2026-01-01', 10) t) x,
     (SELECT array_agg(t) b FROM retailiq.next_runs('0 0 * * 0', '2026-01-01', 10) t) y;
-- both day fields restricted: either matches (13th or a Friday) ...
SELECT t, to_char(t, 'Dy') FROM retailiq.next_runs('0 0 13 * fri', '2026-04-01', 6) t;
-- ... but if one starts with '*', both must (days 1, 11, 21, 31 that are Mondays)
SELECT t, to_char(t, 'Dy') FROM retailiq.next_runs('0 0 */10 * mon', '2026-01-01', 4) t;

-- month ends: the 31st skips shorter months, the 30th skips February
SELECT * FROM retailiq.next_runs('0 0 31 * *', '2026-01-01', 7);
SELECT * FROM retailiq.next_runs('0 12 30 * *', '2026-01-15', 3);
-- Feb 29: leap years only, across 2100 (not a leap year) and 2000 (a leap year)
SELECT * FROM retailiq.next_runs('0 0 29 2 *', '2025-06-01', 3);
SELECT * FROM retailiq.next_runs('0 0 29 feb *', '2096-03-01', 1);
SELECT * FROM retailiq.next_runs('0 0 29 2 *', '1999-01-01', 1);
-- the last minute of the year rolls into the next one
SELECT * FROM retailiq.next_runs('59 23 31 12 *', '2026-12-31 23:59', 2);

-- shorthands
SELECT s, retailiq.next_run(s, '2026-05-15 13:45') AS next
FROM unnest(ARRAY['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly', '  @DAILY  ']) s
ORDER BY s;
-- @every keeps its cadence from the previous time; intervals in months follow the calendar
SELECT * FROM retailiq.next_runs('@every 90 seconds', '2026-01-01 00:00', 3);
SELECT * FROM retailiq.next_runs('@every 1 second', '2026-01-01 00:00', 2);
SELECT * FROM retailiq.next_runs('@every 1 month', '2026-01-31', 3);

-- time zones and daylight-saving changes. Europe/Paris goes 02:00 -> 03:00 on 2026-03-29:
-- 02:30 does not exist that day and fires at 03:30 local (01:30 UTC)
SELECT t, t AT TIME ZONE 'Europe/Paris' AS paris
FROM retailiq.next_runs('30 2 * * *', '2026-03-27', 4, 'Europe/Paris') t;
-- the quarter-hours of the missing hour: 02:00 fires at 03:00, 02:15-02:45 do not exist
SELECT t, t AT TIME ZONE 'Europe/Paris' AS paris
FROM retailiq.next_runs('*/15 * * * *', '2026-03-29 00:30+00', 5, 'Europe/Paris') t;
-- back 03:00 -> 02:00 on 2026-10-25: the repeated 02:xx fire once, in standard time
SELECT t, t AT TIME ZONE 'Europe/Paris' AS paris
FROM retailiq.next_runs('*/30 * * * *', '2026-10-24 23:45+00', 6, 'Europe/Paris') t;
SELECT t, t AT TIME ZONE 'Europe/Paris' AS paris
FROM retailiq.next_runs('30 2 * * *', '2026-10-24', 3, 'Europe/Paris') t;
-- midnight local stays midnight local across the change (nightly jobs)
SELECT t AT TIME ZONE 'America/New_York' AS new_york, t
FROM retailiq.next_runs('@daily', '2026-03-07', 3, 'America/New_York') t;
-- a zone without daylight saving, east of UTC
SELECT * FROM retailiq.next_runs('0 9 * * *', '2026-01-01', 2, 'Asia/Kolkata');

-- invalid schedules are rejected with the field that is wrong
CREATE FUNCTION pg_temp.try(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text;
BEGIN
    PERFORM retailiq.check_schedule(s);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN st || ' ' || msg || coalesce(' / ' || nullif(det, ''), '');
END $$;
SELECT s AS schedule, pg_temp.try(s) AS result FROM (VALUES
    (''), ('* * * *'), ('* * * * * *'), ('60 * * * *'), ('* 24 * * *'), ('* * 0 * *'),
    ('* * 32 * *'), ('* * * 13 *'), ('* * * 0 *'), ('* * * * 8'), ('*/0 * * * *'), ('*/61 * * * *'),
    ('5-1 * * * *'), ('* * * * mon-sun'), ('a * * * *'), ('* * * foo *'), ('* * * ja *'), ('1,,2 * * * *'),
    ('1, * * * *'), ('-5 * * * *'), ('99999 * * * *'), ('0 0 L * *'), ('0 0 30 2 *'),
    ('0 0 31 4,6,9,11 *'), ('0 0 31 2 mon'), ('@reboot'), ('@daily extra'), ('@every'),
    ('@every 0 seconds'), ('@every -1 minute'), ('@every 500 milliseconds'), ('@every 1 minute -61 seconds'),
    ('@every 1 day'), (E'*\t*  *   *    *')) v(s)
ORDER BY s;
-- a full error, with the hint
SELECT retailiq.check_schedule('0 25 * * *');
SELECT retailiq.next_run('@every banana');
-- NULLs, a bad zone, bad counts, infinite times
SELECT retailiq.next_run(NULL);
SELECT retailiq.next_run('@daily', NULL);
SELECT retailiq.next_run('@daily', '2026-01-01', 'Mars/Olympus');
SELECT * FROM retailiq.next_runs('@daily', '2026-01-01', -1);
SELECT * FROM retailiq.next_runs('@daily', '2026-01-01', NULL);
SELECT count(*) FROM retailiq.next_runs('@daily', '2026-01-01', 0);
SELECT retailiq.next_run('@daily', 'infinity');

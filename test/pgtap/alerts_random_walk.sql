-- The stock trigger over a random walk of stock levels: 300 items, 25 rounds of random
-- updates (quantities, levels, NULLs), once with the row-level trigger and once with the
-- statement-level (transition table) form. After every round an item has an active
-- low_stock alert exactly when its stock is below its level (or unknown after being low),
-- the alerts raised and resolved match the crossings replayed from a history kept by a
-- plain PL/pgSQL trigger, and both forms agree alert for alert.
BEGIN;
SELECT plan(7);

DELETE FROM retailiq.alert;
CREATE TABLE inv_row (item int PRIMARY KEY, on_hand int, lvl int);
CREATE TABLE inv_stmt (item int PRIMARY KEY, on_hand int, lvl int);
CREATE TABLE history (seq bigserial, item int, old_q int, old_l int, new_q int, new_l int, is_insert bool);

CREATE FUNCTION pg_temp.keep_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO history (item, old_q, old_l, new_q, new_l, is_insert)
  VALUES (NEW.item, CASE WHEN TG_OP = 'UPDATE' THEN OLD.on_hand END,
          CASE WHEN TG_OP = 'UPDATE' THEN OLD.lvl END, NEW.on_hand, NEW.lvl, TG_OP = 'INSERT');
  RETURN NULL;
END $$;
CREATE TRIGGER h AFTER INSERT OR UPDATE ON inv_row FOR EACH ROW EXECUTE FUNCTION pg_temp.keep_history();
CREATE TRIGGER a AFTER INSERT OR UPDATE ON inv_row FOR EACH ROW
  EXECUTE FUNCTION retailiq.stock_alert('item', 'on_hand', 'lvl');
CREATE TRIGGER ai AFTER INSERT ON inv_stmt REFERENCING NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION retailiq.stock_alert('item', 'on_hand', 'lvl');
CREATE TRIGGER au AFTER UPDATE ON inv_stmt REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT
  EXECUTE FUNCTION retailiq.stock_alert('item', 'on_hand', 'lvl');

SELECT setseed(0.42);
CREATE TABLE walk AS
SELECT r, i AS item,
       CASE WHEN random() < 0.03 THEN NULL ELSE (random() * 30)::int - 3 END AS q,
       CASE WHEN random() < 0.7 THEN NULL ELSE (random() * 20)::int END AS l,
       random() < 0.5 AS touch
  FROM generate_series(0, 25) r, generate_series(1, 300) i;

INSERT INTO inv_row SELECT item, q, coalesce(l, 10) FROM walk WHERE r = 0;
INSERT INTO inv_stmt SELECT item, q, coalesce(l, 10) FROM walk WHERE r = 0;

CREATE TABLE mismatches (r int, item int, tbl text);
DO $$
DECLARE rnd int;
BEGIN
  FOR rnd IN 1..25 LOOP
    UPDATE inv_row i SET on_hand = w.q, lvl = coalesce(w.l, i.lvl)
      FROM walk w WHERE w.r = rnd AND w.item = i.item AND w.touch;
    UPDATE inv_stmt i SET on_hand = w.q, lvl = coalesce(w.l, i.lvl)
      FROM walk w WHERE w.r = rnd AND w.item = i.item AND w.touch;
    -- known stock: active alert <=> low
    INSERT INTO mismatches
    SELECT rnd, i.item, t.tbl
      FROM (SELECT 'inv_row' AS tbl, * FROM inv_row UNION ALL SELECT 'inv_stmt', * FROM inv_stmt) i
      JOIN LATERAL (SELECT i.tbl) t ON true
     WHERE i.on_hand IS NOT NULL
       AND (i.on_hand < i.lvl) IS DISTINCT FROM EXISTS (
             SELECT FROM retailiq.alert a
              WHERE a.kind = 'low_stock' AND a.status <> 'resolved'
                AND a.subject = jsonb_build_object('table', 'public.' || i.tbl, 'item', i.item));
  END LOOP;
END $$;

SELECT is((SELECT count(*) FROM mismatches), 0::bigint,
          'after every round, an item with known stock has an active alert exactly when it is low');

-- Replay the history through the documented rules, written independently here: the state
-- of a row is unknown (NULL quantity), ok, low (1) or out (2, at or below zero).
CREATE TABLE model (item int PRIMARY KEY, active bool, sev int, cnt int, n_alerts int, crossings int, resolves int);
DO $$
DECLARE h record; m model; was int; now int;
BEGIN
  INSERT INTO model SELECT item, false, 0, 0, 0, 0, 0 FROM inv_row;
  FOR h IN SELECT * FROM history ORDER BY seq LOOP
    SELECT * INTO m FROM model WHERE item = h.item;
    was := CASE WHEN h.is_insert OR h.old_q IS NULL THEN NULL WHEN h.old_q >= h.old_l THEN 0
                WHEN h.old_q <= 0 THEN 2 ELSE 1 END;
    now := CASE WHEN h.new_q IS NULL THEN NULL WHEN h.new_q >= h.new_l THEN 0
                WHEN h.new_q <= 0 THEN 2 ELSE 1 END;
    IF now IS NULL THEN
      CONTINUE;
    ELSIF now = 0 THEN
      IF was IS DISTINCT FROM 0 AND NOT h.is_insert AND m.active THEN
        m.active := false; m.resolves := m.resolves + 1;
      END IF;
    ELSIF was IS DISTINCT FROM now AND NOT coalesce(was = 2 AND now = 1, false) THEN
      m.crossings := m.crossings + 1;
      IF m.active THEN
        m.cnt := m.cnt + 1; m.sev := greatest(m.sev, now);
      ELSE
        m.active := true; m.cnt := 1; m.sev := now; m.n_alerts := m.n_alerts + 1;
      END IF;
    END IF;
    UPDATE model SET active = m.active, sev = m.sev, cnt = m.cnt, n_alerts = m.n_alerts,
                     crossings = m.crossings, resolves = m.resolves WHERE item = h.item;
  END LOOP;
END $$;

SELECT ok((SELECT sum(crossings) > 100 AND sum(resolves) > 50 AND sum(cnt) FILTER (WHERE active AND cnt > 1) > 0 FROM model),
          'the walk crosses the threshold both ways many times, with repeats');
SELECT results_eq(
  $$SELECT item, n_alerts::bigint, CASE WHEN active THEN cnt END::bigint,
           CASE WHEN active THEN (ARRAY['warning', 'critical'])[sev] END
      FROM model ORDER BY item$$,
  $$SELECT i.item, count(a.id), max(a.count) FILTER (WHERE a.status <> 'resolved'),
           max(a.severity::text) FILTER (WHERE a.status <> 'resolved')
      FROM inv_row i LEFT JOIN retailiq.alert a
        ON a.subject = jsonb_build_object('table', 'public.inv_row', 'item', i.item)
     GROUP BY i.item ORDER BY i.item$$,
  'per item: alerts raised, and the active one''s count and severity, as the rules say');
SELECT is((SELECT count(*) FROM retailiq.alert WHERE subject ->> 'table' = 'public.inv_row' AND status = 'resolved'),
          (SELECT sum(resolves) FROM model),
          'every recovery resolved exactly one alert');
SELECT ok((SELECT count(*) FROM retailiq.alert a WHERE a.subject ->> 'table' = 'public.inv_row'
            AND (a.status = 'resolved') <> (a.resolved_at IS NOT NULL)) = 0,
          'resolved_at is set exactly on resolved alerts');
SELECT is((SELECT count(*) FROM (SELECT kind, subject FROM retailiq.alert WHERE status <> 'resolved'
                                 GROUP BY 1, 2 HAVING count(*) > 1) d), 0::bigint,
          'never two active alerts for one item');

SELECT results_eq(
  $$SELECT subject - 'table', severity::text, status, count, measured, threshold
      FROM retailiq.alert WHERE subject ->> 'table' = 'public.inv_row'
     ORDER BY (subject ->> 'item')::int, created_at, id$$,
  $$SELECT subject - 'table', severity::text, status, count, measured, threshold
      FROM retailiq.alert WHERE subject ->> 'table' = 'public.inv_stmt'
     ORDER BY (subject ->> 'item')::int, created_at, id$$,
  'row-level and statement-level triggers raise the same alerts');

SELECT * FROM finish();
ROLLBACK;

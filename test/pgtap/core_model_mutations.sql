-- Mutation testing of the model readers from SQL: thousands of damaged texts and byte
-- strings, each must either read back as a valid model or raise a clean ERROR with one of
-- the documented SQLSTATEs; a crash would end the whole run.
BEGIN;
SELECT plan(4);

CREATE TEMP TABLE seed_model AS
SELECT '{"kind": "kmeans", "format": 1, "trained_at": "2026-01-02T03:04:05+00:00", "trained_by": "a\"b\\c\u00e9",
         "params": {"k": 3, "tol": 1e-4, "on": true, "name": "x\ny"},
         "metrics": {"inertia": -1.5e300, "nan": "NaN", "inf": "-Infinity"},
         "data": {"c": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.5]], "ids": [1, 2, 3], "names": ["a", "b"], "e": []},
         "types": {"params": {"k": "int64", "on": "bool", "name": "text"}, "data": {"ids": "int64", "names": "text"}}}'::text AS t;

CREATE FUNCTION pg_temp.mutate_text(t text, r int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE r % 4
    WHEN 0 THEN overlay(t placing substr('{}[]",:.-e0123456789NaIty\u ', 1 + (r / 4) % 27, 1)
                        from 1 + (r / 97) % length(t) for 1)          -- replace a character
    WHEN 1 THEN overlay(t placing '' from 1 + (r / 97) % length(t) for 1 + (r / 7) % 5)  -- delete
    WHEN 2 THEN left(t, (r / 3) % length(t))                          -- truncate
    ELSE overlay(t placing substr(t, 1 + (r / 11) % length(t), 7) from 1 + (r / 97) % length(t) for 0) -- duplicate
  END $$;

CREATE TEMP TABLE text_results AS
SELECT r, pg_temp.mutate_text(t, r * 7919) AS input, NULL::text AS outcome FROM seed_model, generate_series(1, 3000) r;

DO $$
DECLARE x record; m retailiq.model;
BEGIN
  FOR x IN SELECT r, input FROM text_results LOOP
    BEGIN
      m := x.input::retailiq.model;
      -- whatever parses must print and parse back to the same bytes
      IF retailiq.model_send(m::text::retailiq.model) <> retailiq.model_send(m) THEN
        UPDATE text_results SET outcome = 'round trip differs' WHERE r = x.r;
      ELSE
        UPDATE text_results SET outcome = 'ok' WHERE r = x.r;
      END IF;
    EXCEPTION WHEN OTHERS THEN
      UPDATE text_results SET outcome = SQLSTATE WHERE r = x.r;
    END;
  END LOOP;
END $$;

SELECT is((SELECT string_agg(DISTINCT outcome || ': ' || input, ' | ') FROM text_results
           WHERE outcome NOT IN ('ok', '0A000') AND outcome NOT LIKE '22%'),
          NULL, 'every mutated text either parses or fails with a data-exception (22xxx) or 0A000 SQLSTATE');
SELECT cmp_ok((SELECT count(*) FROM text_results WHERE outcome = 'ok'), '>', 50::bigint,
              'some mutations are still valid models, and they round-trip exactly');

-- byte mutations of a stored value: forged with a test-only cast
CREATE CAST (bytea AS retailiq.model) WITHOUT FUNCTION;
CREATE TEMP TABLE byte_results AS
SELECT r, b, NULL::text AS outcome
FROM (SELECT r, CASE r % 3
               WHEN 0 THEN set_byte(v, (r / 3) % length(v), (r * 131) % 256)
               WHEN 1 THEN substr(v, 1, (r / 3) % length(v))
               ELSE v || substr(v, 1 + r % length(v), 1 + r % 9) END AS b
      FROM (SELECT retailiq.model_send(t::retailiq.model) AS v FROM seed_model) s, generate_series(1, 3000) r) q;

DO $$
DECLARE x record;
BEGIN
  FOR x IN SELECT r, b FROM byte_results LOOP
    BEGIN
      PERFORM retailiq.model_info(x.b::retailiq.model), x.b::retailiq.model::text;
      UPDATE byte_results SET outcome = 'ok' WHERE r = x.r;
    EXCEPTION WHEN OTHERS THEN
      UPDATE byte_results SET outcome = SQLSTATE WHERE r = x.r;
    END;
  END LOOP;
END $$;
DROP CAST (bytea AS retailiq.model);

SELECT is((SELECT count(*) FROM byte_results WHERE outcome NOT IN ('XX001', '0A000')),
          (SELECT count(*) FROM byte_results r JOIN (SELECT retailiq.model_send(t::retailiq.model) v FROM seed_model) s ON r.b = s.v),
          'every damaged stored value is reported corrupt (XX001/0A000); only undamaged ones read');
SELECT cmp_ok((SELECT count(*) FROM byte_results WHERE outcome = 'XX001'), '>', 2900::bigint,
              'the checksum catches the damage');

SELECT * FROM finish();
ROLLBACK;

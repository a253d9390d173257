#!/usr/bin/env bash
# Stock trigger overhead on inventory updates that raise no alert, in one run:
#   1. pgbench single-row UPDATE throughput (1 client, prepared), and
#   2. a bulk UPDATE of the whole inventory (median of several runs),
# each with no trigger, a no-op PL/pgSQL AFTER ROW trigger (what any row trigger costs:
# the after-trigger queue and the re-fetch of the rows), retailiq.stock_alert() per row (C),
# retailiq.stock_alert() per statement with transition tables (C), and an equivalent
# PL/pgSQL row trigger (same crossing rules, same calls into the alert store). The bulk
# update also reports the time spent inside the trigger (EXPLAIN ANALYZE), which the
# machine's load does not blur as much as wall-clock throughput. Then the same bulk update when 5% of
# the items run out and are refilled (alerts raised and resolved), C against PL/pgSQL.
# The inventory is the sample retailer's (retailiq.generate_sample_data), at
# BENCH_STORES x BENCH_PRODUCTS items (default 100 x 2000 = 200,000 rows).
set -euo pipefail
STORES=${BENCH_STORES:-100}
PRODUCTS=${BENCH_PRODUCTS:-2000}
ROUNDS=${BENCH_ROUNDS:-5}
REPS=${BENCH_REPS:-5}
Q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

Q -c "DROP SCHEMA IF EXISTS bench_alerts CASCADE" 2>/dev/null
Q -c "SELECT sum(row_count) FROM retailiq.generate_sample_data('bench_alerts', 2000, $STORES, $PRODUCTS, 28, 42)" >/dev/null
Q <<'SQL'
-- every item well above its reorder level, so the timed updates cross nothing
CREATE TABLE bench_alerts.inv (LIKE bench_alerts.inventory INCLUDING ALL) WITH (fillfactor = 40);
INSERT INTO bench_alerts.inv SELECT store_id, product_id, on_hand + reorder_level + 1000, reorder_level,
       reorder_qty, updated_at FROM bench_alerts.inventory;
VACUUM ANALYZE bench_alerts.inv;

-- The PL/pgSQL equivalent of retailiq.stock_alert('store_id,product_id', 'on_hand', 'reorder_level').
CREATE FUNCTION bench_alerts.plpgsql_stock_alert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was int;
    now int;
    subject jsonb;
BEGIN
    IF NEW.on_hand IS NULL OR NEW.reorder_level IS NULL THEN
        RETURN NULL;
    END IF;
    now := CASE WHEN NEW.on_hand >= NEW.reorder_level THEN 0 WHEN NEW.on_hand <= 0 THEN 2 ELSE 1 END;
    IF TG_OP = 'UPDATE' AND OLD.on_hand IS NOT NULL AND OLD.reorder_level IS NOT NULL THEN
        was := CASE WHEN OLD.on_hand >= OLD.reorder_level THEN 0 WHEN OLD.on_hand <= 0 THEN 2 ELSE 1 END;
    END IF;
    IF now = 0 THEN
        IF was IS DISTINCT FROM 0 AND TG_OP = 'UPDATE' THEN
            subject := jsonb_build_object('table', 'bench_alerts.inv', 'store_id', NEW.store_id,
                                          'product_id', NEW.product_id);
            PERFORM retailiq_internal.alert_resolve_subject('low_stock', subject);
        END IF;
    ELSIF was IS DISTINCT FROM now AND NOT coalesce(was = 2 AND now = 1, false) THEN
        subject := jsonb_build_object('table', 'bench_alerts.inv', 'store_id', NEW.store_id,
                                      'product_id', NEW.product_id);
        PERFORM retailiq.raise_alert('low_stock', subject,
            CASE WHEN now = 2 THEN 'critical' ELSE 'warning' END::retailiq.alert_severity,
            format('on_hand of bench_alerts.inv (store_id %s, product_id %s) is %s, below reorder_level %s',
                   NEW.store_id, NEW.product_id, NEW.on_hand, NEW.reorder_level),
            NEW.on_hand, NEW.reorder_level, 'purchaser');
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION bench_alerts.noop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN NULL;
END
$$;

CREATE FUNCTION bench_alerts.use(variant text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DROP TRIGGER IF EXISTS t_row ON bench_alerts.inv;
    DROP TRIGGER IF EXISTS t_stmt ON bench_alerts.inv;
    IF variant = 'c_row' THEN
        CREATE TRIGGER t_row AFTER INSERT OR UPDATE ON bench_alerts.inv FOR EACH ROW
            EXECUTE FUNCTION retailiq.stock_alert('store_id,product_id', 'on_hand', 'reorder_level');
    ELSIF variant = 'c_stmt' THEN
        CREATE TRIGGER t_stmt AFTER UPDATE ON bench_alerts.inv
            REFERENCING OLD TABLE AS o NEW TABLE AS n FOR EACH STATEMENT
            EXECUTE FUNCTION retailiq.stock_alert('store_id,product_id', 'on_hand', 'reorder_level');
    ELSIF variant = 'noop' THEN
        CREATE TRIGGER t_row AFTER INSERT OR UPDATE ON bench_alerts.inv FOR EACH ROW
            EXECUTE FUNCTION bench_alerts.noop();
    ELSIF variant = 'plpgsql' THEN
        CREATE TRIGGER t_row AFTER INSERT OR UPDATE ON bench_alerts.inv FOR EACH ROW
            EXECUTE FUNCTION bench_alerts.plpgsql_stock_alert();
    END IF;
END
$$;

-- CPU time (user + system) this backend has used, in clock ticks (/proc/<pid>/stat)
CREATE FUNCTION bench_alerts.cpu_ticks() RETURNS float8 LANGUAGE sql AS $$
    SELECT f[12]::float8 + f[13]::float8
      FROM (SELECT string_to_array(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'),
                                              ') ', 2), ' ') AS f) x
$$;

-- single-row UPDATE statements, one per item of the first n products: CPU ms of the loop
CREATE FUNCTION bench_alerts.single_rows_cpu(n int) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t0 float8 := bench_alerts.cpu_ticks();
    r record;
BEGIN
    FOR r IN SELECT store_id, product_id FROM bench_alerts.inv WHERE product_id <= n LOOP
        UPDATE bench_alerts.inv SET on_hand = on_hand + 1
         WHERE store_id = r.store_id AND product_id = r.product_id;
    END LOOP;
    RETURN bench_alerts.cpu_ticks() - t0;
END
$$;

-- CPU ticks one statement takes
CREATE FUNCTION bench_alerts.cpu_of(stmt text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 float8 := bench_alerts.cpu_ticks();
BEGIN
    EXECUTE stmt;
    RETURN bench_alerts.cpu_ticks() - t0;
END
$$;

-- milliseconds spent inside triggers (EXPLAIN ANALYZE) by one statement
CREATE FUNCTION bench_alerts.trigger_ms(stmt text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || stmt INTO j;
    RETURN coalesce((SELECT sum((t ->> 'Time')::float8) FROM json_array_elements(j -> 0 -> 'Triggers') t), 0);
END
$$;

-- milliseconds one statement takes
CREATE FUNCTION bench_alerts.time_ms(stmt text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE stmt;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;
SQL
ROWS=$(Q -c "SELECT count(*) FROM bench_alerts.inv")
VARIANTS="none noop c_row c_stmt plpgsql"
TICK_MS=$(echo "1000 / $(getconf CLK_TCK)" | bc -l)
NSINGLE=$PRODUCTS
echo "   inventory: $ROWS items ($STORES stores x $PRODUCTS products, sample retailer, seed 42)"

# 1. pgbench: one item per transaction, +1 unit (no item crosses its level)
SCRIPT=$WORK/alerts_update.sql
cat > "$SCRIPT" <<PGB
\set s random(1, $STORES)
\set p random(1, $PRODUCTS)
UPDATE bench_alerts.inv SET on_hand = on_hand + 1 WHERE store_id = :s AND product_id = :p;
PGB
# the pgbench backend's CPU ticks, sampled every 20 ms until pgbench ends (the last sample is
# at most 20 ms short of the total); pgbench's own tps is wall clock and moves with the load
pgbench_cpu() {
  local out=$WORK/pgbench.out pid="" ticks=0 f
  pgbench -n -M prepared -c 1 -j 1 -t "$TXNS" -f "$SCRIPT" > "$out" 2>/dev/null &
  local bench=$!
  while kill -0 "$bench" 2>/dev/null; do
    [ -z "$pid" ] && pid=$(Q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' LIMIT 1")
    if [ -n "$pid" ] && f=$(cat "/proc/$pid/stat" 2>/dev/null); then
      f=${f##*) }; set -- $f; ticks=$(( ${12} + ${13} ))
    fi
    sleep 0.02
  done
  wait "$bench"
  echo "$ticks $(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out")"
}
TXNS=${BENCH_TXNS:-20000}
declare -A TPS PCPU
for v in $VARIANTS; do TPS[$v]=""; PCPU[$v]=""; done
# each round starts with a different variant, so no variant always follows the same one
rotate() { local n=$1; shift; local a=("$@"); local i; for i in "${!a[@]}"; do echo -n "${a[$(( (i + n) % ${#a[@]} ))]} "; done; }
for rep in $(seq 1 "$ROUNDS"); do
  for v in $(rotate "$rep" $VARIANTS); do
    Q -c "SET client_min_messages = warning" -c "SELECT bench_alerts.use('$v')" >/dev/null
    Q -c "VACUUM bench_alerts.inv"
    read -r ticks tps < <(pgbench_cpu)
    TPS[$v]="${TPS[$v]} $tps"; PCPU[$v]="${PCPU[$v]} $ticks"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "   pgbench single-row UPDATE (one item, +1 unit), 1 client, $TXNS transactions x $ROUNDS rounds, median:"
echo "   server CPU per transaction (the pgbench backend's, from /proc) and wall-clock tps"
echo "   (tps moves with the other load on a shared machine; the CPU figure hardly does)"
base=$(echo "${PCPU[none]}" | median); noop=$(echo "${PCPU[noop]}" | median)
[ "${base:-0}" = 0 ] && base=1; [ "${noop:-0}" = 0 ] && noop=1   # runs too short to sample
for v in $VARIANTS; do
  c=$(echo "${PCPU[$v]}" | median); t=$(echo "${TPS[$v]}" | median)
  printf '     %-8s %6.1f us/txn CPU  cost over no trigger %+6.1f%%  over a no-op trigger %+6.1f%%   %7.0f tps\n' \
    "$v" "$(echo "1000 * $c * $TICK_MS / $TXNS" | bc -l)" "$(echo "100 * ($c - $base) / $base" | bc -l)" \
    "$(echo "100 * ($c - $noop) / $noop" | bc -l)" "$t"
done

# 2. the same single-row statements in one backend, measured in its CPU time
declare -A CPU1
for v in $VARIANTS; do CPU1[$v]=""; done
for rep in $(seq 1 "$REPS"); do
  for v in $(rotate "$rep" $VARIANTS); do
    Q -c "SET client_min_messages = warning" -c "SELECT bench_alerts.use('$v')" >/dev/null
    Q -c "VACUUM bench_alerts.inv"
    t=$(Q -c "SELECT bench_alerts.single_rows_cpu($NSINGLE)")
    CPU1[$v]="${CPU1[$v]} $t"
  done
done
NS=$(( STORES * NSINGLE ))
echo "   $NS single-row UPDATE statements (one per item) in one backend, CPU time, median of $REPS runs:"
base=$(echo "${CPU1[none]}" | median)
for v in $VARIANTS; do
  t=$(echo "${CPU1[$v]}" | median)
  printf '     %-8s %8.0f ms  %5.2f us/statement   cost over no trigger %+6.1f%%\n' "$v" \
    "$(echo "$t * $TICK_MS" | bc -l)" "$(echo "1000 * $t * $TICK_MS / $NS" | bc -l)" \
    "$(echo "100 * ($t - $base) / $base" | bc -l)"
done

# 3. bulk UPDATE of every item, no crossings
declare -A MS TR
for v in $VARIANTS; do MS[$v]=""; TR[$v]=""; done
for rep in $(seq 1 "$REPS"); do
  for v in $(rotate "$rep" $VARIANTS); do
    Q -c "SET client_min_messages = warning" -c "SELECT bench_alerts.use('$v')" >/dev/null
    Q -c "VACUUM bench_alerts.inv"
    ms=$(Q -c "SELECT bench_alerts.cpu_of('UPDATE bench_alerts.inv SET on_hand = on_hand + 1') * $TICK_MS")
    Q -c "VACUUM bench_alerts.inv"
    tr=$(Q -c "SELECT bench_alerts.trigger_ms('UPDATE bench_alerts.inv SET on_hand = on_hand + 1')")
    Q -c "VACUUM bench_alerts.inv"
    MS[$v]="${MS[$v]} $ms"; TR[$v]="${TR[$v]} $tr"
  done
done
echo "   bulk UPDATE of all $ROWS items, no alert raised, backend CPU time, median of $REPS runs:"
base=$(echo "${MS[none]}" | median)
for v in $VARIANTS; do
  m=$(echo "${MS[$v]}" | median); t=$(echo "${TR[$v]}" | median)
  printf '     %-8s %8.0f ms  cost over no trigger %+6.1f%%   in the trigger (EXPLAIN ANALYZE) %7.1f ms = %5.2f us/row\n' \
    "$v" "$m" "$(echo "100 * ($m - $base) / $base" | bc -l)" "$t" "$(echo "1000 * $t / $ROWS" | bc -l)"
done
c=$(echo "${TR[c_row]}" | median); p=$(echo "${TR[plpgsql]}" | median)
printf '     time in the trigger, PL/pgSQL / C row trigger: %.2fx\n' "$(echo "$p / $c" | bc -l)"

# 4. the same bulk update when 5% of items run out, then refilled (alerts raised, resolved)
for v in c_row c_stmt plpgsql; do MS[$v]=""; done
for rep in 1 2 3; do
  for v in c_row c_stmt plpgsql; do
    Q -c "SET client_min_messages = warning" -c "SELECT bench_alerts.use('$v')" >/dev/null
    Q -c "DELETE FROM retailiq.alert WHERE subject ->> 'table' = 'bench_alerts.inv'"
    ms=$(Q -c "SELECT (bench_alerts.cpu_of('UPDATE bench_alerts.inv SET on_hand = CASE WHEN product_id % 20 = 0 THEN 0 ELSE on_hand + 1 END')
               + bench_alerts.cpu_of('UPDATE bench_alerts.inv SET on_hand = CASE WHEN product_id % 20 = 0 THEN 1000 + reorder_level ELSE on_hand + 1 END')) * $TICK_MS")
    n=$(Q -c "SELECT count(*) FILTER (WHERE status = 'resolved') FROM retailiq.alert WHERE subject ->> 'table' = 'bench_alerts.inv'")
    Q -c "VACUUM bench_alerts.inv"
    MS[$v]="${MS[$v]} $ms"
  done
done
echo "   bulk UPDATE x2 where 5% of items run out and are refilled ($n alerts raised and resolved), CPU, median of 3:"
for v in c_row c_stmt plpgsql; do
  printf '     %-8s %9.0f ms\n' "$v" "$(echo "${MS[$v]}" | median)"
done
Q -c "DELETE FROM retailiq.alert WHERE subject ->> 'table' = 'bench_alerts.inv'"
Q -c "DROP SCHEMA bench_alerts CASCADE" 2>/dev/null

#!/usr/bin/env bash
# Masked against unmasked reads of the same customers table (BENCH_CUSTOMERS rows, default
# 1,000,000) in one run: an unmasked role reads the base table, a masked role reads it by
# the same name through its masking view (pseudonymised id, partial phone, e-mail, NULL
# name, generalised birth date). Two reads, each the median of BENCH_REPS runs, the roles
# alternating run by run:
#   fetch  - COPY (SELECT * FROM customers) TO '/dev/null' (every column of every row), and
#   agg    - SELECT city, count(DISTINCT customer_id), max(phone), max(email) ... GROUP BY city.
# Prints each time and the ratio masked / unmasked throughput (goals: fetch at least 0.90,
# agg at least 0.95). apply_masking stores the masked rows of this table (it qualifies: see
# doc/privacy.md, "Stored masked rows"); BENCH_KEEP=1 keeps the schemas afterwards.
# PostgreSQL Anonymizer (the peer) is not packaged for Debian, so it is not run here.
set -euo pipefail
N=${BENCH_CUSTOMERS:-1000000}
REPS=${BENCH_REPS:-5}
Q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

Q <<SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench_privacy CASCADE;
DROP SCHEMA IF EXISTS retailiq_mask CASCADE;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_masked') THEN CREATE ROLE bench_masked; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_plain') THEN CREATE ROLE bench_plain; END IF;
END \$\$;
GRANT pg_write_server_files TO bench_masked, bench_plain;
CREATE SCHEMA bench_privacy;
CREATE TABLE bench_privacy.customers AS
SELECT i AS customer_id,
       (ARRAY['Anna','Yuki','Sofia','Wei','Li','Omar','Maria','Jun'])[1 + i % 8] || ' ' ||
       (ARRAY['Liu','Li','Rossi','Wang','Zhang','Chen','Garcia','Kim'])[1 + (i / 8) % 8] AS full_name,
       '+86 1' || lpad((i % 100)::text, 2, '0') || ' ' || lpad(((i::bigint * 7919) % 10000)::text, 4, '0') || ' ' ||
       lpad(((i::bigint * 104729) % 10000)::text, 4, '0') AS phone,
       'user' || i || '@example.com' AS email,
       date '1940-01-01' + (i::bigint * 37 % 25000)::int AS birth_date,
       (ARRAY['Suzhou','Nanjing','Ningbo','Hangzhou','Shanghai','Wuxi'])[1 + i % 6] AS city,
       1 + i % 20 AS home_store_id
  FROM generate_series(1, $N) i;
ALTER TABLE bench_privacy.customers ADD PRIMARY KEY (customer_id);
VACUUM ANALYZE bench_privacy.customers;
SECURITY LABEL FOR retailiq ON COLUMN bench_privacy.customers.customer_id IS 'PSEUDONYMIZED';
SECURITY LABEL FOR retailiq ON COLUMN bench_privacy.customers.full_name IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR retailiq ON COLUMN bench_privacy.customers.phone IS 'MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 4)';
SECURITY LABEL FOR retailiq ON COLUMN bench_privacy.customers.email IS 'MASKED WITH FUNCTION retailiq.mask_email(email)';
SECURITY LABEL FOR retailiq ON COLUMN bench_privacy.customers.birth_date IS 'MASKED WITH FUNCTION retailiq.generalize_date(birth_date, ''year'')';
SECURITY LABEL FOR retailiq ON ROLE bench_masked IS 'MASKED';
GRANT USAGE ON SCHEMA bench_privacy TO bench_plain, bench_masked;
GRANT SELECT ON bench_privacy.customers TO bench_plain;
SELECT retailiq.apply_masking() \gset
SQL

FETCH="COPY (SELECT * FROM customers) TO '/dev/null'"
AGG="SELECT city, count(DISTINCT customer_id), max(phone), max(email), min(birth_date) FROM customers GROUP BY city"

# run <role> <search_path> <sql>: wall-clock milliseconds of one run
run() {
  local t0 t1
  t0=$(date +%s%N)
  PGOPTIONS="-c search_path=$2 -c max_parallel_workers_per_gather=0" Q -c "SET ROLE $1" -c "$3" >/dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# warm the cache and check that the masked role really gets masked rows
run bench_plain bench_privacy "$FETCH" >/dev/null
run bench_masked retailiq_mask,bench_privacy "$FETCH" >/dev/null
stored=$(Q -c "SELECT to_regclass('retailiq_mask.customers__masked_rows') IS NOT NULL")
echo "masked rows stored beside the table: $stored"
masked_rows=$(PGOPTIONS="-c search_path=retailiq_mask,bench_privacy" Q -c "SET ROLE bench_masked" \
  -c "SELECT count(*) FROM customers WHERE full_name IS NULL AND phone LIKE '+86*%' AND email LIKE '%***@example.com'")
echo "masked role sees $masked_rows of $N rows masked"

for name in fetch agg; do
  [ $name = fetch ] && sql=$FETCH || sql=$AGG
  plain=(); masked=()
  for _ in $(seq 1 "$REPS"); do
    plain+=("$(run bench_plain bench_privacy "$sql")")
    masked+=("$(run bench_masked retailiq_mask,bench_privacy "$sql")")
  done
  p=$(printf '%s\n' "${plain[@]}" | median)
  m=$(printf '%s\n' "${masked[@]}" | median)
  [ $name = fetch ] && goal=0.90 || goal=0.95
  r=$(echo "scale=2; $p / $m" | bc)
  echo "$name: unmasked ${p} ms, masked ${m} ms (median of $REPS on $N rows); masked/unmasked throughput $r" \
       "(goal >= $goal: $( [ "$(echo "$r >= $goal" | bc)" -eq 1 ] && echo met || echo 'NOT met'))"
done

[ -n "${BENCH_KEEP:-}" ] || Q -c "DROP SCHEMA retailiq_mask CASCADE" -c "DROP SCHEMA bench_privacy CASCADE" >/dev/null 2>&1 || true

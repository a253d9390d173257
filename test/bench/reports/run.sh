#!/usr/bin/env bash
# Reports benchmark (make bench BENCH=reports), in one run on the sample schema: the reports
# part of test/bench/behaviour without its 5-minute event feeder. report_sales (daily, by
# store), report_behaviour (monthly) and report_html over the last year with nothing stored
# (the definitions computed from the tables), refresh_report_days() (the year, then a night's),
# then the same reports with the stored days, as the scheduler's daily report job keeps them
# (goals, issue 20: 3 s, 10 s, 10 s; the ratio to nothing stored printed beside each), and
# report_forecast_accuracy and materialize_report('monthly'). The last day (today) is never
# stored: the reports compute it, as they do for a manager reading them during the day.
# Data: BENCH_CUSTOMERS (default 100,000) customers, 20 stores, 500 products, BENCH_DAYS
# (default 365) days, shifted so that the history ends now.
set -euo pipefail
. "$(dirname "$0")/../reports/reports_part.sh"
CUSTOMERS=${BENCH_CUSTOMERS:-100000}
DAYS=${BENCH_DAYS:-365}
Q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
S=bench_rep

echo "   sample data: $CUSTOMERS customers, $DAYS days (generation and time shift, not timed)"
Q -c "DROP SCHEMA IF EXISTS $S CASCADE" 2>/dev/null
Q -c "SELECT sum(row_count) FROM retailiq.generate_sample_data('$S', $CUSTOMERS, 20, 500, $DAYS, 42)" >/dev/null
bench_shift_history
Q -c "SELECT retailiq.register_event_source('$S')" >/dev/null
echo "   load average before the reports: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_reports
echo "   load average after the reports: $(cut -d' ' -f1-3 /proc/loadavg)"
Q -c "DROP SCHEMA $S CASCADE" -c "DELETE FROM retailiq.source" \
  -c "DELETE FROM retailiq.forecast_result WHERE model_name = 'bench'" 2>/dev/null || true

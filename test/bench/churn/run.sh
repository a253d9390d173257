#!/usr/bin/env bash
# Churn benchmark and backtest (make bench, BENCH=churn make bench).
#  1. BG/NBD fit time on CDNOW (2,357 customers) and on 1,000,000 simulated customers:
#     retailiq.bgnbd_fit against the same likelihood maximised with scipy (what lifetimes
#     does: numpy log-likelihood, scipy.optimize.minimize), with the fitted parameters.
#  2. Backtest on the sample data: features as of 2025-06-01 with 90-day labels to train,
#     features as of 2025-09-01 and churn in the next 90 days to test. retailiq.logit_fit
#     against scikit-learn's LogisticRegression (same features, standardised, C = 1/l2),
#     and BG/NBD's churn_probability: AUC, log-loss, Brier score, calibration by decile, and
#     how high the planted churners (planted_customers.churn_date) rank.
set -euo pipefail
: "${REPO:?}" "${WORK:?}"
PY=/usr/bin/python3
if ! $PY -c 'import sklearn, scipy' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-sklearn >/dev/null
  else
    echo "python3-sklearn is missing: apt-get install python3-sklearn (as root)"; exit 0
  fi
fi
B=$WORK/churn_bench
mkdir -p "$B"
chmod 777 "$B"
Q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

# ---- 1a. CDNOW -------------------------------------------------------------------------
Q -c "CREATE TABLE cdnow (id int, frequency int, recency float8, t float8)"
Q -c "\copy cdnow FROM '$REPO/test/data/churn/cdnow_customers_summary.csv' WITH (FORMAT csv, HEADER)"
# mean seconds per call of a query, run n times inside the server
time_sql() {
  Q -At -c "DO \$\$ DECLARE t0 timestamptz; BEGIN t0 := clock_timestamp();
    FOR i IN 1..$2 LOOP PERFORM ($1); END LOOP;
    RAISE NOTICE '%', extract(epoch FROM clock_timestamp() - t0) / $2; END \$\$" 2>&1 | sed 's/^NOTICE: *//'
}
echo "-- BG/NBD on CDNOW (2,357 customers, weeks)"
RIQ_CD=$(time_sql "SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM cdnow" 20)
Q -At -c "SELECT 'retailiq  r=' || round((j->'data'->>'r')::numeric, 6) || ' alpha=' || round((j->'data'->>'alpha')::numeric, 6)
              || ' a=' || round((j->'data'->>'a')::numeric, 6) || ' b=' || round((j->'data'->>'b')::numeric, 6)
              || ' LL=' || round((j->'metrics'->>'log_likelihood')::numeric, 4)
          FROM (SELECT retailiq.bgnbd_fit(frequency, recency, t)::text::jsonb AS j FROM cdnow) s"
Q -c "\copy cdnow TO '$B/cdnow.csv' WITH (FORMAT csv)"

cat > "$B/bgnbd_peer.py" <<'PYEOF'
import sys, time, numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln
d = np.loadtxt(sys.argv[1], delimiter=',')
x, tx, T = d[:, -3], d[:, -2], d[:, -1]
def nll(lp):
    r, al, a, b = np.exp(lp)
    A1 = gammaln(r + x) - gammaln(r) + r * np.log(al)
    A2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    A3 = -(r + x) * np.log(al + T)
    A4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(al + tx), -np.inf)
    return -np.sum(A1 + A2 + np.logaddexp(A3, A4)) / len(x)
reps = int(sys.argv[2])
out = []
for method, opts in [('Nelder-Mead', {'maxiter': 20000, 'xatol': 1e-8, 'fatol': 1e-12}),
                     ('BFGS', {'gtol': 1e-9})]:
    # lifetimes' BetaGeoFitter starts every parameter at 0.1 on the log scale; older
    # releases use Nelder-Mead, newer ones a gradient method (BFGS here, numerical gradient)
    t0 = time.perf_counter()
    for _ in range(reps):
        res = minimize(nll, np.log([0.1, 0.1, 0.1, 0.1]), method=method, options=opts)
    el = (time.perf_counter() - t0) / reps
    r, al, a, b = np.exp(res.x)
    print(f"scipy {method:<11} r={r:.6f} alpha={al:.6f} a={a:.6f} b={b:.6f} LL={-res.fun*len(x):.4f}  {el:.4f} s")
    out.append(el)
print(out[0], out[1])
PYEOF
PEER=$($PY "$B/bgnbd_peer.py" "$B/cdnow.csv" 3)
echo "$PEER" | head -2
read -r NM BF <<<"$(echo "$PEER" | tail -1)"
printf 'fit time: retailiq %.4f s; scipy Nelder-Mead %.4f s (ratio %.1fx), BFGS %.4f s (ratio %.1fx)\n' \
  "$RIQ_CD" "$NM" "$(echo "$NM / $RIQ_CD" | bc -l)" "$BF" "$(echo "$BF / $RIQ_CD" | bc -l)"

# ---- 1b. 1,000,000 simulated customers -------------------------------------------------
echo "-- BG/NBD on 1,000,000 simulated customers (true r=0.25 alpha=4 a=0.8 b=2.5, ages 10-80 weeks)"
cat > "$B/simulate.py" <<'PYEOF'
import sys, numpy as np
rng = np.random.default_rng(42)
n = int(sys.argv[2]); r, al, a, b = 0.25, 4.0, 0.8, 2.5
lam = rng.gamma(r, 1 / al, n); p = rng.beta(a, b, n); T = rng.uniform(10, 80, n)
x = np.zeros(n, dtype=np.int64); tx = np.zeros(n); t = np.zeros(n); alive = np.ones(n, bool)
while alive.any():
    idx = np.nonzero(alive)[0]
    t[idx] += rng.exponential(1 / np.maximum(lam[idx], 1e-12))
    bought = t[idx] <= T[idx]
    alive[idx[~bought]] = False
    ib = idx[bought]
    x[ib] += 1; tx[ib] = t[ib]
    alive[ib[rng.random(len(ib)) < p[ib]]] = False
with open(sys.argv[1], 'w') as f:
    for i in range(n):
        f.write(f"{i},{x[i]},{tx[i]:.6f},{T[i]:.6f}\n")
PYEOF
$PY "$B/simulate.py" "$B/sim.csv" 1000000
Q -c "CREATE TABLE sim (id int, frequency int, recency float8, t float8)"
Q -c "\copy sim FROM '$B/sim.csv' WITH (FORMAT csv)"
RIQ_SIM=$(time_sql "SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM sim" 1)
Q -At -c "SELECT 'retailiq  r=' || round((j->'data'->>'r')::numeric, 6) || ' alpha=' || round((j->'data'->>'alpha')::numeric, 6)
              || ' a=' || round((j->'data'->>'a')::numeric, 6) || ' b=' || round((j->'data'->>'b')::numeric, 6)
              || ' LL=' || round((j->'metrics'->>'log_likelihood')::numeric, 4)
          FROM (SELECT retailiq.bgnbd_fit(frequency, recency, t)::text::jsonb AS j FROM sim) s"
PEER=$($PY "$B/bgnbd_peer.py" "$B/sim.csv" 1)
echo "$PEER" | head -2
read -r NM BF <<<"$(echo "$PEER" | tail -1)"
printf 'fit time: retailiq %.3f s; scipy Nelder-Mead %.3f s (ratio %.1fx), BFGS %.3f s (ratio %.1fx)\n' \
  "$RIQ_SIM" "$NM" "$(echo "$NM / $RIQ_SIM" | bc -l)" "$BF" "$(echo "$BF / $RIQ_SIM" | bc -l)"
Q -c "DROP TABLE sim"

# ---- 2. Backtest on the sample data ------------------------------------------------------
echo "-- backtest on the sample data (10,000 customers, 2024-01-01 + 730 days, seed 42)"
Q -At -c "SELECT count(*) FROM retailiq.generate_sample_data('retail', 10000, 20, 500, 730, 42)" >/dev/null
Q -At -c "SELECT retailiq.register_event_source('retail')" >/dev/null
Q <<'SQL'
CREATE TABLE bt_train AS
SELECT f.customer_id, f.features, l.churned
FROM retailiq.churn_features('2025-06-01') f JOIN retailiq.churn_labels('2025-06-01', 90) l USING (customer_id);
CREATE TABLE bt_test AS
SELECT f.customer_id, f.features, l.churned,
       p.churn_date IS NOT NULL AND p.churn_date < date '2025-09-01' + 90 AS planted_churner
FROM retailiq.churn_features('2025-09-01') f JOIN retailiq.churn_labels('2025-09-01', 90) l USING (customer_id)
     JOIN retail.planted_customers p USING (customer_id);
-- BG/NBD calibrated on everything before the test cut-off, in weeks
CREATE TABLE bt_rfm AS
SELECT customer_id, (retailiq.purchase_summary((ordered_at AT TIME ZONE 'UTC')::date, total_amount::float8,
                                               '2025-08-31', '7 days')).*
FROM retail.orders WHERE ordered_at < '2025-09-01' GROUP BY customer_id;
SQL
RIQ_LOGIT=$(time_sql "SELECT retailiq.logit_fit(features, churned, 1.0, retailiq.churn_feature_names()) FROM bt_train" 5)
Q <<'SQL'
CREATE TABLE bt_models AS
SELECT (SELECT retailiq.logit_fit(features, churned, 1.0, retailiq.churn_feature_names()) FROM bt_train) AS logit,
       (SELECT retailiq.bgnbd_fit(frequency, recency, t) FROM bt_rfm) AS bgnbd;
CREATE TABLE bt_scores AS
SELECT t.customer_id, t.churned, t.planted_churner,
       retailiq.churn_probability(m.logit, t.features) AS p_logit,
       retailiq.churn_probability(m.bgnbd, r.frequency, r.recency, r.t) AS p_bgnbd,
       retailiq.expected_purchases(m.bgnbd, r.frequency, r.recency, r.t, 90 / 7.0) AS e_bgnbd
FROM bt_test t JOIN bt_rfm r USING (customer_id), bt_models m;
SQL
Q -c "\copy (SELECT customer_id, churned::int, array_to_string(features, ' ') FROM bt_train ORDER BY customer_id) TO '$B/train.csv' WITH (FORMAT csv)"
Q -c "\copy (SELECT t.customer_id, t.churned::int, t.planted_churner::int, array_to_string(t.features, ' '), s.p_logit, s.p_bgnbd, s.e_bgnbd FROM bt_test t JOIN bt_scores s USING (customer_id) ORDER BY customer_id) TO '$B/test.csv' WITH (FORMAT csv)"
Q -At -c "SELECT logit::text FROM bt_models" > "$B/logit_model.json"

cat > "$B/backtest.py" <<'PYEOF'
import csv, json, sys, time, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import roc_auc_score, log_loss, brier_score_loss
B, riq_fit = sys.argv[1], float(sys.argv[2])
def load(path, test):
    rows = list(csv.reader(open(path)))
    y = np.array([int(r[1]) for r in rows])
    if test:
        planted = np.array([int(r[2]) for r in rows])
        X = np.array([[float(v) for v in r[3].split()] for r in rows])
        extra = np.array([[float(r[4]), float(r[5]), float(r[6])] for r in rows])
        return X, y, planted, extra
    return np.array([[float(v) for v in r[2].split()] for r in rows]), y
Xtr, ytr = load(f"{B}/train.csv", False)
Xte, yte, planted, extra = load(f"{B}/test.csv", True)
t0 = time.perf_counter()
for _ in range(5):
    sc = StandardScaler().fit(Xtr)
    clf = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10).fit(sc.transform(Xtr), ytr)
sk_fit = (time.perf_counter() - t0) / 5
p_sk = clf.predict_proba(sc.transform(Xte))[:, 1]
p_riq, p_bg, e_bg = extra[:, 0], extra[:, 1], extra[:, 2]
m = json.load(open(f"{B}/logit_model.json"))
coef_diff = np.max(np.abs(np.array(m['data']['coef']) - clf.coef_[0]))
Ztr = sc.transform(Xtr)
def objective(b0, b):   # the penalised negative log-likelihood both fits minimise (l2 = 1/C = 1)
    eta = b0 + Ztr @ b
    return np.sum(np.logaddexp(0, eta) - ytr * eta) + 0.5 * np.dot(b, b)
obj_riq = objective(m['data']['intercept'], np.array(m['data']['coef']))
obj_sk = objective(clf.intercept_[0], clf.coef_[0])
print(f"train {len(ytr)} customers ({ytr.mean():.1%} churned), test {len(yte)} ({yte.mean():.1%} churned, "
      f"{planted.sum()} planted churners)")
print(f"logistic fit time: retailiq {riq_fit:.4f} s, scikit-learn (lbfgs) {sk_fit:.4f} s, ratio {sk_fit / riq_fit:.1f}x; "
      f"max |coef difference| {coef_diff:.2e}")
print(f"penalised objective at the optimum: retailiq {obj_riq:.6f}, scikit-learn {obj_sk:.6f} (lower is better)")
def clip(p): return np.clip(p, 1e-15, 1 - 1e-15)
def pct_rank(s):
    o = np.argsort(np.argsort(s, kind='stable'), kind='stable'); return o / (len(s) - 1)
print(f"{'model':<28}{'AUC':>8}{'log-loss':>10}{'Brier':>8}{'planted AUC':>13}{'planted in top 25%':>20}")
for name, p, prob in [("retailiq logit_fit", p_riq, True), ("scikit-learn Logistic", p_sk, True),
                      ("BG/NBD churn_probability", p_bg, True), ("BG/NBD -expected purchases", -e_bg, False)]:
    ll = f"{log_loss(yte, clip(p)):.4f}" if prob else "-"
    br = f"{brier_score_loss(yte, p):.4f}" if prob else "-"
    top = np.mean(pct_rank(p)[planted == 1] >= 0.75)
    print(f"{name:<28}{roc_auc_score(yte, p):>8.4f}{ll:>10}{br:>8}{roc_auc_score(planted, p):>13.4f}{top:>20.1%}")
auc_riq, auc_sk = roc_auc_score(yte, p_riq), roc_auc_score(yte, p_sk)
print(f"AUC retailiq - scikit-learn = {auc_riq - auc_sk:+.4f} (done when >= -0.005: {'yes' if auc_riq >= auc_sk - 0.005 else 'NO'})")
print("calibration by decile of predicted churn (mean predicted / observed):")
print(f"{'decile':>6}{'logit_fit':>22}{'scikit-learn':>22}{'BG/NBD':>22}")
for d in range(10):
    cells = []
    for p in (p_riq, p_sk, p_bg):
        q = np.quantile(p, [d / 10, (d + 1) / 10])
        sel = (p >= q[0]) & ((p <= q[1]) if d == 9 else (p < q[1]))
        cells.append(f"{p[sel].mean():.3f} / {yte[sel].mean():.3f}" if sel.any() else "-")
    print(f"{d + 1:>6}" + "".join(f"{c:>22}" for c in cells))
PYEOF
$PY "$B/backtest.py" "$B" "$RIQ_LOGIT"

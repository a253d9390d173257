"""statsmodels peer for test/bench/forecast: ETSModel chosen by AICc over the same 15 forms
as R's ets (additive error with multiplicative season excluded; multiplicative forms only on
positive data), 80% intervals from get_prediction (simulated for non-additive forms).
Usage: python3 peer_statsmodels.py data.csv origins h out.csv"""
import sys, time, warnings
import numpy as np
import pandas as pd
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

warnings.filterwarnings("ignore")
data, origins, h, out = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
d = pd.read_csv(data, dtype={"series": str, "month": str})
rows, total = [], 0.0
for o in origins:
    for s, g in d[d.month < o].groupby("series", sort=True):
        g = g.sort_values("month")
        # a dated Series: statsmodels 0.13's get_prediction needs an index
        y = pd.Series(g.y.values.astype(float), index=pd.DatetimeIndex(g.month.values, freq="MS"))
        if len(y) < 24:
            continue
        t0 = time.time()
        best = None
        for e in ("add", "mul"):
            if e == "mul" and y.min() <= 0:
                continue
            for tr, dp in ((None, False), ("add", False), ("add", True)):
                for se in (None, "add", "mul"):
                    if se == "mul" and e == "add":
                        continue
                    try:
                        r = ETSModel(y, error=e, trend=tr, damped_trend=dp, seasonal=se,
                                     seasonal_periods=12 if se else None).fit(disp=False, maxiter=2000)
                    except Exception:
                        continue
                    if np.isfinite(r.aicc) and (best is None or r.aicc < best.aicc):
                        best = r
        p = best.get_prediction(start=len(y), end=len(y) + h - 1).summary_frame(alpha=0.2)
        total += time.time() - t0
        for k in range(h):
            rows.append(("sm_ets", s, o, k + 1, p["mean"].iloc[k], p["pi_lower"].iloc[k], p["pi_upper"].iloc[k]))
pd.DataFrame(rows, columns=["method", "series", "origin", "step", "yhat", "lo", "hi"]).to_csv(out, index=False)
with open(out + ".time", "a") as f:
    f.write("sm_ets %f\n" % total)

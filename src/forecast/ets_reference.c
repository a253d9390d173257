/*
 * ets_reference.c: retailiq_internal.ets_check, one ETS form run with given smoothing parameters
 * and initial state (nothing estimated), for the tests that compare the equations with a
 * reference implementation (R's forecast::ets).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "core/arrays.h"
#include "forecast/method.h"


/*
 * ets_check(y float8[], m int, model text, par float8[4], init float8[], h int, level float8)
 * -> float8[]: {loglik, yhat[1..h], lower[1..h], upper[1..h]} for an ETS form with given
 * smoothing parameters (alpha, beta, gamma, phi) and initial state (level, [slope],
 * s1..sm as R's ets reports initstate). For checking the equations against a reference
 * implementation: nothing is estimated.
 */
PG_FUNCTION_INFO_V1(forecast_ets_check);

Datum
forecast_ets_check(PG_FUNCTION_ARGS)
{
	int			n,
				npar,
				ninit,
				m = PG_GETARG_INT32(1);
	double	   *y = riq_float8_array(PG_GETARG_ARRAYTYPE_P(0), "y", &n, false);
	char	   *spec = text_to_cstring(PG_GETARG_TEXT_PP(2));
	double	   *par = riq_float8_array(PG_GETARG_ARRAYTYPE_P(3), "par", &npar, false);
	double	   *init = riq_float8_array(PG_GETARG_ARRAYTYPE_P(4), "init", &ninit, false);
	int			h = PG_GETARG_INT32(5);
	double		level = PG_GETARG_FLOAT8(6);
	EtsOptions	eo;
	SeriesFit	f;
	RiqRng		rng;
	double	   *out;
	int			i,
				k = 0,
				need;

	ets_default_options(&eo);
	ets_parse_model(spec, &eo);
	if (eo.error < 0 || eo.trend < 0 || eo.season < 0 || eo.damped < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model must be a fully specified form such as \"MAdM\"")));
	forecast_check_horizon(h);
	if (npar != 4 || n < 1 || m < 1 || m > ETS_MAX_SEASON || !(level > 0 && level < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("par must have 4 elements, m be 1..24 and level in (0, 1)")));
	if (!(par[0] > 0 && par[0] <= 1) || !(par[1] >= 0 && par[1] <= 1) ||
		!(par[2] >= 0 && par[2] <= 1) || !(par[3] > 0 && par[3] <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("par must hold alpha in (0, 1], beta and gamma in [0, 1] and phi in (0, 1]"),
				 errdetail("par is {%g, %g, %g, %g}.", par[0], par[1], par[2], par[3]),
				 errhint("Pass the smoothing parameters in the order alpha, beta, gamma, phi (1 for an unused one is fine).")));
	memset(&f, 0, sizeof(f));
	f.method = FIT_ETS;
	f.error = eo.error;
	f.trend = eo.trend;
	f.season = eo.season;
	f.damped = eo.damped == 1;
	f.m = f.season != ETS_NONE ? m : 1;
	f.alpha = par[0];
	f.beta = par[1];
	f.gamma = par[2];
	f.phi = par[3];
	need = 1 + (f.trend != ETS_NONE) + (f.season != ETS_NONE ? f.m : 0);
	if (ninit != need)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("init has %d elements, the form needs %d", ninit, need)));
	f.level = init[k++];
	if (f.trend != ETS_NONE)
		f.slope = init[k++];
	if (f.season != ETS_NONE)
		for (i = 0; i < f.m; i++)
			f.s[i] = init[k++];
	{
		double		sse;
		double		lik = ets_filter(y, n, &f, &sse);
		/* R's count: smoothing parameters and free initial states (m - 1 seasonal) */
		int			np = 2 + (f.trend != ETS_NONE) * 2 + (f.season != ETS_NONE) * f.m + (f.damped ? 1 : 0);

		f.loglik = -0.5 * lik;
		f.sigma2 = sse / Max(n - np, 1);
	}
	out = palloc(sizeof(double) * (1 + 3 * h));
	out[0] = f.loglik;
	riq_rng_seed(&rng, 42, 0);
	fit_forecast(&f, h, level, false, &rng, out + 1, out + 1 + h, out + 1 + 2 * h);
	PG_RETURN_ARRAYTYPE_P(riq_float8_array_make(out, 1 + 3 * h));
}

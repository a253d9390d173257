/*
 * accuracy.c: forecast accuracy aggregates (WAPE, MAPE, sMAPE, bias, RMSE, MASE, RMSSE,
 * interval coverage) and the seasonal-naive scale that MASE and RMSSE divide by.
 *
 * Every aggregate keeps a short float8[] of sums whose first element is the number of rows
 * counted, updated in place inside the aggregate context (the float8_accum pattern of core
 * PostgreSQL). Partial states add up element by element, so one combine function serves all
 * of them, and a float8[] state needs no serialize/deserialize: the aggregates are PARALLEL
 * SAFE and split by Citus as well (the state type is not internal). The transition
 * functions are STRICT: a row with a NULL argument is left out, the documented rule for
 * missing actuals or forecasts. A NaN or infinite value is an error naming the argument,
 * since it would silently poison every figure of the group.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "core/agg_state.h"
#include "core/arrays.h"

/* Length of each aggregate's state: n plus its sums. */
#define ACC_MAX_STATE 4

/* Largest count a float8 holds exactly: beyond it n + 1 == n. */
#define ACC_MAX_COUNT 9007199254740992.0

/*
 * What each state's sums must satisfy. A state can come from anywhere (a direct call, or a
 * user's own CREATE AGGREGATE over these functions with any INITCOND), so every value is
 * checked before it is used: a NaN, a negative or fractional count, a negative sum of
 * absolute values or a share above 1 would otherwise come out as a plausible-looking figure.
 * Sums may be +Infinity (an honest overflow of huge values), never NaN.
 */
typedef enum AccKind
{
	ACC_ANY,					/* combine: n a count, no NaN (the final checks the rest) */
	ACC_ABS,					/* wape, rmse, mase, rmsse: every sum >= 0 */
	ACC_MAPE,					/* sum >= 0, then a count of skipped zero actuals */
	ACC_SMAPE,					/* 0 <= sum <= 2 n */
	ACC_SIGNED,					/* bias: any finite-or-infinite sum */
	ACC_SHARE					/* coverage: a count of hits <= n */
} AccKind;

static bool
acc_is_count(double v)
{
	return v >= 0 && v <= ACC_MAX_COUNT && v == floor(v);
}

/* Forged states are data corruption (XX001), as for every state any role can build. */
#define acc_invalid(detail_fmt, v) riq_state_corrupt("accuracy aggregate", detail_fmt, v)

/* A state array must be a float8[] of len non-NULL elements (it can come from SQL directly). */
static void
acc_check(ArrayType *a, int len)
{
	Assert(len >= 2 && len <= ACC_MAX_STATE);
	(void) riq_state_array(a, "accuracy aggregate", len);
}

/* The values of a state of the given kind (after acc_check). */
static void
acc_check_values(const double *s, int len, AccKind kind)
{
	int			i;

	if (!acc_is_count(s[0]))
		acc_invalid("Its row count is %g, not a whole number of rows.", s[0]);
	for (i = 1; i < len; i++)
		if (isnan(s[i]))
			acc_invalid("Element %g of the state is NaN.", (double) (i + 1));
	switch (kind)
	{
		case ACC_ANY:
		case ACC_SIGNED:
			break;
		case ACC_ABS:
			for (i = 1; i < len; i++)
				if (s[i] < 0)
					acc_invalid("A sum of absolute or squared errors is %g, below 0.", s[i]);
			break;
		case ACC_MAPE:
			if (s[1] < 0)
				acc_invalid("The sum of percentage errors is %g, below 0.", s[1]);
			if (!acc_is_count(s[2]))
				acc_invalid("The count of zero actuals is %g, not a whole number.", s[2]);
			break;
		case ACC_SMAPE:
			if (!(s[1] >= 0 && s[1] <= 2 * s[0]))
				acc_invalid("The sMAPE sum is %g, outside 0 to twice the row count.", s[1]);
			break;
		case ACC_SHARE:
			if (!(acc_is_count(s[1]) && s[1] <= s[0]))
				acc_invalid("The count of covered rows is %g, not a count up to the row count.", s[1]);
			break;
	}
}

/*
 * The state array of argument argno, checked, as a writable pointer: updated in place
 * inside an aggregate, otherwise on a copy, so a direct call never changes its argument.
 */
static double *
acc_state(FunctionCallInfo fcinfo, int argno, int len, AccKind kind, ArrayType **out)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);

	acc_check(a, len);
	acc_check_values((const double *) ARR_DATA_PTR(a), len, kind);
	if (!AggCheckCallContext(fcinfo, NULL))
		a = DatumGetArrayTypePCopy(PG_GETARG_DATUM(argno));
	*out = a;
	return (double *) ARR_DATA_PTR(a);
}

/* Argument argno as a finite float8; NaN and infinities are refused by name. */
static double
acc_finite(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	double		v = PG_GETARG_FLOAT8(argno);

	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", argname),
				 errdetail("%s is %s.", argname, isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity")),
				 errhint("Pass NULL for a missing value: rows with a NULL argument are left out.")));
	return v;
}

/* The scale of mase/rmsse: finite and positive. */
static double
acc_scale(FunctionCallInfo fcinfo, int argno)
{
	double		s = acc_finite(fcinfo, argno, "scale");

	if (!(s > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scale must be positive"),
				 errdetail("scale is %g.", s),
				 errhint("A series whose seasonal-naive forecast is exact in sample has scale 0: "
						 "leave it out of scaled metrics, or measure it with wape.")));
	return s;
}

PG_FUNCTION_INFO_V1(accuracy_wape_accum);
Datum
accuracy_wape_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 3, ACC_ABS, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		f = acc_finite(fcinfo, 2, "forecast");

	s[0] += 1;
	s[1] += fabs(a - f);
	s[2] += fabs(a);
	PG_RETURN_ARRAYTYPE_P(st);
}

/* MAPE leaves out rows whose actual is 0 (their percentage error is undefined) and counts them. */
PG_FUNCTION_INFO_V1(accuracy_mape_accum);
Datum
accuracy_mape_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 3, ACC_MAPE, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		f = acc_finite(fcinfo, 2, "forecast");

	if (a == 0)
		s[2] += 1;
	else
	{
		s[0] += 1;
		s[1] += fabs(a - f) / fabs(a);
	}
	PG_RETURN_ARRAYTYPE_P(st);
}

/* sMAPE term 2|a - f| / (|a| + |f|), in [0, 2]; 0 when actual and forecast are both 0. */
PG_FUNCTION_INFO_V1(accuracy_smape_accum);
Datum
accuracy_smape_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 2, ACC_SMAPE, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		f = acc_finite(fcinfo, 2, "forecast");
	double		d = fabs(a) + fabs(f);

	s[0] += 1;
	if (d > 0)
		s[1] += 2.0 * fabs(a - f) / d;
	PG_RETURN_ARRAYTYPE_P(st);
}

/* Bias: the mean of forecast - actual (positive: over-forecast). */
PG_FUNCTION_INFO_V1(accuracy_bias_accum);
Datum
accuracy_bias_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 2, ACC_SIGNED, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		f = acc_finite(fcinfo, 2, "forecast");

	s[0] += 1;
	s[1] += f - a;
	PG_RETURN_ARRAYTYPE_P(st);
}

PG_FUNCTION_INFO_V1(accuracy_rmse_accum);
Datum
accuracy_rmse_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 2, ACC_ABS, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		f = acc_finite(fcinfo, 2, "forecast");

	s[0] += 1;
	s[1] += (a - f) * (a - f);
	PG_RETURN_ARRAYTYPE_P(st);
}

/* MASE: mean of |a - f| / scale, scale the in-sample seasonal-naive MAE of the series. */
PG_FUNCTION_INFO_V1(accuracy_mase_accum);
Datum
accuracy_mase_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 2, ACC_ABS, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		f = acc_finite(fcinfo, 2, "forecast");
	double		sc = acc_scale(fcinfo, 3);

	s[0] += 1;
	s[1] += fabs(a - f) / sc;
	PG_RETURN_ARRAYTYPE_P(st);
}

/* RMSSE: sqrt of the mean of (a - f)^2 / scale, scale the in-sample naive mean squared error. */
PG_FUNCTION_INFO_V1(accuracy_rmsse_accum);
Datum
accuracy_rmsse_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 2, ACC_ABS, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		f = acc_finite(fcinfo, 2, "forecast");
	double		sc = acc_scale(fcinfo, 3);

	s[0] += 1;
	s[1] += (a - f) * (a - f) / sc;
	PG_RETURN_ARRAYTYPE_P(st);
}

/* Coverage: the share of rows with lower <= actual <= upper. */
PG_FUNCTION_INFO_V1(accuracy_coverage_accum);
Datum
accuracy_coverage_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 2, ACC_SHARE, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		lo = acc_finite(fcinfo, 2, "lower");
	double		hi = acc_finite(fcinfo, 3, "upper");

	if (lo > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lower must not exceed upper"),
				 errdetail("lower is %g, upper is %g.", lo, hi),
				 errhint("Pass the interval bounds in order: coverage(actual, lower, upper).")));
	s[0] += 1;
	if (a >= lo && a <= hi)
		s[1] += 1;
	PG_RETURN_ARRAYTYPE_P(st);
}

/*
 * Quantile (pinball) loss of a forecast of the q-quantile: q (a - f) when the actual is above
 * it, (1 - q) (f - a) when below; its mean is the loss M5 scored quantile forecasts with,
 * and the one a forecast of the q-quantile minimises (a bound of an interval, an
 * order-up-to level).
 */
PG_FUNCTION_INFO_V1(accuracy_quantile_loss_accum);
Datum
accuracy_quantile_loss_accum(PG_FUNCTION_ARGS)
{
	ArrayType  *st;
	double	   *s = acc_state(fcinfo, 0, 2, ACC_ABS, &st);
	double		a = acc_finite(fcinfo, 1, "actual");
	double		f = acc_finite(fcinfo, 2, "forecast");
	double		q = acc_finite(fcinfo, 3, "quantile");

	if (!(q > 0 && q < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantile must be between 0 and 1"),
				 errdetail("quantile is %g.", q),
				 errhint("Pass the probability the forecast is a quantile of, e.g. 0.9 for the upper bound of an 80%% interval.")));
	s[0] += 1;
	s[1] += a >= f ? q * (a - f) : (1 - q) * (f - a);
	PG_RETURN_ARRAYTYPE_P(st);
}

/* Partial states of any of the aggregates above add up element by element. */
PG_FUNCTION_INFO_V1(accuracy_combine);
Datum
accuracy_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			len = (ARR_NDIM(b) == 1) ? ARR_DIMS(b)[0] : 0;
	ArrayType  *st;
	double	   *s1;
	const double *s2;
	int			i;

	acc_check(b, len);
	acc_check_values((const double *) ARR_DATA_PTR(b), len, ACC_ANY);
	s1 = acc_state(fcinfo, 0, len, ACC_ANY, &st);
	s2 = (const double *) ARR_DATA_PTR(b);
	for (i = 0; i < len; i++)
		s1[i] += s2[i];
	PG_RETURN_ARRAYTYPE_P(st);
}

/* Read-only view of a final function's state: n and the sums. */
static const double *
acc_final_state(FunctionCallInfo fcinfo, int len, AccKind kind)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);

	acc_check(a, len);
	acc_check_values((const double *) ARR_DATA_PTR(a), len, kind);
	return (const double *) ARR_DATA_PTR(a);
}

/* WAPE = sum |a - f| / sum |a|; NULL when no rows or every actual is 0. */
PG_FUNCTION_INFO_V1(accuracy_wape_final);
Datum
accuracy_wape_final(PG_FUNCTION_ARGS)
{
	const double *s = acc_final_state(fcinfo, 3, ACC_ABS);

	if (s[0] == 0 || s[2] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[1] / s[2]);
}

/* The mean of the second element (mape, smape, bias, mase, coverage, quantile_loss); NULL when empty. */
PG_FUNCTION_INFO_V1(accuracy_mean_final);
Datum
accuracy_mean_final(PG_FUNCTION_ARGS)
{
	int			len = 2;
	const double *s;
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);

	if (ARR_NDIM(a) == 1 && ARR_DIMS(a)[0] == 3)
		len = 3;				/* mape keeps a count of skipped zero actuals */
	/* shared by several aggregates: only what all of them satisfy (mape's count besides) */
	s = acc_final_state(fcinfo, len, len == 3 ? ACC_MAPE : ACC_SIGNED);
	if (s[0] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s[1] / s[0]);
}

/* sqrt of the mean of the second element (rmse, rmsse); NULL when empty. */
PG_FUNCTION_INFO_V1(accuracy_root_mean_final);
Datum
accuracy_root_mean_final(PG_FUNCTION_ARGS)
{
	const double *s = acc_final_state(fcinfo, 2, ACC_ABS);

	if (s[0] == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sqrt(s[1] / s[0]));
}

/*
 * naive_scale(y, season, squared): the in-sample error of the seasonal naive forecast
 * y[t] ~ y[t - season], averaged over t = season .. n-1: the mean absolute error (the
 * MASE denominator of Hyndman & Koehler 2006), or with squared the mean squared error (the
 * RMSSE denominator of the M5 competition). season 1 is the plain naive forecast.
 */
PG_FUNCTION_INFO_V1(accuracy_naive_scale);
Datum
accuracy_naive_scale(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	int32		season = PG_GETARG_INT32(1);
	bool		squared = PG_GETARG_BOOL(2);
	int			n;
	double	   *y;
	double		sum = 0;
	int			t;

	if (season < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("season must be at least 1"),
				 errdetail("season is %d.", season),
				 errhint("Pass 1 for the plain naive forecast, 7 for daily data with a weekly cycle, 12 for monthly data.")));
	if (ARR_NDIM(arr) == 0)
		n = 0, y = NULL;
	else
		y = riq_float8_array(arr, "y", &n, false);
	if (n <= season)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("y must have more values than season"),
				 errdetail("y has %d values, season is %d.", n, season),
				 errhint("Pass the series' whole training history, oldest first.")));
	for (t = season; t < n; t++)
	{
		double		d = y[t] - y[t - season];

		sum += squared ? d * d : fabs(d);
		if ((t & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_FLOAT8(sum / (n - season));
}

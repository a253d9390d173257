/*
 * methods.c: the forecasting method registry (method_list.h) and what is done through it
 * alone: the one dispatch of retailiq.forecast and retailiq.forecast_all by the model's
 * kind (no dynamic SQL), the set-returning function behind the view
 * retailiq.forecast_methods, and the horizon check every forecasting function shares.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "forecast/method.h"

#define FORECAST_METHOD(m) extern const ForecastMethod m;
#include "forecast/method_list.h"
#undef FORECAST_METHOD

static const ForecastMethod *const registry[] = {
#define FORECAST_METHOD(m) &m,
#include "forecast/method_list.h"
#undef FORECAST_METHOD
};

#define NMETHODS ((int) lengthof(registry))

StaticAssertDecl(lengthof(registry) <= FORECAST_MAX_METHODS,
				 "raise FORECAST_MAX_METHODS for more methods");

PG_FUNCTION_INFO_V1(forecast_dispatch);
PG_FUNCTION_INFO_V1(forecast_dispatch_all);
PG_FUNCTION_INFO_V1(forecast_methods);
PG_FUNCTION_INFO_V1(forecast_series);

int
forecast_method_count(void)
{
	return NMETHODS;
}

const ForecastMethod *
forecast_method_at(int i)
{
	Assert(i >= 0 && i < NMETHODS);
	return registry[i];
}

int
forecast_method_index(const ForecastMethod *m)
{
	int			i;

	for (i = 0; i < NMETHODS; i++)
		if (registry[i] == m)
			return i;
	elog(ERROR, "forecasting method %s is not registered", m->name);
	return -1;
}

const ForecastMethod *
forecast_method_by_name(const char *name)
{
	int			i;

	for (i = 0; i < NMETHODS; i++)
		if (registry[i]->requestable && strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

const ForecastMethod *
forecast_method_by_code(int code)
{
	int			i;

	for (i = 0; code > 0 && i < NMETHODS; i++)
		if (registry[i]->code == code)
			return registry[i];
	return NULL;
}

const ForecastMethod *
forecast_method_by_kind(ModelKind kind)
{
	int			i;

	for (i = 0; i < NMETHODS; i++)
		if (registry[i]->kind == kind && registry[i]->predict != NULL)
			return registry[i];
	return NULL;
}

int
forecast_method_records(const ForecastMethod *m)
{
	return Max(m->records, 1);
}

int
forecast_fit_records(const ForecastOptions *o, int m)
{
	int			r = forecast_method_records(o->method);

	if (o->method->records_for != NULL)
		r = Max(r, o->method->records_for(m, o));
	Assert(r <= FORECAST_MAX_RECORDS);
	return r;
}

int
forecast_method_min_records(const ForecastMethod *m)
{
	return m->min_records > 0 ? Min(m->min_records, forecast_method_records(m)) :
		forecast_method_records(m);
}

const void *
forecast_method_options(const ForecastOptions *o, const ForecastMethod *m)
{
	return o->per[forecast_method_index(m)].bytes;
}

void
forecast_check_horizon(int64 horizon)
{
	if (horizon < 1 || horizon > FORECAST_MAX_HORIZON)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("horizon must be between 1 and %d", FORECAST_MAX_HORIZON),
				 errdetail("It is " INT64_FORMAT ".", horizon),
				 errhint("Ask for at least one period ahead, and at most %d.", FORECAST_MAX_HORIZON)));
}

void
forecast_finish_panel(SeriesFit *fits, int ns, int nrec, const ForecastOptions *o)
{
	for (int i = 0; i < forecast_method_count(); i++)
	{
		const ForecastMethod *m = forecast_method_at(i);

		if (m->finish_panel)
			m->finish_panel(fits, ns, nrec, o);
	}
}

void
fit_forecast(const SeriesFit *fit, int h, double level, bool nonneg, RiqRng *rng,
			 double *yhat, double *lo, double *hi)
{
	const ForecastMethod *m = forecast_method_by_code(fit->method);
	int			i;

	if (m == NULL || m->forecast == NULL)
		elog(ERROR, "unknown forecast method %d", fit->method);
	m->forecast(fit, h, level, rng, yhat, lo, hi);
	if (nonneg)
		for (i = 0; i < h; i++)
		{
			yhat[i] = Max(yhat[i], 0);
			lo[i] = Max(lo[i], 0);
			hi[i] = Max(hi[i], 0);
		}
}

double *
forecast_future_exog(FunctionCallInfo fcinfo, int argno, int n_exog, int nseries, int horizon,
					 bool all, const char *trainer)
{
	int			E = n_exog;
	int			ndim = all ? 3 : 2;
	int			expect[3];
	ArrayType  *a;
	double	   *v;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
	{
		if (E > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("future_exog must be given: the model was trained with %d factors", E),
					 errhint("Pass the factors planned for the forecast periods as a %s array, in the order of the training exog.",
							 all ? "series x horizon x factors (series in retailiq.forecast_series(model) order)" : "horizon x factors")));
		return NULL;
	}
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (E == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("future_exog must be NULL: the model was trained without factors"),
				 errhint("Train with the exog argument of %s to use factors.", trainer)));
	expect[0] = all ? nseries : horizon;
	expect[1] = all ? horizon : E;
	expect[2] = E;
	if (ARR_ELEMTYPE(a) != FLOAT8OID || ARR_NDIM(a) != ndim ||
		memcmp(ARR_DIMS(a), expect, sizeof(int) * ndim) != 0)
	{
		if (all)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("future_exog must be a %d x %d x %d array (series x horizon x factors)",
							nseries, horizon, E),
					 errhint("Give one row of %d factors per forecast period, one block per series in retailiq.forecast_series(model) order.", E)));
		else
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("future_exog must be a %d x %d array (horizon x factors)", horizon, E),
					 errhint("Give one row of %d factors per forecast period, e.g. ARRAY[[...], [...]] with %d rows.",
							 E, horizon)));
	}
	if (ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("future_exog must not contain NULLs"),
				 errhint("Give every factor of every forecast period, e.g. 0 for no promotion.")));
	v = (double *) ARR_DATA_PTR(a);
	for (Size i = 0; i < (Size) (all ? nseries : 1) * horizon * E; i++)
		if (!isfinite(v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("future_exog must contain finite numbers only"),
					 errhint("Replace NaN and infinite factors with the values planned.")));
	return v;
}

/* ---------- the dispatch ---------- */

static Datum
dispatch(FunctionCallInfo fcinfo, bool all)
{
	int			hpos = all ? 1 : 2;
	ModelView  *mv;
	const ForecastMethod *m;

	if (PG_ARGISNULL(0) || (!all && PG_ARGISNULL(1)) || PG_ARGISNULL(hpos))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL",
						PG_ARGISNULL(0) ? "model" : (!all && PG_ARGISNULL(1)) ? "series" : "horizon")));
	forecast_check_horizon(PG_GETARG_INT32(hpos));
	mv = model_open_cached(fcinfo, 0, MODEL_KIND_ANY);
	m = forecast_method_by_kind(mv->kind);
	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model is not a forecasting model"),
				 errhint("Train one with retailiq.forecast_fit or retailiq.forecast_lstm_fit.")));
	return m->predict(fcinfo, all);
}

/*
 * forecast_series(model): the series keys every forecasting model keeps (its "series" array,
 * in the model's order), whatever its method; the order future_exog's blocks follow.
 */
/* the rows of a series-listing function: one text column "series", keys in order */
Datum
forecast_emit_keys(FunctionCallInfo fcinfo, char *const *keys, int n)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	desc;
	MemoryContext old;
	int			i;

	if (rsi == NULL || !IsA(rsi, ReturnSetInfo) || !(rsi->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsi->econtext->ecxt_per_query_memory);
	desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(desc, (AttrNumber) 1, "series", TEXTOID, -1, 0);
	rsi->returnMode = SFRM_Materialize;
	rsi->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsi->setDesc = desc;
	MemoryContextSwitchTo(old);
	for (i = 0; i < n; i++)
	{
		Datum		v = CStringGetTextDatum(keys[i]);
		bool		isnull = false;

		tuplestore_putvalues(rsi->setResult, rsi->setDesc, &v, &isnull);
	}
	PG_RETURN_NULL();
}

Datum
forecast_series(PG_FUNCTION_ARGS)
{
	ModelView  *mv = model_open_cached(fcinfo, 0, MODEL_KIND_ANY);
	char	  **keys;
	int			n;

	if (forecast_method_by_kind(mv->kind) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model is not a forecasting model"),
				 errhint("Train one with the trainer of a method in retailiq.forecast_methods.")));
	keys = model_get_text_array(mv, MODEL_DATA, "series", &n);
	return forecast_emit_keys(fcinfo, keys, n);
}

/* forecast(model, series, horizon, future_exog) */
Datum
forecast_dispatch(PG_FUNCTION_ARGS)
{
	return dispatch(fcinfo, false);
}

/* forecast_all(model, horizon, future_exog) */
Datum
forecast_dispatch_all(PG_FUNCTION_ARGS)
{
	return dispatch(fcinfo, true);
}

/* ---------- the view ---------- */

/* forecast_methods() -> (name, scope, factors, intermittent, trainer, options, description) */
Datum
forecast_methods(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < NMETHODS; i++)
	{
		const ForecastMethod *m = registry[i];
		Datum		values[8];
		bool		nulls[8] = {0};
		Datum	   *keys;
		int			nk = 0;

		if (!m->requestable)
			continue;
		while (m->option_keys != NULL && m->option_keys[nk] != NULL)
			nk++;
		keys = palloc(sizeof(Datum) * Max(nk, 1));
		for (int k = 0; k < nk; k++)
			keys[k] = CStringGetTextDatum(m->option_keys[k]);
		values[0] = CStringGetTextDatum(m->name);
		values[1] = CStringGetTextDatum(m->scope == METHOD_LOCAL ? "local" : "global");
		values[2] = BoolGetDatum(m->factors);
		values[3] = BoolGetDatum(m->intermittent);
		values[4] = CStringGetTextDatum(m->trainer);
		values[5] = PointerGetDatum(construct_array(keys, nk, TEXTOID, -1, false, TYPALIGN_INT));
		values[6] = CStringGetTextDatum(m->description);
		if (m->with_factors)
			values[7] = CStringGetTextDatum(m->with_factors);
		else
			nulls[7] = true;
		tuplestore_putvalues(rsi->setResult, rsi->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

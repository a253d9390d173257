/*
 * lstm_predict.c: forecasting with a forecast_lstm model: forecast_lstm (one series),
 * forecast_lstm_all (every series), forecast_lstm_series (which series it knows), and the
 * LSTM's entry in the forecasting method table.
 *
 * Horizons longer than the trained one are forecast recursively: the medians of the first
 * block become the inputs of the next.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "core/memory.h"
#include "core/model.h"
#include "forecast/lstm_model.h"
#include "forecast/lstm_options.h"
#include "forecast/lstm_train.h"
#include "forecast/method.h"
#include "forecast/series.h"

PG_FUNCTION_INFO_V1(forecast_lstm);
PG_FUNCTION_INFO_V1(forecast_lstm_all);
PG_FUNCTION_INFO_V1(forecast_lstm_series);

/*
 * Forecast the series which[0..ns) over h periods; fex is ns x h x E (or NULL).
 * yhat/lo/hi are ns x h.
 */
static void
lstm_forecast_many(const LstmModel *m, int ns, const int *which, int h, const double *fex,
				   double *yhat, double *lo, double *hi)
{
	const LstmTrained *t = &m->net;
	const LstmLayout *L = &t->layout;
	int			W = L->window,
				P = L->horizon,
				E = L->n_exog;
	int			len = W + h;
	int			maxb = Min(ns, 256);
	LstmWork   *w;
	double	   *ybuf,
			   *ebuf = NULL,
			   *x,
			   *f,
			   *scale,
			   *med,
			   *ql,
			   *qh;
	double	   *basefc = NULL;
	DateADT    *start;

	riq_memory_check(CurrentMemoryContext,
					 riq_mul_size(riq_mul_size(ns, (Size) len * (1 + E) + h + P + 4, "the forecast"),
								  sizeof(double), "the forecast"), "the forecast");
	w = lstm_work_alloc(&t->shape, maxb, CurrentMemoryContext);
	ybuf = palloc(sizeof(double) * (Size) ns * len);
	if (E > 0)
		ebuf = palloc(sizeof(double) * (Size) ns * len * E);
	start = palloc(sizeof(DateADT) * ns);
	for (int i = 0; i < ns; i++)
	{
		int			s = which[i];

		memcpy(ybuf + (Size) i * len, m->tail + (Size) s * W, sizeof(double) * W);
		if (E > 0)
		{
			memcpy(ebuf + (Size) i * len * E, m->tail_exog + (Size) s * W * E,
				   sizeof(double) * W * E);
			memcpy(ebuf + ((Size) i * len + W) * E, fex + (Size) i * h * E,
				   sizeof(double) * h * E);
		}
		start[i] = series_date_add(L->freq, (DateADT) m->last[s], -(W - 1));
	}
	if (m->base)
	{
		/* the base forecasts every block needs, all from the last period */
		basefc = palloc(sizeof(double) * (Size) ns * (h + P));
		for (int i = 0; i < ns; i++)
			ets_point(&m->base[which[i]], h + P, basefc + (Size) i * (h + P));
	}
	/* sized by the model's shape, which a hand-written model chooses: the budget decides */
	x = riq_alloc(CurrentMemoryContext,
				  riq_mul_size(riq_mul_size((Size) maxb * W, L->din, "the forecast inputs"),
							   sizeof(double), "the forecast inputs"), "the forecast inputs");
	f = riq_alloc(CurrentMemoryContext,
				  riq_mul_size(riq_mul_size((Size) maxb * P, L->fdim + LSTM_NQ, "the forecast inputs"),
							   sizeof(double), "the forecast inputs"), "the forecast inputs");
	scale = palloc(sizeof(double) * maxb);
	med = palloc(sizeof(double) * maxb * P);
	ql = palloc(sizeof(double) * maxb * P);
	qh = palloc(sizeof(double) * maxb * P);

	for (int pos = 0; pos < h; pos += P)
	{
		for (int b0 = 0; b0 < ns; b0 += maxb)
		{
			int			bn = Min(maxb, ns - b0);

			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < bn; i++)
			{
				int			si = b0 + i;

				scale[i] = lstm_build_sample(L, ybuf + (Size) si * len,
											 E > 0 ? ebuf + (Size) si * len * E : NULL,
											 len, start[si], W - 1 + pos,
											 basefc ? basefc + (Size) si * (h + P) + pos : NULL,
											 x + (Size) i * W * L->din, f + (Size) i * P * L->fdim);
			}
			lstm_predict_scaled(t, w, bn, x, f, med, ql, qh);
			for (int i = 0; i < bn; i++)
			{
				int			si = b0 + i;

				for (int k = 0; k < P && pos + k < h; k++)
				{
					Size		at = (Size) si * h + pos + k;
					double		s = scale[i];
					double		md = lstm_from_space(L, med[i * P + k]) * s,
								l = lstm_from_space(L, ql[i * P + k]) * s,
								u = lstm_from_space(L, qh[i * P + k]) * s;

					/*
					 * Past the trained horizon each block's interval is conditional on
					 * the medians before it: widen it as if the blocks' errors added up
					 * independently (half-widths times the square root of the block).
					 */
					if (pos > 0)
					{
						double		grow = sqrt((double) (pos / P + 1));

						l = md - (md - l) * grow;
						u = md + (u - md) * grow;
					}
					if (m->nonnegative)
					{
						md = Max(md, 0.0);
						l = Max(l, 0.0);
						u = Max(u, 0.0);
					}
					yhat[at] = md;
					lo[at] = Min(l, md);
					hi[at] = Max(u, md);
					/* the median is the input of the next block */
					ybuf[(Size) si * len + W + pos + k] = md;
				}
			}
		}
	}
}

Datum
forecast_lstm(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LstmModel  *m;
	char	   *key;
	int32		horizon;
	int			s;
	double	   *fex,
			   *yhat,
			   *lo,
			   *hi;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL",
						PG_ARGISNULL(0) ? "model" : PG_ARGISNULL(1) ? "series" : "horizon")));
	horizon = PG_GETARG_INT32(2);
	forecast_check_horizon(horizon);
	m = lstm_model_load(fcinfo);
	key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	s = series_key_index(m->keys, m->nseries, key);
	if (s < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" is not in the model", key),
				 errhint("retailiq.forecast_lstm_series(model) lists the series the model was trained on.")));
	fex = forecast_future_exog(fcinfo, 3, m->net.layout.n_exog, 1, horizon, false,
							   "retailiq.forecast_lstm_fit");
	yhat = palloc(sizeof(double) * horizon);
	lo = palloc(sizeof(double) * horizon);
	hi = palloc(sizeof(double) * horizon);
	lstm_forecast_many(m, 1, &s, horizon, fex, yhat, lo, hi);

	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; k < horizon; k++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(k + 1);
		values[1] = DateADTGetDatum(series_date_add(m->net.layout.freq, (DateADT) m->last[s], k + 1));
		values[2] = Float8GetDatum(yhat[k]);
		values[3] = Float8GetDatum(lo[k]);
		values[4] = Float8GetDatum(hi[k]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

Datum
forecast_lstm_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LstmModel  *m;
	int32		horizon;
	int		   *which;
	double	   *fex,
			   *yhat,
			   *lo,
			   *hi;
	int			ns;
	Size		cells;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "model" : "horizon")));
	horizon = PG_GETARG_INT32(1);
	forecast_check_horizon(horizon);
	m = lstm_model_load(fcinfo);
	ns = m->nseries;
	fex = forecast_future_exog(fcinfo, 2, m->net.layout.n_exog, ns, horizon, true,
							   "retailiq.forecast_lstm_fit");
	cells = riq_mul_size(ns, horizon, "the forecast");
	riq_memory_check(CurrentMemoryContext, riq_mul_size(cells, 3 * sizeof(double), "the forecast"),
					 "the forecast");
	which = palloc(sizeof(int) * ns);
	for (int i = 0; i < ns; i++)
		which[i] = i;
	yhat = MemoryContextAllocHuge(CurrentMemoryContext, cells * sizeof(double));
	lo = MemoryContextAllocHuge(CurrentMemoryContext, cells * sizeof(double));
	hi = MemoryContextAllocHuge(CurrentMemoryContext, cells * sizeof(double));
	lstm_forecast_many(m, ns, which, horizon, fex, yhat, lo, hi);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < ns; i++)
	{
		Datum		key = CStringGetTextDatum(m->keys[i]);

		for (int k = 0; k < horizon; k++)
		{
			Datum		values[6];
			bool		nulls[6] = {false, false, false, false, false, false};
			Size		at = (Size) i * horizon + k;

			values[0] = key;
			values[1] = Int32GetDatum(k + 1);
			values[2] = DateADTGetDatum(series_date_add(m->net.layout.freq, (DateADT) m->last[i], k + 1));
			values[3] = Float8GetDatum(yhat[at]);
			values[4] = Float8GetDatum(lo[at]);
			values[5] = Float8GetDatum(hi[at]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_RETURN_NULL();
}

Datum
forecast_lstm_series(PG_FUNCTION_ARGS)
{
	ModelView  *mv = model_open_cached(fcinfo, 0, MODEL_KIND_LSTM);
	int			n;
	char	  **keys = model_get_text_array(mv, MODEL_DATA, "series", &n);

	return forecast_emit_keys(fcinfo, keys, n);
}

/* ---------------------------------------------------------------- method table */

static Datum
lstm_predict(FunctionCallInfo fcinfo, bool all)
{
	return all ? forecast_lstm_all(fcinfo) : forecast_lstm(fcinfo);
}

const ForecastMethod lstm_method = {
	.name = "lstm",
	.kind = MODEL_KIND_LSTM,
	.scope = METHOD_GLOBAL,
	.factors = true,
	.intermittent = false,
	.requestable = true,
	.trainer = "forecast_lstm_fit",
	.description = "one LSTM over every series of the panel on an ETS base, with factors and calibrated intervals",
	.option_keys = lstm_option_keys,
	.predict = lstm_predict,
};

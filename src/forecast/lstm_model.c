/*
 * lstm_model.c: the forecast_lstm model value (kind lstm). Besides the network weights it
 * keeps the last `window` values (and factors) of every series and, with the ETS base,
 * each series' base at its final state, so that predicting needs nothing but the model
 * and the future factors. Reading checks every field against the others: a value that
 * does not hold together is XX001.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "core/model.h"
#include "forecast/lstm_model.h"
#include "forecast/method.h"

/*
 * The ETS base of each series is stored at its final state as one row: trend, season,
 * phi (1 when not damped), level, slope, then the season's states (s[0] the latest).
 */
#define BASE_FIXED 5

static int
base_state_width(int season)
{
	return season >= 2 && season <= ETS_MAX_SEASON ? season : 1;
}

void
lstm_model_put(ModelBuilder *b, const LstmTrained *t, const LstmConfig *cfg,
			   const ForecastPanel *panel)
{
	const LstmLayout *L = &t->layout;
	int			W = L->window,
				E = L->n_exog,
				ns = panel->nseries;
	int			dims[2];
	const char **keys = palloc(sizeof(char *) * ns);
	int64	   *last = palloc(sizeof(int64) * ns);
	int64	   *len = palloc(sizeof(int64) * ns);
	double	   *tail = palloc(sizeof(double) * (Size) ns * W);
	double	   *tex = E > 0 ? palloc(sizeof(double) * (Size) ns * W * E) : NULL;

	model_put_text(b, MODEL_PARAMS, "freq", series_freq_name(L->freq));
	model_put_int(b, MODEL_PARAMS, "season", L->season);
	model_put_int(b, MODEL_PARAMS, "window", W);
	model_put_int(b, MODEL_PARAMS, "horizon", L->horizon);
	model_put_int(b, MODEL_PARAMS, "n_exog", E);
	model_put_int(b, MODEL_PARAMS, "hidden", t->shape.hidden);
	model_put_int(b, MODEL_PARAMS, "layers", t->shape.layers);
	model_put_int(b, MODEL_PARAMS, "ensemble", t->nmodels);
	model_put_int(b, MODEL_PARAMS, "seed", cfg->seed);
	model_put_float(b, MODEL_PARAMS, "learning_rate", cfg->learning_rate);
	model_put_int(b, MODEL_PARAMS, "max_epochs", cfg->max_epochs);
	model_put_int(b, MODEL_PARAMS, "validation", cfg->validation);
	model_put_int(b, MODEL_PARAMS, "batch_size", cfg->batch_size);
	model_put_int(b, MODEL_PARAMS, "windows_per_epoch", cfg->windows_per_epoch);
	model_put_int(b, MODEL_PARAMS, "patience", cfg->patience);
	model_put_int(b, MODEL_PARAMS, "validation_series", cfg->validation_series);
	model_put_bool(b, MODEL_PARAMS, "refit", cfg->refit);
	model_put_bool(b, MODEL_PARAMS, "nonnegative", cfg->nonnegative);
	model_put_text(b, MODEL_PARAMS, "transform", t->layout.log_space ? "log" : "none");
	model_put_text(b, MODEL_PARAMS, "weighting", cfg->scale_weight ? "scale" : "equal");
	model_put_text(b, MODEL_PARAMS, "base", cfg->ets_base ? "ets" : "none");
	model_put_float(b, MODEL_PARAMS, "q_lo", t->q_lo);
	model_put_float(b, MODEL_PARAMS, "q_hi", t->q_hi);

	model_put_int(b, MODEL_METRICS, "series", ns);
	model_put_int(b, MODEL_METRICS, "epochs", t->epochs);
	if (!isnan(t->val_wape))
		model_put_float(b, MODEL_METRICS, "validation_wape", t->val_wape);
	if (!isnan(t->val_wape_base))
		model_put_float(b, MODEL_METRICS, "validation_wape_base", t->val_wape_base);
	if (!isnan(t->val_wape_net))
		model_put_float(b, MODEL_METRICS, "validation_wape_network", t->val_wape_net);
	if (!isnan(t->val_coverage))
		model_put_float(b, MODEL_METRICS, "validation_coverage", t->val_coverage);
	/* no training time here: the same rows and seed must give the same value */

	model_put_float(b, MODEL_DATA, "ls_mean", L->ls_mean);
	model_put_float(b, MODEL_DATA, "ls_sd", L->ls_sd);
	model_put_float(b, MODEL_DATA, "calib_lo", t->calib_lo);
	model_put_float(b, MODEL_DATA, "calib_hi", t->calib_hi);
	model_put_float(b, MODEL_DATA, "shrink", t->shrink);
	dims[0] = t->nmodels;
	dims[1] = t->nparams;
	model_put_float_array(b, MODEL_DATA, "weights", t->params, 2, dims);
	for (int i = 0; i < ns; i++)
	{
		const ForecastSeries *sr = &panel->series[i];

		keys[i] = sr->key;
		last[i] = series_date_add(L->freq, sr->start, sr->n - 1);
		len[i] = sr->n;
		memcpy(tail + (Size) i * W, sr->y + sr->n - W, sizeof(double) * W);
		if (E > 0)
			memcpy(tex + (Size) i * W * E, sr->exog + (Size) (sr->n - W) * E,
				   sizeof(double) * W * E);
	}
	model_put_text_array(b, MODEL_DATA, "series", keys, ns);
	dims[0] = ns;
	model_put_int_array(b, MODEL_DATA, "last_date", last, 1, dims);
	model_put_int_array(b, MODEL_DATA, "length", len, 1, dims);
	dims[1] = W;
	model_put_float_array(b, MODEL_DATA, "tail", tail, 2, dims);
	if (E > 0)
	{
		dims[1] = W * E;
		model_put_float_array(b, MODEL_DATA, "tail_exog", tex, 2, dims);
	}
	if (t->base)
	{
		int			M = base_state_width(L->season);
		double	   *st = palloc0(sizeof(double) * (Size) ns * (BASE_FIXED + M));

		for (int i = 0; i < ns; i++)
		{
			const SeriesFit *f = &t->base[i];
			double	   *row = st + (Size) i * (BASE_FIXED + M);

			row[0] = f->trend;
			row[1] = f->season;
			row[2] = f->damped ? f->phi : 1.0;
			row[3] = f->level;
			row[4] = f->slope;
			for (int k = 0; k < M && f->season != ETS_NONE; k++)
				row[BASE_FIXED + k] = f->s[k];
		}
		dims[1] = BASE_FIXED + M;
		model_put_float_array(b, MODEL_DATA, "base_state", st, 2, dims);
		/* each base's form and when it was chosen: a warm refit keeps it (lstm_fit.c) */
		if (cfg->base_form != NULL)
		{
			int64	   *form = palloc(sizeof(int64) * (Size) ns * 4);
			int64	   *sel = palloc(sizeof(int64) * (Size) ns);

			for (Size k = 0; k < (Size) ns * 4; k++)
				form[k] = cfg->base_form[k];
			for (int i = 0; i < ns; i++)
				sel[i] = cfg->base_selected[i];
			dims[1] = 4;
			model_put_int_array(b, MODEL_DATA, "base_form", form, 2, dims);
			model_put_int_array(b, MODEL_DATA, "base_selected", sel, 1, dims);
		}
	}
}

static SeriesFit *
load_base_states(ModelView *mv, int n, int season)
{
	int			M = base_state_width(season);
	int			dims[2] = {n, BASE_FIXED + M};
	double	   *st = model_get_float_array(mv, MODEL_DATA, "base_state", 2, dims);
	SeriesFit  *base = palloc0(sizeof(SeriesFit) * n);

	for (int i = 0; i < n; i++)
	{
		const double *row = st + (Size) i * (BASE_FIXED + M);
		SeriesFit  *f = &base[i];

		for (int k = 0; k < BASE_FIXED + M; k++)
			if (!isfinite(row[k]))
				model_corrupt(mv, "An ETS base state is not finite.");
		if ((row[0] != ETS_NONE && row[0] != ETS_ADD) ||
			(row[1] != ETS_NONE && row[1] != ETS_ADD && row[1] != ETS_MULT) ||
			(row[1] != ETS_NONE && M < 2) || !(row[2] > 0 && row[2] <= 1))
			model_corrupt(mv, "An ETS base form is not valid.");
		f->method = FIT_ETS;
		f->trend = (int) row[0];
		f->season = (int) row[1];
		f->damped = row[2] < 1;
		f->phi = row[2];
		f->level = row[3];
		f->slope = row[4];
		f->m = f->season != ETS_NONE ? M : 1;
		for (int k = 0; k < M && f->season != ETS_NONE; k++)
			f->s[k] = row[BASE_FIXED + k];
	}
	return base;
}

LstmModel *
lstm_model_load(FunctionCallInfo fcinfo)
{
	ModelView  *mv = model_open_cached(fcinfo, 0, MODEL_KIND_LSTM);
	LstmModel  *m = palloc0(sizeof(LstmModel));
	LstmTrained *t = &m->net;
	LstmLayout *L = &t->layout;
	LstmShape  *S = &t->shape;
	int			dims[2],
				n;

	L->freq = series_model_freq(mv, "freq");
	L->season = (int) model_get_int(mv, MODEL_PARAMS, "season");
	L->window = (int) model_get_int(mv, MODEL_PARAMS, "window");
	L->horizon = (int) model_get_int(mv, MODEL_PARAMS, "horizon");
	L->n_exog = (int) model_get_int(mv, MODEL_PARAMS, "n_exog");
	S->hidden = (int) model_get_int(mv, MODEL_PARAMS, "hidden");
	S->layers = (int) model_get_int(mv, MODEL_PARAMS, "layers");
	t->nmodels = (int) model_get_int(mv, MODEL_PARAMS, "ensemble");
	m->nonnegative = model_get_bool(mv, MODEL_PARAMS, "nonnegative");
	{
		char	   *tr = model_get_text(mv, MODEL_PARAMS, "transform");

		if (strcmp(tr, "log") == 0)
			L->log_space = true;
		else if (strcmp(tr, "none") == 0)
			L->log_space = false;
		else
			model_corrupt(mv, "The transform \"%s\" is not log or none.", tr);
	}
	t->q_lo = model_get_float(mv, MODEL_PARAMS, "q_lo");
	t->q_hi = model_get_float(mv, MODEL_PARAMS, "q_hi");
	L->ls_mean = model_get_float(mv, MODEL_DATA, "ls_mean");
	L->ls_sd = model_get_float(mv, MODEL_DATA, "ls_sd");
	t->calib_lo = model_get_float(mv, MODEL_DATA, "calib_lo");
	t->calib_hi = model_get_float(mv, MODEL_DATA, "calib_hi");
	/* models written before the correction was weighed use all of it */
	t->shrink = model_find(mv, MODEL_DATA, "shrink") ? model_get_float(mv, MODEL_DATA, "shrink") : 1.0;
	if (!(t->shrink >= 0.0 && t->shrink <= 1.0))
		model_corrupt(mv, "The weight of the network's correction (shrink) %g is not between 0 and 1.",
					  t->shrink);
	if (L->season < 1 || L->season > 1000 || L->window < 1 || L->window > 10000 ||
		L->horizon < 1 || L->horizon > FORECAST_MAX_HORIZON || L->n_exog < 0 || L->n_exog > 10000 ||
		S->hidden < 1 || S->hidden > 1024 || S->layers < 1 || S->layers > LSTM_MAX_LAYERS ||
		t->nmodels < 1 || t->nmodels > 50)
		model_corrupt(mv, "A size of the LSTM is out of range.");
	if (!(t->q_lo > 0 && t->q_lo < 0.5 && t->q_hi > 0.5 && t->q_hi < 1))
		model_corrupt(mv, "The interval quantiles %g and %g are not 0 < lower < 0.5 < upper < 1.",
					  t->q_lo, t->q_hi);
	if (!(isfinite(L->ls_mean) && L->ls_sd > 0 && isfinite(L->ls_sd) &&
		  t->calib_lo > 0 && isfinite(t->calib_lo) && t->calib_hi > 0 && isfinite(t->calib_hi)))
		model_corrupt(mv, "A scaling or calibration value is not a positive finite number.");
	L->cal_dim = lstm_cal_dim(L->freq);
	L->din = 2 + L->cal_dim + L->n_exog;
	{
		char	   *base = model_get_text(mv, MODEL_PARAMS, "base");

		if (strcmp(base, "ets") != 0 && strcmp(base, "none") != 0)
			model_corrupt(mv, "The base \"%s\" is not ets or none.", base);
		lstm_layout_finish(L, strcmp(base, "ets") == 0);
	}
	S->din = L->din;
	S->window = L->window;
	S->horizon = L->horizon;
	S->nq = LSTM_NQ;
	S->fdim = L->fdim;
	t->nparams = lstm_param_count(S);

	dims[0] = t->nmodels;
	dims[1] = t->nparams;
	t->params = model_get_float_array(mv, MODEL_DATA, "weights", 2, dims);
	for (Size i = 0; i < (Size) t->nmodels * t->nparams; i++)
		if (!isfinite(t->params[i]))
			model_corrupt(mv, "A network weight is not finite.");
	m->keys = model_get_text_array(mv, MODEL_DATA, "series", &n);
	m->nseries = n;
	for (int i = 1; i < n; i++)
		if (strcmp(m->keys[i - 1], m->keys[i]) >= 0)
			model_corrupt(mv, "The series keys are not sorted.");
	dims[0] = n;
	m->last = model_get_int_array(mv, MODEL_DATA, "last_date", 1, dims);
	for (int i = 0; i < n; i++)
		if (m->last[i] < -2451545 || m->last[i] > 100000000)
			model_corrupt(mv, "A last date is out of range.");
	dims[1] = L->window;
	m->tail = model_get_float_array(mv, MODEL_DATA, "tail", 2, dims);
	for (Size i = 0; i < (Size) n * L->window; i++)
		if (!isfinite(m->tail[i]))
			model_corrupt(mv, "A series value is not finite.");
	if (L->n_exog > 0)
	{
		dims[1] = L->window * L->n_exog;
		m->tail_exog = model_get_float_array(mv, MODEL_DATA, "tail_exog", 2, dims);
		for (Size i = 0; i < (Size) n * dims[1]; i++)
			if (!isfinite(m->tail_exog[i]))
				model_corrupt(mv, "A factor value is not finite.");
	}
	if (L->base_col >= 0)
		m->base = load_base_states(mv, n, L->season);
	return m;
}

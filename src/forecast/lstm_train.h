/*
 * lstm_train.h: training the global LSTM over a panel of series, and the features the
 * network sees (shared by training and prediction so both lay out windows the same way).
 */
#ifndef RETAILIQ_FORECAST_LSTM_TRAIN_H
#define RETAILIQ_FORECAST_LSTM_TRAIN_H

#include "postgres.h"
#include "utils/date.h"

#include <math.h>

#include "forecast/baselines.h"
#include "forecast/lstm_net.h"
#include "forecast/series.h"

/*
 * Default of "validation_series": early stopping reads at most this many held-out series
 * (a seeded sample of them beyond it), so that an epoch's cost does not grow with the panel.
 */
#define LSTM_DEFAULT_VALIDATION_SERIES 1000

/* outputs per step: the median and the two interval quantiles */
#define LSTM_NQ 3

typedef struct LstmConfig
{
	int			window;
	int			hidden;
	int			layers;
	int			max_epochs;
	double		learning_rate;
	int			horizon;
	int64		seed;
	double		q_lo;			/* interval quantiles, e.g. 0.1 and 0.9 */
	double		q_hi;
	int			validation;		/* tail length used for early stopping and calibration */
	int			ensemble;		/* networks averaged (different seeds) */
	int			batch_size;
	int			windows_per_epoch;
	int			patience;
	int			validation_series;	/* most held-out series early stopping reads */
	bool		refit;			/* retrain on the whole history for the chosen epochs */
	bool		verbose;		/* progress NOTICEs */
	bool		nonnegative;	/* clamp forecasts at 0 */
	bool		log_space;		/* model log1p(y / scale) instead of y / scale */
	bool		scale_weight;	/* weight windows by their scale (the WAPE's weights) */
	bool		ets_base;		/* the network corrects a per-series ETS forecast */
	const SeriesFit *base_init; /* those bases already fitted (lstm_fit_bases), or NULL */
	/*
	 * Each series' base form (error, trend, season, damped; -1: not chosen yet), ns x 4:
	 * lstm_fit_bases fits a series with its form when given (a warm refit keeps the
	 * previous model's) and writes the form it chose otherwise; NULL: choose every one.
	 */
	int8	   *base_form;
	int32	   *base_selected;	/* ns: the series' last date when its form was chosen */
	/*
	 * The held-out network (the ensemble's first, trained against the validation tail)
	 * when it is already trained: choose_window trains exactly it for the window it keeps.
	 */
	const struct LstmHeld *held;
} LstmConfig;

/* a network trained against the validation tail: weights, best epoch, rate schedule */
typedef struct LstmHeld
{
	int			window;
	int			nparams;
	double	   *params;
	int			epochs;
	double	   *lr_hist;		/* epochs entries */
} LstmHeld;

/* Where each feature sits in a window step and in a future step. */
typedef struct LstmLayout
{
	ForecastFreq freq;
	int			season;
	int			window;
	int			horizon;
	int			n_exog;
	int			cal_dim;
	int			din;			/* z, calendar, factors, log scale */
	int			fdim;			/* calendar, factors, seasonal-naive z [, ETS base] */
	int			base_col;		/* the ETS base forecast's column in a future step, or -1 */
	double		ls_mean;		/* standardisation of log(scale) */
	double		ls_sd;
	bool		log_space;		/* values enter as log1p(y / scale) */
} LstmLayout;

/* the network's value space and back */
static inline double
lstm_to_space(const LstmLayout *L, double v)
{
	return L->log_space ? log1p(v > 0 ? v : 0.0) : v;
}

static inline double
lstm_from_space(const LstmLayout *L, double z)
{
	return L->log_space ? expm1(z) : z;
}

typedef struct LstmTrained
{
	LstmShape	shape;
	LstmLayout	layout;
	int			nmodels;
	int			nparams;
	double	   *params;			/* nmodels x nparams */
	double		q_lo;
	double		q_hi;
	double		calib_lo;		/* interval half-width factors from the validation tail */
	double		calib_hi;
	double		val_wape;		/* WAPE on the validation tail of what is used (NaN if none) */
	double		val_wape_base;	/* there: the ETS base alone (NaN without base or tail) */
	double		val_wape_net;	/* there: the base plus the whole correction */
	double		shrink;			/* weight of the network's correction, in [0, 1] */
	double		val_coverage;	/* calibrated interval coverage there */
	int			epochs;			/* best epoch of the first network */
	double		seconds;
	SeriesFit  *base;			/* with ets_base: each series' ETS at its final state */
	LstmHeld	held;			/* the first network as trained against the tail (params
								 * NULL without a tail) */
} LstmTrained;

extern int	lstm_cal_dim(ForecastFreq freq);
/* fdim and base_col from the other fields */
extern void lstm_layout_finish(LstmLayout *L, bool ets_base);
extern void lstm_cal_features(ForecastFreq freq, DateADT start, int k, double *out);

/*
 * One network input: the window ending at period t of a series (y[0..t] known) and the
 * horizon after it. exog has nexog_rows rows of n_exog (rows past that are taken as 0).
 * base: the ETS base forecasts of the horizon's periods (NULL without a base).
 * Writes x (window x din) and f (horizon x fdim); returns the window's scale.
 */
extern double lstm_build_sample(const LstmLayout *L, const double *y, const double *exog,
								int nexog_rows, DateADT start, int t, const double *base,
								double *x, double *f);

/* each series' ETS base on all but its last V periods, at its initial state */
extern SeriesFit *lstm_fit_bases(const ForecastPanel *panel, int V, bool verbose, int8 *forms);

extern LstmTrained *lstm_train(const ForecastPanel *panel, const LstmConfig *cfg);

/* one series' ETS base on y[0..nfit), its form form's when chosen (written back) */
extern void lstm_base_fit(const double *y, int nfit, int season, int8 form[4], SeriesFit *fit);
/* network netno of the ensemble on the whole history, its bases cfg->base_init */
extern void lstm_train_refit_net(const ForecastPanel *panel, const LstmConfig *cfg, int netno,
								 int epochs, const double *lr_hist, double *params);
extern int	lstm_train_nparams(const ForecastPanel *panel, const LstmConfig *cfg);

/*
 * lstm_parallel.c: the LSTM's independent pieces of work, in the backend or side by side
 * in parallel workers (retailiq.forecast_workers); each piece depends only on its inputs,
 * so the model is the same at any number of workers.
 */
/*
 * The fit's row of retailiq.forecast_progress (-1: none): each ETS base fitted counts one
 * step there, in the backend or a worker. Returns the most workers a piece had since the
 * previous call, and starts counting again.
 */
extern int	lstm_parallel_track(int slot);
/* every series' ETS base on all but its last V periods; forms (ns x 4) in and out */
extern void lstm_parallel_bases(const ForecastPanel *panel, int V, int8 *forms, SeriesFit *bases);
/* the candidate windows' trial fits (trial's window replaced): val_wape[i] and held[i] */
extern void lstm_parallel_windows(const ForecastPanel *panel, const LstmConfig *trial, int ncand,
								  const int *cand, double *val_wape, LstmHeld *held);
/* the ensemble's nmodels networks on the whole history into params (nmodels x np) */
extern void lstm_parallel_refit(const ForecastPanel *panel, const LstmConfig *cfg, int nmodels,
								int np, int epochs, const double *lr_hist, double *params);

/* ensemble forecast for nb prepared inputs: med/lo/hi are nb x horizon, in scaled units */
extern void lstm_predict_scaled(const LstmTrained *m, LstmWork *w, int nb, const double *x,
								const double *f, double *med, double *lo, double *hi);

#endif

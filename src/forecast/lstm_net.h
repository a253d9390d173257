/*
 * lstm_net.h: the network of forecast_lstm, forward and backward over a minibatch.
 *
 * A stack of 1-2 LSTM layers reads a window of W steps (din inputs per step); the last
 * hidden state of the top layer feeds a linear head with nout = horizon * nq outputs
 * (nq quantiles per step, output o = k * nq + q). Each step k also gets fdim known
 * future features (calendar, factors, the seasonal-naive value) through a per-step
 * linear term, so that a factor at step k moves the forecast of step k only.
 *
 * All parameters live in one flat vector (layout in lstm_net.c) so that Adam, gradient
 * clipping and the model value treat them as one array.
 */
#ifndef RETAILIQ_FORECAST_LSTM_NET_H
#define RETAILIQ_FORECAST_LSTM_NET_H

#include "postgres.h"

#include "core/rng.h"

#define LSTM_MAX_LAYERS 2

typedef struct LstmShape
{
	int			din;			/* inputs per window step */
	int			hidden;
	int			layers;			/* 1 or 2 */
	int			window;			/* W steps */
	int			horizon;		/* P output steps */
	int			nq;				/* outputs per step (quantiles) */
	int			fdim;			/* future features per output step */
} LstmShape;

/* Per-minibatch activations kept for backpropagation through time. */
typedef struct LstmWork
{
	int			maxb;
	double	   *xh[LSTM_MAX_LAYERS];	/* W x B x (in + hidden): [input, h_prev] */
	double	   *act[LSTM_MAX_LAYERS];	/* W x B x 4 hidden: i, f, g, o after activation */
	double	   *c[LSTM_MAX_LAYERS];	/* W x B x hidden */
	double	   *tc[LSTM_MAX_LAYERS];	/* W x B x hidden: tanh(c) */
	double	   *h[LSTM_MAX_LAYERS];	/* W x B x hidden */
	double	   *dz;				/* B x 4 hidden */
	double	   *dxh;			/* B x (in + hidden) */
	double	   *dh;				/* B x hidden */
	double	   *dc;				/* B x hidden */
	double	   *dh_in;			/* W x B x hidden: gradient from the layer above */
	const double *f;			/* the future features of the last forward pass */
} LstmWork;

extern int	lstm_param_count(const LstmShape *s);
extern void lstm_check_shape(const LstmShape *s);
extern void lstm_init_params(const LstmShape *s, double *p, RiqRng *rng);
extern LstmWork *lstm_work_alloc(const LstmShape *s, int maxb, MemoryContext cxt);

/*
 * x: b x W x din (sample-major), f: b x horizon x fdim; out: b x nout.
 * The work buffers keep what backward needs.
 */
extern void lstm_forward(const LstmShape *s, const double *p, LstmWork *w, int b,
						 const double *x, const double *f, double *out);
/* dout: b x nout, the loss gradient of the last forward's outputs; adds into grad. */
extern void lstm_backward(const LstmShape *s, const double *p, LstmWork *w, int b,
						  const double *dout, double *grad);

#endif

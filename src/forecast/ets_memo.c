/*
 * ets_memo.c: the ETS form fits of the last series searched, so that a second search of the
 * same series in the same process fits no form twice (issue 18, "no wasted fits").
 *
 * A warm refit that degrades is fitted again cold over the same stretch of a series, with
 * the same data, season and budget (and 'combo' searched ETS twice there until 2026-12-07,
 * for its ETS and its damped-trend components). A
 * form's fit depends on nothing else (ets_fit_form: the values, their length, the form, the
 * season and the optimiser's budget), so the remembered fit is the one a new fit would give,
 * bit for bit: the memo changes the time of a fit, never its result.
 *
 * One series is remembered (a copy of its values, compared in full before any fit is
 * reused); a search of another series, length, season or budget starts afresh. Series
 * longer than ETS_MEMO_MAX_N values are not remembered. Each process (a parallel worker
 * too) has its own memo.
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "forecast/ets_memo.h"

#define ETS_MEMO_MAX_N 100000
/* forms by error (A, M), trend (N, A), season (N, A, M), damped (0, 1) */
#define ETS_MEMO_FORMS (2 * 2 * 3 * 2)

typedef struct EtsMemo
{
	double	   *y;				/* a copy of the series' values */
	int			cap;			/* doubles allocated in y */
	int			n;				/* 0: nothing remembered */
	int			m;
	int			maxit;
	bool		have[ETS_MEMO_FORMS];
	bool		ok[ETS_MEMO_FORMS];
	SeriesFit	fit[ETS_MEMO_FORMS];
} EtsMemo;

static EtsMemo *memo = NULL;

static int
form_index(const SeriesFit *f)
{
	if (f->error < ETS_ADD || f->error > ETS_MULT || f->trend < ETS_NONE || f->trend > ETS_ADD ||
		f->season < ETS_NONE || f->season > ETS_MULT)
		return -1;
	return (((f->error - ETS_ADD) * 2 + f->trend) * 3 + f->season) * 2 + (f->damped ? 1 : 0);
}

static bool
same_series(const double *y, int n, int m, int maxit)
{
	return memo != NULL && memo->n == n && memo->m == m && memo->maxit == maxit &&
		memcmp(memo->y, y, sizeof(double) * n) == 0;
}

bool
ets_memo_get(const double *y, int n, int m, int maxit, SeriesFit *form, bool *ok)
{
	int			k = form_index(form);

	if (k < 0 || !same_series(y, n, m, maxit) || !memo->have[k] || memo->fit[k].m != form->m)
		return false;
	*form = memo->fit[k];
	*ok = memo->ok[k];
	return true;
}

void
ets_memo_put(const double *y, int n, int m, int maxit, const SeriesFit *form, bool ok)
{
	int			k = form_index(form);

	if (k < 0 || n < 1 || n > ETS_MEMO_MAX_N)
		return;
	if (!same_series(y, n, m, maxit))
	{
		if (memo == NULL)
			memo = MemoryContextAllocZero(TopMemoryContext, sizeof(EtsMemo));
		if (memo->cap < n)
		{
			if (memo->y != NULL)
				pfree(memo->y);
			memo->y = MemoryContextAlloc(TopMemoryContext, sizeof(double) * n);
			memo->cap = n;
		}
		memcpy(memo->y, y, sizeof(double) * n);
		memo->n = n;
		memo->m = m;
		memo->maxit = maxit;
		memset(memo->have, 0, sizeof(memo->have));
	}
	memo->fit[k] = *form;
	memo->ok[k] = ok;
	memo->have[k] = true;
}

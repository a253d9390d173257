/*
 * recommend_state.c: the state of recommender_fit: the purchase lines and the fit options,
 * with the combine, serial and deserial functions (parallel aggregation).
 *
 * Lines are kept as (customer, product, day, quantity) with the ids as int64, because
 * pseudonymised ids (retailiq.pseudonym) use the whole bigint range that a float8 row store
 * could not hold exactly. The serial form is a header followed by the lines; deserialising
 * checks the header against the real length and every line (ids, day range, quantity) so a
 * forged state is data corruption (XX001), never trusted.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "core/agg_state.h"
#include "core/memory.h"
#include "core/rowstore.h"
#include "marketing/recommend.h"

#define REC_WIRE_MAGIC 0x52454331u	/* "REC1" */

typedef struct RecWire
{
	uint32		magic;
	int32		have_opt;
	int64		n;
	int64		skipped;
	RecFitOptions opt;
} RecWire;

/* the days a timestamp may fall on: 1900-01-01 .. 2200-01-01 */
#define REC_MIN_DAY (-36524)
#define REC_MAX_DAY 73049

void
rec_fit_options_default(RecFitOptions *o)
{
	memset(o, 0, sizeof(*o));
	o->factors = 0;
	o->iterations = 10;
	o->lambda = -1;
	o->alpha = -1;
	o->seed = 1;
	o->neighbours = 0;
	o->validate = 1;
	o->max_validation_customers = 2000;
	o->neighbour_weighting = -1;
	o->confidence = -1;
}

static RecState *
state_new(MemoryContext cxt)
{
	RecState   *s = MemoryContextAllocZero(cxt, sizeof(RecState));

	s->cxt = cxt;
	rec_fit_options_default(&s->opt);
	return s;
}

static double
option_number(JsonbValue *v, const char *key, double lo, double hi, bool integral)
{
	double		f = NAN;

	if (v->type == jbvNumeric)
		f = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (!(f >= lo && f <= hi) || (integral && f != floor(f)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" of recommender_fit must be a%s number between %g and %g",
						key, integral ? "n integer" : "", lo, hi),
				 errhint("Leave the option out to choose it by validation or take its default.")));
	return f;
}

/* Read recommender_fit's options; an unknown key is an error (a misspelling is never ignored). */
void
rec_fit_options_parse(Jsonb *jb, RecFitOptions *o)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			level = 0;

	rec_fit_options_default(o);
	if (jb == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of recommender_fit must be a JSON object"),
				 errhint("For example '{\"factors\": 32, \"seed\": 7}'.")));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT)
			level++;
		else if (tok == WJB_END_OBJECT)
			level--;
		else if (tok == WJB_KEY && level == 1)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && level == 1 && key != NULL)
		{
			if (v.type == jbvNull)
				continue;
			if (strcmp(key, "factors") == 0)
				o->factors = (int32) option_number(&v, key, 1, REC_MAX_FACTORS, true);
			else if (strcmp(key, "iterations") == 0)
				o->iterations = (int32) option_number(&v, key, 1, 100, true);
			else if (strcmp(key, "lambda") == 0)
				o->lambda = option_number(&v, key, 1e-6, 1e6, false);
			else if (strcmp(key, "alpha") == 0)
				o->alpha = option_number(&v, key, 0, 1e6, false);
			else if (strcmp(key, "seed") == 0)
				o->seed = (int64) option_number(&v, key, 0, 9007199254740991.0, true);
			else if (strcmp(key, "neighbours") == 0)
				o->neighbours = (int32) option_number(&v, key, 1, REC_MAX_NEIGHBOURS, true);
			else if (strcmp(key, "neighbour_weighting") == 0)
				o->neighbour_weighting = option_number(&v, key, 0, 2, false);
			else if (strcmp(key, "confidence") == 0)
			{
				if (v.type == jbvString && v.val.string.len == 6 &&
					strncmp(v.val.string.val, "linear", 6) == 0)
					o->confidence = REC_CONF_LINEAR;
				else if (v.type == jbvString && v.val.string.len == 4 &&
						 strncmp(v.val.string.val, "bm25", 4) == 0)
					o->confidence = REC_CONF_BM25;
				else
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"confidence\" of recommender_fit must be \"linear\" or \"bm25\""),
							 errhint("Leave the option out to choose it by validation.")));
			}
			else if (strcmp(key, "max_validation_customers") == 0)
				o->max_validation_customers = (int32) option_number(&v, key, 10, 1000000, true);
			else if (strcmp(key, "validate") == 0)
			{
				if (v.type != jbvBool)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"validate\" of recommender_fit must be true or false")));
				o->validate = v.val.boolean ? 1 : 0;
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\" of recommender_fit", key),
						 errhint("The options are factors, iterations, lambda, alpha, seed, neighbours, neighbour_weighting, confidence, validate and max_validation_customers.")));
		}
	}
}

static void
check_options(const RecFitOptions *o, const char *what)
{
	if (o->factors < 0 || o->factors > REC_MAX_FACTORS || o->iterations < 1 || o->iterations > 100 ||
		!(o->lambda == -1 || (o->lambda >= 1e-6 && o->lambda <= 1e6)) ||
		!(o->alpha == -1 || (o->alpha >= 0 && o->alpha <= 1e6)) || o->seed < 0 ||
		o->neighbours < 0 || o->neighbours > REC_MAX_NEIGHBOURS ||
		(o->validate != 0 && o->validate != 1) ||
		o->max_validation_customers < 10 || o->max_validation_customers > 1000000 ||
		!(o->neighbour_weighting == -1 || (o->neighbour_weighting >= 0 && o->neighbour_weighting <= 2)) ||
		o->confidence < -1 || o->confidence > REC_CONF_BM25 || o->pad != 0)
		riq_state_corrupt(what, "Its fit options are out of range.");
}

/* The options of a row: parsed once per distinct value (the usual case is one constant). */
static void
row_options(FunctionCallInfo fcinfo, RecState *s)
{
	Jsonb	   *jb;
	Jsonb	   *last = (Jsonb *) fcinfo->flinfo->fn_extra;
	RecFitOptions o;

	if (PG_NARGS() < 6 || PG_ARGISNULL(5))
	{
		if (!s->have_opt)
		{
			rec_fit_options_default(&s->opt);
			s->have_opt = true;
		}
		return;
	}
	jb = PG_GETARG_JSONB_P(5);
	if (s->have_opt && last != NULL && VARSIZE(last) == VARSIZE(jb) &&
		memcmp(last, jb, VARSIZE(jb)) == 0)
		return;
	rec_fit_options_parse(jb, &o);
	if (s->have_opt && memcmp(&o, &s->opt, sizeof(o)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of recommender_fit must be the same for every row"),
				 errhint("Pass the options as a constant.")));
	s->opt = o;
	s->have_opt = true;
	if (last != NULL)
		pfree(last);
	fcinfo->flinfo->fn_extra = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE(jb));
	memcpy(fcinfo->flinfo->fn_extra, jb, VARSIZE(jb));
}

PG_FUNCTION_INFO_V1(recommender_fit_accum);
Datum
recommender_fit_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, "recommender_fit_accum");
	RecState   *s = PG_ARGISNULL(0) ? state_new(aggcxt) : (RecState *) PG_GETARG_POINTER(0);
	RecLine    *l;
	double		qty;
	TimestampTz at;

	row_options(fcinfo, s);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
	{
		s->skipped++;
		PG_RETURN_POINTER(s);
	}
	qty = PG_GETARG_FLOAT8(3);
	at = PG_GETARG_TIMESTAMPTZ(4);
	if (isnan(qty) || isinf(qty) || qty <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantity of recommender_fit must be a positive finite number"),
				 errdetail("Product %lld of customer %lld has quantity %g.",
						   (long long) PG_GETARG_INT64(2), (long long) PG_GETARG_INT64(1), qty),
				 errhint("Leave returns and cancellations out (WHERE quantity > 0).")));
	if (TIMESTAMP_NOT_FINITE(at) || at / USECS_PER_DAY < REC_MIN_DAY || at / USECS_PER_DAY > REC_MAX_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("at of recommender_fit must be a finite time between 1900 and 2200"),
				 errhint("Pass the time of the purchase.")));
	s->lines = riq_grow_array(aggcxt, s->lines, &s->cap, s->n + 1, sizeof(RecLine),
							  "recommender_fit");
	l = &s->lines[s->n++];
	l->customer = PG_GETARG_INT64(1);
	l->product = PG_GETARG_INT64(2);
	/* floor division: a purchase before 2000 falls on its own day */
	l->day = (int32) (at >= 0 ? at / USECS_PER_DAY : -((-at + USECS_PER_DAY - 1) / USECS_PER_DAY));
	l->pad = 0;
	l->qty = qty;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(recommender_fit_combine);
Datum
recommender_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, "recommender_fit_combine");
	RecState   *a;
	RecState   *b;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = (RecState *) PG_GETARG_POINTER(1);
	a = PG_ARGISNULL(0) ? state_new(aggcxt) : (RecState *) PG_GETARG_POINTER(0);
	if (a->have_opt && b->have_opt && memcmp(&a->opt, &b->opt, sizeof(a->opt)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of recommender_fit must be the same for every row"),
				 errhint("Pass the options as a constant.")));
	if (!a->have_opt && b->have_opt)
	{
		a->opt = b->opt;
		a->have_opt = true;
	}
	if (b->n > 0)
	{
		a->lines = riq_grow_array(aggcxt, a->lines, &a->cap, a->n + b->n, sizeof(RecLine),
								  "recommender_fit");
		memcpy(a->lines + a->n, b->lines, (Size) b->n * sizeof(RecLine));
		a->n += b->n;
	}
	a->skipped += b->skipped;
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(recommender_fit_serialize);
Datum
recommender_fit_serialize(PG_FUNCTION_ARGS)
{
	RecState   *s = (RecState *) PG_GETARG_POINTER(0);
	RecWire		w;
	Size		len;
	bytea	   *out;

	(void) riq_agg_context(fcinfo, "recommender_fit_serialize");
	memset(&w, 0, sizeof(w));
	w.magic = REC_WIRE_MAGIC;
	w.have_opt = s->have_opt ? 1 : 0;
	w.n = s->n;
	w.skipped = s->skipped;
	w.opt = s->opt;
	len = add_size(VARHDRSZ + sizeof(w), riq_mul_size((Size) s->n, sizeof(RecLine), "recommender_fit"));
	out = riq_alloc(CurrentMemoryContext, len, "recommender_fit");
	SET_VARSIZE(out, len);
	memcpy(VARDATA(out), &w, sizeof(w));
	if (s->n > 0)
		memcpy(VARDATA(out) + sizeof(w), s->lines, (Size) s->n * sizeof(RecLine));
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(recommender_fit_deserialize);
Datum
recommender_fit_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, "recommender_fit_deserialize");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(b);
	const char *p = VARDATA_ANY(b);
	RecState   *s = state_new(aggcxt);
	RecWire		w;

	if (len < sizeof(w))
		riq_state_corrupt("recommender_fit", "Its state is %zu bytes, shorter than its %zu-byte header.",
						  len, sizeof(w));
	memcpy(&w, p, sizeof(w));
	if (w.magic != REC_WIRE_MAGIC || w.n < 0 || w.skipped < 0 || (w.have_opt != 0 && w.have_opt != 1) ||
		(uint64) w.n > (len - sizeof(w)) / sizeof(RecLine) ||
		len - sizeof(w) != (Size) w.n * sizeof(RecLine))
		riq_state_corrupt("recommender_fit", "Its header (%lld lines) does not match its %zu bytes.",
						  (long long) w.n, len);
	check_options(&w.opt, "recommender_fit");
	s->opt = w.opt;
	s->have_opt = w.have_opt == 1;
	s->skipped = w.skipped;
	if (w.n > 0)
	{
		s->lines = riq_grow_array(aggcxt, NULL, &s->cap, w.n, sizeof(RecLine), "recommender_fit");
		memcpy(s->lines, p + sizeof(w), (Size) w.n * sizeof(RecLine));
		for (int64 i = 0; i < w.n; i++)
		{
			const RecLine *l = &s->lines[i];

			if (l->day < REC_MIN_DAY || l->day > REC_MAX_DAY || l->pad != 0 ||
				isnan(l->qty) || isinf(l->qty) || l->qty <= 0)
				riq_state_corrupt("recommender_fit", "Its line %lld is out of range.", (long long) i);
		}
	}
	s->n = w.n;
	PG_RETURN_POINTER(s);
}

/*
 * rfm.c: RFM (recency, frequency, monetary) per customer, quantile breaks across
 * customers, and scores with the 11-segment map.
 *
 * rfm_agg is one customer's orders folded into retailiq.rfm. Numeric amounts are summed
 * exactly as a 64-bit integer count of units of the finest scale seen (the digits of a
 * numeric read from its stored form, see numeric_to_scaled), which is exact while the sum
 * stays within 18 digits; an amount that does not fit, or a sum that would overflow, hands
 * the sum so far to PostgreSQL's own exact numeric accumulator (numeric_avg_accum and
 * friends, the ones behind sum(numeric)), called with this aggregate's context. Either
 * way monetary is exactly sum(amount), with its display scale (the largest of the
 * amounts'), and partial states combine and serialize.
 *
 * rfm_breaks collects the three measures of every customer and returns the
 * percentile_disc(j / bins) break points, j = 1 .. bins-1 (the same definition as
 * PostgreSQL's percentile_disc). rfm_score gives a value the number of breaks it exceeds
 * plus one (recency reversed), so equal values always get equal scores.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "core/agg_state.h"
#include "core/memory.h"
#include "core/stats.h"

#define RFM_MAX_BINS 9

typedef struct RfmState
{
	int64		count;
	TimestampTz first;
	TimestampTz last;
	TimestampTz as_of;
	bool		is_numeric;
	double		fsum;			/* float8 amounts */
	int64		isum;			/* numeric amounts: the sum in units of 10^-iscale */
	int32		iscale;			/* the largest display scale of the amounts so far */
	Datum		numstate;		/* numeric amounts beyond isum: PostgreSQL's NumericAggState */
	bool		have_num;		/* numstate holds the sum (isum is then unused) */
} RfmState;

typedef struct RfmWire
{
	int64		count;
	TimestampTz first;
	TimestampTz last;
	TimestampTz as_of;
	int32		is_numeric;
	int32		have_num;
	double		fsum;
	int64		isum;
	int32		iscale;
	int32		pad;
} RfmWire;

/* What a function looks up once per query rather than once per row (in fn_extra). */
typedef struct RfmFnCache
{
	TupleDesc	result;			/* the blessed result descriptor (rfm_final, rfm_score) */
	TupleDesc	input;			/* the retailiq.rfm argument's (rfm_breaks, rfm_score) */
	Oid			input_type;
	int32		input_typmod;
} RfmFnCache;

static RfmFnCache *
fn_cache(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
														  sizeof(RfmFnCache));
	return (RfmFnCache *) fcinfo->flinfo->fn_extra;
}

static TupleDesc
result_desc(FunctionCallInfo fcinfo, const char *fname)
{
	RfmFnCache *c = fn_cache(fcinfo);
	TupleDesc	tupdesc;
	MemoryContext old;

	if (c->result != NULL)
		return c->result;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "%s must return a composite type", fname);
	c->result = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
	MemoryContextSwitchTo(old);
	return c->result;
}

/*
 * The first three fields (recency, frequency, monetary) of a retailiq.rfm value, with its
 * descriptor kept from the previous row (GetAttributeByNum looked it up for every field).
 */
static void
rfm_fields(FunctionCallInfo fcinfo, HeapTupleHeader t, Datum *v, bool *isnull)
{
	RfmFnCache *c = fn_cache(fcinfo);
	Oid			typ = HeapTupleHeaderGetTypeId(t);
	int32		typmod = HeapTupleHeaderGetTypMod(t);
	HeapTupleData tuple;

	if (c->input == NULL || c->input_type != typ || c->input_typmod != typmod)
	{
		TupleDesc	td = lookup_rowtype_tupdesc(typ, typmod);
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		TupleDesc	copy = CreateTupleDescCopy(td);

		MemoryContextSwitchTo(old);
		ReleaseTupleDesc(td);
		if (c->input != NULL)
			FreeTupleDesc(c->input);
		c->input = copy;
		c->input_type = typ;
		c->input_typmod = typmod;
	}
	tuple.t_len = HeapTupleHeaderGetDatumLength(t);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = t;
	for (int i = 0; i < 3; i++)
		v[i] = heap_getattr(&tuple, i + 1, c->input, &isnull[i]);
}

/* Call one of PostgreSQL's numeric aggregate support functions inside our aggregate. */
static Datum
call_numeric_agg(PGFunction fn, FunctionCallInfo outer, int nargs, Datum a0, bool n0,
				 Datum a1, bool n1, bool *isnull)
{
	LOCAL_FCINFO(fc, 2);
	Datum		r;

	InitFunctionCallInfoData(*fc, NULL, nargs, InvalidOid, outer->context, NULL);
	fc->args[0].value = a0;
	fc->args[0].isnull = n0;
	if (nargs > 1)
	{
		fc->args[1].value = a1;
		fc->args[1].isnull = n1;
	}
	r = fn(fc);
	if (isnull)
		*isnull = fc->isnull;
	return r;
}

/*
 * The stored form of a numeric (PostgreSQL's numeric.c keeps these definitions private;
 * the format is the on-disk one, fixed across versions): after the varlena header, a
 * 16-bit header, then (long form only) a 16-bit weight, then base-10000 digits, the first
 * one weighted 10000^weight. Short form: 0x8000 set, sign 0x2000, display scale in bits
 * 7..12, weight in bits 0..6 (0x40 its sign). Long form: sign in 0xC000 (0x0000 positive,
 * 0x4000 negative, 0xC000 special: NaN or infinity), display scale in the low 14 bits.
 */
#define RFM_NBASE			10000
#define RFM_DEC_DIGITS		4
#define RFM_MAX_SCALE		18

static const int64 rfm_pow10[RFM_MAX_SCALE + 1] = {
	INT64CONST(1), INT64CONST(10), INT64CONST(100), INT64CONST(1000), INT64CONST(10000),
	INT64CONST(100000), INT64CONST(1000000), INT64CONST(10000000), INT64CONST(100000000),
	INT64CONST(1000000000), INT64CONST(10000000000), INT64CONST(100000000000),
	INT64CONST(1000000000000), INT64CONST(10000000000000), INT64CONST(100000000000000),
	INT64CONST(1000000000000000), INT64CONST(10000000000000000),
	INT64CONST(100000000000000000), INT64CONST(1000000000000000000)
};

/*
 * A finite numeric as an integer count of units of 10^-scale, scale its display scale.
 * False when it does not fit (display scale above 18, or 18 digits or more in all), when
 * its stored form is not what is expected, or for NaN and infinities: the caller then
 * takes the numeric accumulator.
 */
static bool
numeric_to_scaled(Numeric num, int64 *value, int32 *scale)
{
	const char *p = VARDATA_ANY(num);
	Size		len = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	int			weight,
				dscale,
				ndigits;
	bool		negative;
	const int16 *digits;
	int64		v = 0;

	if (len < sizeof(uint16))
		return false;
	memcpy(&header, p, sizeof(uint16));
	if ((header & 0xC000) == 0x8000)
	{
		negative = (header & 0x2000) != 0;
		dscale = (header & 0x1F80) >> 7;
		weight = (header & 0x003F) | ((header & 0x0040) ? ~0x003F : 0);
		p += sizeof(uint16);
		len -= sizeof(uint16);
	}
	else
	{
		int16		w;

		if ((header & 0xC000) == 0xC000 || len < 2 * sizeof(uint16))
			return false;
		negative = (header & 0xC000) == 0x4000;
		dscale = header & 0x3FFF;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		weight = w;
		p += 2 * sizeof(uint16);
		len -= 2 * sizeof(uint16);
	}
	if (dscale > RFM_MAX_SCALE || len % sizeof(int16) != 0)
		return false;
	ndigits = len / sizeof(int16);
	digits = (const int16 *) p;
	/* the value times 10^dscale: each digit weighted 10^(4 (weight - i) + dscale) */
	for (int i = 0; i < ndigits; i++)
	{
		int			e = RFM_DEC_DIGITS * (weight - i) + dscale;
		int16		dg;

		memcpy(&dg, digits + i, sizeof(int16));
		if (dg < 0 || dg >= RFM_NBASE)
			return false;
		if (dg == 0)
			continue;
		if (e < 0)
		{
			/* digits below the display scale are zeros in a stored numeric */
			if (e < -RFM_DEC_DIGITS + 1 || dg % rfm_pow10[-e] != 0)
				return false;
			v += dg / rfm_pow10[-e];
		}
		else
		{
			/* below 10^17 every partial sum stays far from overflow */
			if (e > 13)
				return false;
			v += dg * rfm_pow10[e];
			if (v >= rfm_pow10[17])
				return false;
		}
	}
	*value = negative ? -v : v;
	*scale = dscale;
	return true;
}

/*
 * A numeric as float8, the value numeric_float8 gives (which prints the numeric and reads
 * the text back with strtod, correctly rounded): for at most 2^53 units of 10^-scale, the
 * quotient of two doubles that hold them exactly, which IEEE division rounds correctly too.
 */
static double
rfm_numeric_float8(Datum d)
{
	int64		value;
	int32		scale;

	if (numeric_to_scaled((Numeric) PG_DETOAST_DATUM_PACKED(d), &value, &scale) &&
		value <= (INT64CONST(1) << 53) && value >= -(INT64CONST(1) << 53))
		return (double) value / (double) rfm_pow10[scale];
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));
}

/* isum + value at scale: false when it would overflow (isum is then unchanged) */
static bool
scaled_add(RfmState *s, int64 value, int32 scale)
{
	int64		sum = s->isum;
	int32		to = Max(s->iscale, scale);

	if (to > s->iscale && pg_mul_s64_overflow(sum, rfm_pow10[to - s->iscale], &sum))
		return false;
	if (to > scale && pg_mul_s64_overflow(value, rfm_pow10[to - scale], &value))
		return false;
	if (pg_add_s64_overflow(sum, value, &sum))
		return false;
	s->isum = sum;
	s->iscale = to;
	return true;
}

/* isum as a numeric of display scale iscale */
static Numeric
scaled_numeric(int64 value, int32 scale)
{
	char		buf[64];
	uint64		a = value < 0 ? -(uint64) value : (uint64) value;
	uint64		unit = (uint64) rfm_pow10[scale];

	/* PostgreSQL's own conversion, whose display scale is scale, while value * 1000 fits */
	if (a < (uint64) rfm_pow10[15])
		return int64_div_fast_to_numeric(value, scale);
	if (scale == 0)
		snprintf(buf, sizeof(buf), "%s" UINT64_FORMAT, value < 0 ? "-" : "", a);
	else
		snprintf(buf, sizeof(buf), "%s" UINT64_FORMAT ".%0*" INT64_MODIFIER "u",
				 value < 0 ? "-" : "", a / unit, scale, (uint64) (a % unit));
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
											   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/* the integer sum into PostgreSQL's accumulator, which then takes every amount */
static void
scaled_to_numstate(RfmState *s, FunctionCallInfo fcinfo)
{
	s->numstate = call_numeric_agg(numeric_avg_accum, fcinfo, 2, (Datum) 0, true,
								   NumericGetDatum(scaled_numeric(s->isum, s->iscale)), false, NULL);
	s->have_num = true;
	s->isum = 0;
}

static RfmState *
rfm_accum_common(FunctionCallInfo fcinfo, bool is_numeric, bool *skip)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "rfm_agg");
	RfmState   *s = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	TimestampTz at,
				as_of;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be NULL"),
				 errhint("Pass the date the scores are as of, e.g. now() or a fixed timestamp.")));
	as_of = PG_GETARG_TIMESTAMPTZ(3);
	if (TIMESTAMP_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite timestamp"),
				 errhint("Pass a date such as now() or '2024-01-01'.")));
	if (s == NULL)
	{
		s = MemoryContextAllocZero(cxt, sizeof(RfmState));
		s->as_of = as_of;
		s->is_numeric = is_numeric;
	}
	else if (s->as_of != as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row"),
				 errhint("Pass as_of as a constant, e.g. now() or a fixed timestamp.")));

	*skip = true;
	/* rows with no date or no amount are ignored, as count(amount) would */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return s;
	at = PG_GETARG_TIMESTAMPTZ(1);
	if (TIMESTAMP_NOT_FINITE(at))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ordered_at must be a finite timestamp"),
				 errhint("Replace 'infinity' order dates, or filter those rows out.")));
	/* orders after as_of have not happened yet as of that date */
	if (at > as_of)
		return s;
	*skip = false;
	if (s->count == 0 || at < s->first)
		s->first = at;
	if (s->count == 0 || at > s->last)
		s->last = at;
	s->count++;
	return s;
}

PG_FUNCTION_INFO_V1(rfm_accum_numeric);
Datum
rfm_accum_numeric(PG_FUNCTION_ARGS)
{
	bool		skip;
	RfmState   *s = rfm_accum_common(fcinfo, true, &skip);

	if (!skip)
	{
		Numeric		amount;
		int64		value;
		int32		scale;

		/* the common case: read in place (a short varlena header is not copied) */
		if (!s->have_num &&
			numeric_to_scaled((Numeric) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(2)), &value, &scale) &&
			scaled_add(s, value, scale))
			PG_RETURN_POINTER(s);
		amount = PG_GETARG_NUMERIC(2);
		if (numeric_is_nan(amount) || numeric_is_inf(amount))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("amount must be a finite number"),
					 errhint("Replace NaN and infinite amounts, or filter those rows out.")));
		if (!s->have_num)
			scaled_to_numstate(s, fcinfo);
		s->numstate = call_numeric_agg(numeric_avg_accum, fcinfo, 2, s->numstate, false,
									   NumericGetDatum(amount), false, NULL);
	}
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(rfm_accum_float8);
Datum
rfm_accum_float8(PG_FUNCTION_ARGS)
{
	bool		skip;
	RfmState   *s = rfm_accum_common(fcinfo, false, &skip);

	if (!skip)
	{
		double		amount = PG_GETARG_FLOAT8(2);

		if (!isfinite(amount))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("amount must be a finite number"),
					 errhint("Replace NaN and infinite amounts, or filter those rows out.")));
		s->fsum += amount;
	}
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(rfm_combine);
Datum
rfm_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "rfm_combine");
	RfmState   *a = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	RfmState   *b = PG_ARGISNULL(1) ? NULL : (RfmState *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		a = MemoryContextAllocZero(cxt, sizeof(RfmState));
		a->as_of = b->as_of;
		a->is_numeric = b->is_numeric;
	}
	else if (a->as_of != b->as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be the same for every row"),
				 errhint("Pass as_of as a constant, e.g. now() or a fixed timestamp.")));
	if (b->count > 0)
	{
		if (a->count == 0 || b->first < a->first)
			a->first = b->first;
		if (a->count == 0 || b->last > a->last)
			a->last = b->last;
		a->count += b->count;
	}
	a->fsum += b->fsum;
	if (!a->have_num && !b->have_num && scaled_add(a, b->isum, b->iscale))
		PG_RETURN_POINTER(a);
	if (!a->have_num)
		scaled_to_numstate(a, fcinfo);
	if (b->have_num)
		a->numstate = call_numeric_agg(numeric_avg_combine, fcinfo, 2, a->numstate, false,
									   b->numstate, false, NULL);
	else
		a->numstate = call_numeric_agg(numeric_avg_accum, fcinfo, 2, a->numstate, false,
									   NumericGetDatum(scaled_numeric(b->isum, b->iscale)),
									   false, NULL);
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(rfm_serialize);
Datum
rfm_serialize(PG_FUNCTION_ARGS)
{
	RfmState   *s = (RfmState *) PG_GETARG_POINTER(0);
	RfmWire		w;
	bytea	   *num = NULL;
	Size		numlen = 0;
	bytea	   *out;

	(void) riq_agg_context(fcinfo, "rfm_serialize");
	memset(&w, 0, sizeof(w));
	w.count = s->count;
	w.first = s->first;
	w.last = s->last;
	w.as_of = s->as_of;
	w.is_numeric = s->is_numeric;
	w.have_num = s->have_num;
	w.fsum = s->fsum;
	w.isum = s->isum;
	w.iscale = s->iscale;
	if (s->have_num)
	{
		num = DatumGetByteaPP(call_numeric_agg(numeric_avg_serialize, fcinfo, 1, s->numstate,
											   false, (Datum) 0, true, NULL));
		numlen = VARSIZE_ANY_EXHDR(num);
	}
	out = palloc(VARHDRSZ + sizeof(w) + numlen);
	SET_VARSIZE(out, VARHDRSZ + sizeof(w) + numlen);
	memcpy(VARDATA(out), &w, sizeof(w));
	if (numlen)
		memcpy(VARDATA(out) + sizeof(w), VARDATA_ANY(num), numlen);
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(rfm_deserialize);
Datum
rfm_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "rfm_deserialize");
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	Size		len = VARSIZE_ANY_EXHDR(in);
	RfmWire		w;
	RfmState   *s;

	if (len < sizeof(w))
		riq_state_corrupt("rfm_agg", "It is %zu bytes long, shorter than its header.", (Size) len);
	memcpy(&w, VARDATA_ANY(in), sizeof(w));
	s = MemoryContextAllocZero(cxt, sizeof(RfmState));
	s->count = w.count;
	s->first = w.first;
	s->last = w.last;
	s->as_of = w.as_of;
	s->is_numeric = w.is_numeric != 0;
	s->fsum = w.fsum;
	if (w.iscale < 0 || w.iscale > RFM_MAX_SCALE)
		riq_state_corrupt("rfm_agg", "Its scale %d is out of range.", w.iscale);
	s->isum = w.isum;
	s->iscale = w.iscale;
	if (w.have_num)
	{
		Size		numlen = len - sizeof(w);
		bytea	   *num = palloc(VARHDRSZ + numlen);

		SET_VARSIZE(num, VARHDRSZ + numlen);
		memcpy(VARDATA(num), VARDATA_ANY(in) + sizeof(w), numlen);
		s->numstate = call_numeric_agg(numeric_avg_deserialize, fcinfo, 2,
									   PointerGetDatum(num), false, (Datum) 0, false, NULL);
		s->have_num = true;
	}
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(rfm_final);
Datum
rfm_final(PG_FUNCTION_ARGS)
{
	RfmState   *s = PG_ARGISNULL(0) ? NULL : (RfmState *) PG_GETARG_POINTER(0);
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	int64		days;

	/* a customer with no orders up to as_of has no RFM */
	if (s == NULL || s->count == 0)
		PG_RETURN_NULL();
	tupdesc = result_desc(fcinfo, "rfm_final");

	/* whole days from the last order to as_of, rounded down */
	days = (s->as_of - s->last) / USECS_PER_DAY;
	if (days > PG_INT32_MAX)
		days = PG_INT32_MAX;
	values[0] = Int32GetDatum((int32) days);
	values[1] = Int64GetDatum(s->count);
	if (s->is_numeric)
	{
		bool		isnull;

		if (s->have_num)
		{
			values[2] = call_numeric_agg(numeric_sum, fcinfo, 1, s->numstate, false,
										 (Datum) 0, true, &isnull);
			nulls[2] = isnull;
		}
		else
			values[2] = NumericGetDatum(scaled_numeric(s->isum, s->iscale));
	}
	else
		values[2] = DirectFunctionCall1(float8_numeric, Float8GetDatum(s->fsum));
	values[3] = TimestampTzGetDatum(s->first);
	values[4] = TimestampTzGetDatum(s->last);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* ----------------------------------------------------------------------------------
 * rfm_breaks(rfm [, bins])
 * ---------------------------------------------------------------------------------- */

typedef struct BreaksState
{
	int32		bins;
	int64		n;
	int64		cap;
	double	   *v;				/* 3 x cap: recency, frequency, monetary */
} BreaksState;

static void
breaks_grow(BreaksState *s, MemoryContext cxt, int64 need)
{
	int64		newcap;
	double	   *nv;

	if (need <= s->cap)
		return;
	newcap = Max(need, Max(s->cap * 2, 256));
	riq_memory_check(cxt, riq_mul_size((Size) newcap, 3 * sizeof(double), "rfm_breaks"),
					 "rfm_breaks");
	nv = MemoryContextAllocHuge(cxt, sizeof(double) * 3 * (Size) newcap);
	if (s->v)
	{
		for (int q = 0; q < 3; q++)
			memcpy(nv + q * newcap, s->v + q * s->cap, sizeof(double) * s->n);
		pfree(s->v);
	}
	s->v = nv;
	s->cap = newcap;
}

static int32
check_bins(int32 bins)
{
	if (bins < 2 || bins > RFM_MAX_BINS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be between 2 and %d", RFM_MAX_BINS),
				 errdetail("bins is %d.", bins),
				 errhint("5 bins (quintiles) is the usual choice; scores are single digits.")));
	return bins;
}

PG_FUNCTION_INFO_V1(rfm_breaks_accum);
Datum
rfm_breaks_accum(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "rfm_breaks");
	BreaksState *s = PG_ARGISNULL(0) ? NULL : (BreaksState *) PG_GETARG_POINTER(0);
	int32		bins = 5;
	HeapTupleHeader t;
	bool		nulls[3];
	Datum		fields[3];
	Datum		r,
				f,
				m;

	if (PG_NARGS() > 2)
	{
		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("bins must not be NULL"),
					 errhint("Leave bins out for quintiles.")));
		bins = PG_GETARG_INT32(2);
	}
	if (s == NULL)
	{
		s = MemoryContextAllocZero(cxt, sizeof(BreaksState));
		s->bins = check_bins(bins);
	}
	else if (s->bins != bins)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be the same for every row"),
				 errhint("Pass bins as a constant.")));
	/* customers without orders (a NULL rfm) are left out */
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	t = PG_GETARG_HEAPTUPLEHEADER(1);
	rfm_fields(fcinfo, t, fields, nulls);
	r = fields[0];
	f = fields[1];
	m = fields[2];
	if (nulls[0] || nulls[1] || nulls[2])
		PG_RETURN_POINTER(s);
	breaks_grow(s, cxt, s->n + 1);
	s->v[s->n] = (double) DatumGetInt32(r);
	s->v[s->cap + s->n] = (double) DatumGetInt64(f);
	s->v[2 * s->cap + s->n] = rfm_numeric_float8(m);
	s->n++;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(rfm_breaks_combine);
Datum
rfm_breaks_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "rfm_breaks_combine");
	BreaksState *a = PG_ARGISNULL(0) ? NULL : (BreaksState *) PG_GETARG_POINTER(0);
	BreaksState *b = PG_ARGISNULL(1) ? NULL : (BreaksState *) PG_GETARG_POINTER(1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		a = MemoryContextAllocZero(cxt, sizeof(BreaksState));
		a->bins = b->bins;
	}
	else if (a->bins != b->bins)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be the same for every row"),
				 errhint("Pass bins as a constant.")));
	breaks_grow(a, cxt, a->n + b->n);
	for (int q = 0; q < 3; q++)
		memcpy(a->v + q * a->cap + a->n, b->v + q * b->cap, sizeof(double) * b->n);
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(rfm_breaks_serialize);
Datum
rfm_breaks_serialize(PG_FUNCTION_ARGS)
{
	BreaksState *s = (BreaksState *) PG_GETARG_POINTER(0);
	Size		body = sizeof(int64) * 2 + riq_mul_size((Size) s->n, 3 * sizeof(double), "rfm_breaks state");
	bytea	   *out;
	char	   *p;
	int64		bins = s->bins;

	(void) riq_agg_context(fcinfo, "rfm_breaks_serialize");
	if (!AllocSizeIsValid(VARHDRSZ + body))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rfm_breaks state of a parallel worker exceeds 1 GB"),
				 errhint("Run rfm_breaks with more parallel workers, or serially.")));
	out = palloc(VARHDRSZ + body);
	SET_VARSIZE(out, VARHDRSZ + body);
	p = VARDATA(out);
	memcpy(p, &bins, sizeof(int64));
	memcpy(p + sizeof(int64), &s->n, sizeof(int64));
	p += 2 * sizeof(int64);
	for (int q = 0; q < 3; q++)
	{
		memcpy(p, s->v + q * s->cap, sizeof(double) * s->n);
		p += sizeof(double) * s->n;
	}
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(rfm_breaks_deserialize);
Datum
rfm_breaks_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = riq_agg_context(fcinfo, "rfm_breaks_deserialize");
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	const char *p = VARDATA_ANY(in);
	Size		len = VARSIZE_ANY_EXHDR(in);
	int64		bins,
				n;
	BreaksState *s;

	if (len < 2 * sizeof(int64))
		riq_state_corrupt("rfm_breaks", "It is %zu bytes long, shorter than its header.", (Size) len);
	memcpy(&bins, p, sizeof(int64));
	memcpy(&n, p + sizeof(int64), sizeof(int64));
	if (n < 0 || (Size) n > (len - 2 * sizeof(int64)) / (3 * sizeof(double)) ||
		len != 2 * sizeof(int64) + (Size) n * 3 * sizeof(double))
		riq_state_corrupt("rfm_breaks", "Its row count " INT64_FORMAT " does not match its %zu bytes.", n, (Size) len);
	p += 2 * sizeof(int64);
	s = MemoryContextAllocZero(cxt, sizeof(BreaksState));
	s->bins = (int32) bins;
	breaks_grow(s, cxt, Max(n, 1));
	for (int q = 0; q < 3; q++)
	{
		memcpy(s->v + q * s->cap, p, sizeof(double) * n);
		p += sizeof(double) * n;
	}
	s->n = n;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(rfm_breaks_final);
Datum
rfm_breaks_final(PG_FUNCTION_ARGS)
{
	BreaksState *s = PG_ARGISNULL(0) ? NULL : (BreaksState *) PG_GETARG_POINTER(0);
	int			nb;
	Datum	   *elems;
	int			dims[2];
	int			lbs[2] = {1, 1};

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	nb = s->bins - 1;
	elems = palloc(sizeof(Datum) * 3 * nb);
	for (int q = 0; q < 3; q++)
	{
		double	   *v = s->v + q * s->cap;

		CHECK_FOR_INTERRUPTS();
		qsort(v, s->n, sizeof(double), riq_cmp_double);
		for (int j = 1; j <= nb; j++)
		{
			/* percentile_disc(p): the first value whose cumulative share reaches p */
			double		p = (double) j / (double) s->bins;
			int64		row = (int64) ceil(p * (double) s->n);

			if (row < 1)
				row = 1;
			if (row > s->n)
				row = s->n;
			elems[q * nb + j - 1] = Float8GetDatum(v[row - 1]);
		}
	}
	dims[0] = 3;
	dims[1] = nb;
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, NULL, 2, dims, lbs, FLOAT8OID,
											 sizeof(double), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* ----------------------------------------------------------------------------------
 * rfm_score(rfm, breaks)
 * ---------------------------------------------------------------------------------- */

/*
 * The segment of an (R, FM) pair on the 1..5 scale, FM = round-half-up((F + M) / 2).
 * Every one of the 25 cells has exactly one segment (doc/segment.md shows the grid).
 */
static const char *
rfm_segment_name(int r, int fm)
{
	if (r <= 2)
	{
		if (fm == 5)
			return "Can't Lose Them";
		if (fm >= 3)
			return "At Risk";
		if (r == 1 && fm == 1)
			return "Lost";
		return "Hibernating";
	}
	if (r == 3)
	{
		if (fm <= 2)
			return "About to Sleep";
		if (fm == 3)
			return "Need Attention";
		return "Loyal";
	}
	if (r == 4)
	{
		if (fm == 1)
			return "Promising";
		if (fm <= 3)
			return "Potential Loyalist";
		return "Loyal";
	}
	if (fm == 1)
		return "New";
	if (fm <= 3)
		return "Potential Loyalist";
	return "Champions";
}

static int
count_above(double x, const double *b, int nb)
{
	int			c = 0;

	for (int j = 0; j < nb; j++)
		if (x > b[j])
			c++;
	return c;
}

PG_FUNCTION_INFO_V1(rfm_score);
Datum
rfm_score(PG_FUNCTION_ARGS)
{
	HeapTupleHeader t = PG_GETARG_HEAPTUPLEHEADER(0);
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	bool		fnulls[3];
	Datum		fields[3];
	Datum		rd,
				fd,
				md;
	const double *b;
	int			nb,
				bins,
				r,
				f,
				m;
	char		code[4];

	if (ARR_ELEMTYPE(a) != FLOAT8OID || ARR_NDIM(a) != 2 || ARR_DIMS(a)[0] != 3 ||
		ARR_DIMS(a)[1] < 1 || ARR_DIMS(a)[1] > RFM_MAX_BINS - 1 || ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("breaks must be a float8[3][bins - 1] array without NULLs"),
				 errhint("Pass the value of retailiq.rfm_breaks().")));
	nb = ARR_DIMS(a)[1];
	bins = nb + 1;
	b = (const double *) ARR_DATA_PTR(a);
	for (int q = 0; q < 3; q++)
		for (int j = 0; j < nb; j++)
			if (!isfinite(b[q * nb + j]) || (j > 0 && b[q * nb + j] < b[q * nb + j - 1]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("breaks must be finite and ascending along each row"),
						 errhint("Pass the value of retailiq.rfm_breaks().")));

	rfm_fields(fcinfo, t, fields, fnulls);
	rd = fields[0];
	fd = fields[1];
	md = fields[2];
	if (fnulls[0] || fnulls[1] || fnulls[2])
		PG_RETURN_NULL();

	r = bins - count_above((double) DatumGetInt32(rd), b, nb);
	f = 1 + count_above((double) DatumGetInt64(fd), b + nb, nb);
	m = 1 + count_above(rfm_numeric_float8(md), b + 2 * nb, nb);
	snprintf(code, sizeof(code), "%d%d%d", r, f, m);

	tupdesc = result_desc(fcinfo, "rfm_score");
	values[0] = Int32GetDatum(r);
	values[1] = Int32GetDatum(f);
	values[2] = Int32GetDatum(m);
	values[3] = CStringGetTextDatum(code);
	if (bins == 5)
		values[4] = CStringGetTextDatum(rfm_segment_name(r, (f + m + 1) / 2));
	else
		nulls[4] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

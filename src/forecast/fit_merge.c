/*
 * fit_merge.c: forecast_fit over a distributed table (fit_stage.h). The aggregate
 * retailiq_internal.forecast_fit_part runs the fit stage on one group of series (on a
 * Citus worker: one store's series, GROUP BY the distribution column) and returns it as a
 * flat value; retailiq_internal.forecast_fit_merge reads the groups' values on the
 * coordinator, puts their series in key order and runs the model stage, which gives the
 * model forecast_fit writes over all the rows (the fits are per series; the panel-wide steps
 * run once, over every series). What travels is per series its fit records, plan and key:
 * O(series), the size of the model, not of the rows.
 *
 * A part is read like any value from outside: every length and count against the real
 * size, every record's method, form and period against what a fit produces, and the model
 * written from the parts is read back with the model checks before it is returned.
 *
 * Layout (native byte order and struct layout: the parts are made and read by the same
 * build of retailiq, which Citus requires on every node):
 *   uint32 magic, uint32 format, uint32 sizeof(SeriesFit), uint32 sizeof(WarmPlan),
 *   int32 freq, int32 m, int32 ns, int32 nrec, int64 rows, int32 options length, options,
 *   then per series: int32 key length, key, int32 start, int32 len, int32 need, int32 keep,
 *   float8 vmae, int64 hash, WarmPlan, nrec SeriesFit.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include "core/model.h"
#include "forecast/fit_stage.h"
#include "forecast/local_model.h"

#define FIT_PART_MAGIC	0x52514650	/* "RQFP" */
#define FIT_PART_FORMAT 1

extern const ForecastMethod combo_method;

PG_FUNCTION_INFO_V1(forecast_fit_part_sfunc);
PG_FUNCTION_INFO_V1(forecast_fit_part_final);
PG_FUNCTION_INFO_V1(forecast_fit_merge);

/* (state, series, ts, y, method, options, previous model): forecast_fit's row, and the model
 * options.warm_start names, read on the coordinator and passed in */
Datum
forecast_fit_part_sfunc(PG_FUNCTION_ARGS)
{
	SeriesCollector *st = forecast_fit_collect_row(fcinfo);

	if (!PG_ARGISNULL(6))
		series_collect_attach(st, PG_GETARG_BYTEA_P(6));
	PG_RETURN_POINTER(st);
}

Datum
forecast_fit_part_final(PG_FUNCTION_ARGS)
{
	SeriesCollector *st = PG_ARGISNULL(0) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(0);
	MemoryContext work,
				old;
	FitStage	fs;
	StringInfoData buf;
	bytea	   *result = NULL;

	work = AllocSetContextCreate(CurrentMemoryContext, "forecast_fit_part", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	if (forecast_fit_stage(st, series_collect_attached(st), &fs))
	{
		uint32		head[4] = {FIT_PART_MAGIC, FIT_PART_FORMAT, sizeof(SeriesFit), sizeof(WarmPlan)};
		int32		dims[4] = {(int32) fs.freq, fs.m, fs.ns, fs.nrec};
		int32		olen = (int32) strlen(fs.opts);

		initStringInfo(&buf);
		appendBinaryStringInfo(&buf, (char *) head, sizeof(head));
		appendBinaryStringInfo(&buf, (char *) dims, sizeof(dims));
		appendBinaryStringInfo(&buf, (char *) &fs.rows, sizeof(int64));
		appendBinaryStringInfo(&buf, (char *) &olen, sizeof(int32));
		appendBinaryStringInfo(&buf, fs.opts, olen);
		for (int i = 0; i < fs.ns; i++)
		{
			int32		klen = (int32) strlen(fs.keys[i]);
			int32		v[4] = {fs.start[i], fs.len[i], fs.need[i], fs.keep[i] ? 1 : 0};

			CHECK_FOR_INTERRUPTS();
			appendBinaryStringInfo(&buf, (char *) &klen, sizeof(int32));
			appendBinaryStringInfo(&buf, fs.keys[i], klen);
			appendBinaryStringInfo(&buf, (char *) v, sizeof(v));
			appendBinaryStringInfo(&buf, (char *) &fs.vmae[i], sizeof(double));
			appendBinaryStringInfo(&buf, (char *) &fs.hash[i], sizeof(int64));
			appendBinaryStringInfo(&buf, (char *) &fs.plans[i], sizeof(WarmPlan));
			appendBinaryStringInfo(&buf, (char *) &fs.fits[(Size) i * fs.nrec], sizeof(SeriesFit) * fs.nrec);
		}
		MemoryContextSwitchTo(old);
		result = (bytea *) palloc(VARHDRSZ + buf.len);
		SET_VARSIZE(result, VARHDRSZ + buf.len);
		memcpy(VARDATA(result), buf.data, buf.len);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(result);
}

/* ---------- reading parts ---------- */

typedef struct PartReader
{
	const char *p;
	const char *end;
	int			part;			/* 1-based, for messages */
} PartReader;

static void pg_attribute_noreturn()
part_corrupt(const PartReader *r, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("forecast_fit_merge: part %d is corrupt", r->part),
			 errdetail("%s", what),
			 errhint("Pass the values retailiq_internal.forecast_fit_part returned, unchanged.")));
}

static void
part_take(PartReader *r, void *dst, Size n)
{
	if ((Size) (r->end - r->p) < n)
		part_corrupt(r, "It ends early.");
	memcpy(dst, r->p, n);
	r->p += n;
}

/* one series' record of a fit as a fit produces it (else the part is corrupt) */
static void
check_fit(const PartReader *r, const SeriesFit *f, int rec)
{
	if (f->method == 0)
		return;
	if (forecast_method_by_code(f->method) == NULL)
		part_corrupt(r, psprintf("Record %d has method code %d.", rec, f->method));
	if (f->m < 0 || f->m > FIT_MAX_M)
		part_corrupt(r, psprintf("Record %d has period %d.", rec, f->m));
	if (f->error < 0 || f->error > 2 || f->trend < 0 || f->trend > 2 || f->season < 0 || f->season > 2)
		part_corrupt(r, psprintf("Record %d has an invalid form.", rec));
	/*
	 * a combination's held-out multiples before the panel pools them, or (a warm start's
	 * kept fit) its global member's weight (combo.c)
	 */
	if (f->method == combo_method.code &&
		!(f->level >= 0 && f->level <= FIT_MAX_M && (f->level == floor(f->level) || f->level <= 1)))
		part_corrupt(r, psprintf("Record %d has %g held-out multiples.", rec, f->level));
}

/*
 * Read part `part` into fs (arrays allocated in the current context); the header must equal
 * first's when first is given.
 */
static void
part_read(bytea *v, int part, FitStage *fs, const FitStage *first)
{
	PartReader	r = {VARDATA_ANY(v), VARDATA_ANY(v) + VARSIZE_ANY_EXHDR(v), part};
	uint32		head[4];
	int32		dims[4],
				olen;
	Size		per;

	part_take(&r, head, sizeof(head));
	if (head[0] != FIT_PART_MAGIC || head[1] != FIT_PART_FORMAT)
		part_corrupt(&r, "It is not a forecast_fit_part value of this version of retailiq.");
	if (head[2] != sizeof(SeriesFit) || head[3] != sizeof(WarmPlan))
		part_corrupt(&r, "It was written by another build of retailiq.");
	part_take(&r, dims, sizeof(dims));
	part_take(&r, &fs->rows, sizeof(int64));
	part_take(&r, &olen, sizeof(int32));
	if ((dims[0] != FREQ_DAY && dims[0] != FREQ_WEEK && dims[0] != FREQ_MONTH) ||
		dims[1] < 1 || dims[1] > 1000 || dims[2] < 0 || dims[3] < 1 || dims[3] > FORECAST_MAX_RECORDS ||
		fs->rows < 0 || olen < 0 || olen > r.end - r.p)
		part_corrupt(&r, "Its header is invalid.");
	fs->freq = (ForecastFreq) dims[0];
	fs->m = dims[1];
	fs->ns = dims[2];
	fs->nrec = dims[3];
	fs->opts = pnstrdup(r.p, olen);
	if (strlen(fs->opts) != (Size) olen || strchr(fs->opts, '\n') == NULL)
		part_corrupt(&r, "Its options are invalid.");
	r.p += olen;
	if (first != NULL &&
		(strcmp(first->opts, fs->opts) != 0 || first->freq != fs->freq || first->m != fs->m ||
		 first->nrec != fs->nrec))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("forecast_fit_merge: part %d was fitted differently from part 1", part),
				 errdetail("Part 1: %s, season %d, %s; part %d: %s, season %d, %s.",
						   series_freq_name(first->freq), first->m, first->opts, part,
						   series_freq_name(fs->freq), fs->m, fs->opts),
				 errhint("Every part must be fitted with the same method and options on data of the same frequency.")));
	/* each series takes at least its fixed fields: the count cannot exceed what is there */
	per = sizeof(int32) * 5 + sizeof(double) + sizeof(int64) + sizeof(WarmPlan) + sizeof(SeriesFit) * fs->nrec;
	if ((Size) fs->ns > (Size) (r.end - r.p) / per)
		part_corrupt(&r, psprintf("It is too short for %d series.", fs->ns));
	fs->keys = palloc(sizeof(char *) * Max(fs->ns, 1));
	fs->start = palloc(sizeof(int32) * Max(fs->ns, 1));
	fs->len = palloc(sizeof(int32) * Max(fs->ns, 1));
	fs->need = palloc(sizeof(int) * Max(fs->ns, 1));
	fs->keep = palloc(sizeof(bool) * Max(fs->ns, 1));
	fs->vmae = palloc(sizeof(double) * Max(fs->ns, 1));
	fs->hash = palloc(sizeof(int64) * Max(fs->ns, 1));
	fs->plans = palloc(sizeof(WarmPlan) * Max(fs->ns, 1));
	fs->fits = palloc(sizeof(SeriesFit) * Max(fs->ns, 1) * fs->nrec);
	for (int i = 0; i < fs->ns; i++)
	{
		int32		klen,
					v[4];
		WarmPlan   *pl = &fs->plans[i];

		CHECK_FOR_INTERRUPTS();
		part_take(&r, &klen, sizeof(int32));
		if (klen < 0 || klen > r.end - r.p)
			part_corrupt(&r, psprintf("Series %d has key length %d.", i + 1, klen));
		fs->keys[i] = pnstrdup(r.p, klen);
		if (strlen(fs->keys[i]) != (Size) klen)
			part_corrupt(&r, psprintf("Series %d's key holds a zero byte.", i + 1));
		r.p += klen;
		if (i > 0 && strcmp(fs->keys[i - 1], fs->keys[i]) >= 0)
			part_corrupt(&r, psprintf("Series %d is out of key order.", i + 1));
		part_take(&r, v, sizeof(v));
		if (!IS_VALID_DATE(v[0]) || v[1] < 1 || v[2] < 0 || (v[3] != 0 && v[3] != 1))
			part_corrupt(&r, psprintf("Series %d has an invalid start, length or status.", i + 1));
		fs->start[i] = v[0];
		fs->len[i] = v[1];
		fs->need[i] = v[2];
		fs->keep[i] = v[3] == 1;
		part_take(&r, &fs->vmae[i], sizeof(double));
		part_take(&r, &fs->hash[i], sizeof(int64));
		part_take(&r, pl, sizeof(WarmPlan));
		if (pl->status < 0 || pl->status >= WARM_NSTATUS || !IS_VALID_DATE(pl->selected))
			part_corrupt(&r, psprintf("Series %d has an invalid warm-start plan.", i + 1));
		part_take(&r, &fs->fits[(Size) i * fs->nrec], sizeof(SeriesFit) * fs->nrec);
		for (int k = 0; k < fs->nrec; k++)
			check_fit(&r, &fs->fits[(Size) i * fs->nrec + k], k + 1);
		if (fs->keep[i] && fs->fits[(Size) i * fs->nrec].method == 0)
			part_corrupt(&r, psprintf("Series %d is kept without a fit.", i + 1));
	}
	if (r.p != r.end)
		part_corrupt(&r, "It has bytes after its last series.");
}

/* the series of all parts in key order: (part, index) pairs */
typedef struct SeriesRef
{
	const char *key;
	int			part;
	int			i;
} SeriesRef;

static int
ref_cmp(const void *a, const void *b)
{
	return strcmp(((const SeriesRef *) a)->key, ((const SeriesRef *) b)->key);
}

/*
 * forecast_fit_merge(parts bytea[]) -> model: the model forecast_fit writes over the rows
 * the parts were fitted on (NULL parts are skipped; NULL when every part is). The parts'
 * series must be disjoint: a series in two parts is an error (22023), as is a part fitted
 * with other options or on data of another frequency.
 */
Datum
forecast_fit_merge(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				np = 0,
				total = 0;
	FitStage   *parts,
				all;
	SeriesRef  *refs;
	MemoryContext work,
				old;
	bytea	   *model,
			   *result;
	ModelView  *mv;
	StatModel	sm;

	if (ARR_ELEMTYPE(a) != BYTEAOID || ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parts must be a one-dimensional bytea array"),
				 errhint("Pass array_agg of retailiq_internal.forecast_fit_part's values.")));
	work = AllocSetContextCreate(CurrentMemoryContext, "forecast_fit_merge", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	deconstruct_array(a, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	parts = palloc0(sizeof(FitStage) * Max(n, 1));
	for (int k = 0; k < n; k++)
	{
		if (nulls[k])
			continue;
		part_read(DatumGetByteaPP(elems[k]), k + 1, &parts[np], np > 0 ? &parts[0] : NULL);
		if (parts[np].ns > PG_INT32_MAX - total)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("forecast_fit_merge: more than %d series", PG_INT32_MAX),
					 errhint("Fit fewer series per model.")));
		total += parts[np].ns;
		np++;
	}
	if (np == 0)
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(work);
		PG_RETURN_NULL();
	}
	refs = palloc(sizeof(SeriesRef) * Max(total, 1));
	total = 0;
	for (int p = 0; p < np; p++)
		for (int i = 0; i < parts[p].ns; i++)
		{
			refs[total].key = parts[p].keys[i];
			refs[total].part = p;
			refs[total].i = i;
			total++;
		}
	qsort(refs, total, sizeof(SeriesRef), ref_cmp);
	all = parts[0];
	all.ns = total;
	all.rows = 0;
	for (int p = 0; p < np; p++)
		all.rows += parts[p].rows;
	all.keys = palloc(sizeof(char *) * Max(total, 1));
	all.start = palloc(sizeof(int32) * Max(total, 1));
	all.len = palloc(sizeof(int32) * Max(total, 1));
	all.need = palloc(sizeof(int) * Max(total, 1));
	all.keep = palloc(sizeof(bool) * Max(total, 1));
	all.vmae = palloc(sizeof(double) * Max(total, 1));
	all.hash = palloc(sizeof(int64) * Max(total, 1));
	all.plans = palloc(sizeof(WarmPlan) * Max(total, 1));
	all.fits = palloc(sizeof(SeriesFit) * Max(total, 1) * all.nrec);
	for (int t = 0; t < total; t++)
	{
		const FitStage *ps = &parts[refs[t].part];
		int			i = refs[t].i;

		CHECK_FOR_INTERRUPTS();
		if (t > 0 && strcmp(refs[t - 1].key, refs[t].key) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("forecast_fit_merge: series \"%s\" is in more than one part", refs[t].key),
					 errhint("Group the rows so that each series is in one group (a series is one store's sales of a product: group by the store).")));
		all.keys[t] = ps->keys[i];
		all.start[t] = ps->start[i];
		all.len[t] = ps->len[i];
		all.need[t] = ps->need[i];
		all.keep[t] = ps->keep[i];
		all.vmae[t] = ps->vmae[i];
		all.hash[t] = ps->hash[i];
		all.plans[t] = ps->plans[i];
		memcpy(&all.fits[(Size) t * all.nrec], &ps->fits[(Size) i * all.nrec], sizeof(SeriesFit) * all.nrec);
	}
	model = forecast_fit_model(&all);
	/* what was written from the parts is read back as any model a forecast reads */
	mv = model_open(model, MODEL_KIND_ANY);
	local_model_read(mv, &sm);
	MemoryContextSwitchTo(old);
	result = (bytea *) palloc(VARSIZE(model));
	memcpy(result, model, VARSIZE(model));
	MemoryContextDelete(work);
	PG_RETURN_BYTEA_P(result);
}

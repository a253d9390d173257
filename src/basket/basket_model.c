/*
 * basket_model.c: association rules as a retailiq.model value (kind assoc_rules), so a rule
 * set can be saved under a name and version with retailiq.save_model, checked by its
 * checksum, and turned back into the rule array that retailiq.recommend reads.
 *
 * Layout: params item_type ('text' or 'bigint'); metrics rules (their number); data
 * antecedent_len and consequent_len (items per rule), items (every rule's antecedent then
 * consequent items, in order), and one array per measure: support, confidence, lift,
 * leverage, conviction, count.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "basket/basket.h"
#include "core/memory.h"
#include "core/model.h"

PG_FUNCTION_INFO_V1(basket_rules_model);
PG_FUNCTION_INFO_V1(basket_model_rules);

static const char *const measure_names[5] = {"support", "confidence", "lift", "leverage", "conviction"};

static BasketItemType
rule_item_type(Oid composite)
{
	TupleDesc	desc = lookup_rowtype_tupdesc(composite, -1);
	Oid			t = desc->natts == 8 ? TupleDescAttr(desc, 0)->atttypid : InvalidOid;

	ReleaseTupleDesc(desc);
	if (t == TEXTARRAYOID)
		return BASKET_TEXT;
	if (t == INT8ARRAYOID)
		return BASKET_INT8;
	elog(ERROR, "basket rule functions need retailiq.rule or retailiq.rule_bigint");
	return BASKET_TEXT;			/* keep the compiler quiet */
}

static Datum
rule_field(HeapTupleHeader th, int attno, const char *name, int64 rule)
{
	bool		isnull;
	Datum		d = GetAttributeByNum(th, attno, &isnull);

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rules must not have NULL fields"),
				 errdetail("Rule %lld has a NULL %s.", (long long) rule + 1, name),
				 errhint("Pass the array that retailiq.assoc_rules returned.")));
	return d;
}

Datum
basket_rules_model(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	BasketItemType t = rule_item_type(elemtype);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				dims[1];
	int64	   *alen,
			   *clen,
			   *count,
			   *ival = NULL;
	const char **tval = NULL;
	double	   *measures[5];
	int64		nitems = 0,
				itemcap = 64;
	ModelBuilder *b;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("rules must be a one-dimensional array"),
				 errhint("Pass the array that retailiq.assoc_rules returned.")));
	deconstruct_array(arr, elemtype, -1, false, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	alen = palloc(sizeof(int64) * Max(n, 1));
	clen = palloc(sizeof(int64) * Max(n, 1));
	count = palloc(sizeof(int64) * Max(n, 1));
	for (i = 0; i < 5; i++)
		measures[i] = palloc(sizeof(double) * Max(n, 1));
	if (t == BASKET_INT8)
		ival = palloc(sizeof(int64) * itemcap);
	else
		tval = palloc(sizeof(char *) * itemcap);

	for (i = 0; i < n; i++)
	{
		HeapTupleHeader th;
		int			side,
					m;

		if ((i & 0x3ff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("rules must not contain NULL"),
					 errdetail("Element %d is NULL.", i + 1),
					 errhint("Pass the array that retailiq.assoc_rules returned.")));
		th = DatumGetHeapTupleHeader(elems[i]);
		for (side = 0; side < 2; side++)
		{
			ArrayType  *items = DatumGetArrayTypeP(rule_field(th, side + 1, side ? "consequent" : "antecedent", i));
			Datum	   *iv;
			bool	   *inull;
			int			k;

			if (t == BASKET_INT8)
				deconstruct_array(items, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &iv, &inull, &m);
			else
				deconstruct_array(items, TEXTOID, -1, false, TYPALIGN_INT, &iv, &inull, &m);
			if (side == 1 && m == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a rule must have a consequent"),
						 errdetail("Rule %d has an empty consequent.", i + 1),
						 errhint("Pass the array that retailiq.assoc_rules returned.")));
			while (nitems + m > itemcap)
			{
				itemcap *= 2;
				if (t == BASKET_INT8)
					ival = repalloc_huge(ival, sizeof(int64) * itemcap);
				else
					tval = repalloc_huge(tval, sizeof(char *) * itemcap);
			}
			for (k = 0; k < m; k++)
			{
				if (inull[k])
					ereport(ERROR,
							(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							 errmsg("rules must not contain NULL items"),
							 errdetail("Rule %d has a NULL item.", i + 1),
							 errhint("Pass the array that retailiq.assoc_rules returned.")));
				if (t == BASKET_INT8)
					ival[nitems++] = DatumGetInt64(iv[k]);
				else
					tval[nitems++] = TextDatumGetCString(iv[k]);
			}
			if (side == 0)
				alen[i] = m;
			else
				clen[i] = m;
		}
		for (side = 0; side < 5; side++)
			measures[side][i] = DatumGetFloat8(rule_field(th, side + 3, measure_names[side], i));
		count[i] = DatumGetInt64(rule_field(th, 8, "count", i));
	}
	if (nitems > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rule items for one model"),
				 errhint("Raise min_support or min_confidence when mining the rules.")));

	b = model_begin(MODEL_KIND_ASSOC_RULES);
	model_put_text(b, MODEL_PARAMS, "item_type", t == BASKET_INT8 ? "bigint" : "text");
	model_put_int(b, MODEL_METRICS, "rules", n);
	dims[0] = n;
	model_put_int_array(b, MODEL_DATA, "antecedent_len", alen, 1, dims);
	model_put_int_array(b, MODEL_DATA, "consequent_len", clen, 1, dims);
	for (i = 0; i < 5; i++)
		model_put_float_array(b, MODEL_DATA, measure_names[i], measures[i], 1, dims);
	model_put_int_array(b, MODEL_DATA, "count", count, 1, dims);
	dims[0] = (int) nitems;
	if (t == BASKET_INT8)
		model_put_int_array(b, MODEL_DATA, "items", ival, 1, dims);
	else
		model_put_text_array(b, MODEL_DATA, "items", tval, (int) nitems);
	PG_RETURN_BYTEA_P(model_finish(b));
}

Datum
basket_model_rules(PG_FUNCTION_ARGS)
{
	ModelView  *mv = model_open_cached(fcinfo, 0, MODEL_KIND_ASSOC_RULES);
	Oid			rettype = get_fn_expr_rettype(fcinfo->flinfo);
	Oid			elemtype = OidIsValid(rettype) ? get_element_type(rettype) : InvalidOid;
	BasketItemType want,
				have;
	char	   *item_type = model_get_text(mv, MODEL_PARAMS, "item_type");
	int64		n = model_get_int(mv, MODEL_METRICS, "rules");
	int			dims[1],
				nitems,
				i,
				j;
	int64	   *alen,
			   *clen,
			   *count,
			   *ival = NULL;
	char	  **tval = NULL;
	double	   *measures[5];
	int64		pos = 0;
	Datum	   *rows;
	TupleDesc	desc;

	if (!OidIsValid(elemtype))
		elog(ERROR, "model_rules must return an array of rules");
	want = rule_item_type(elemtype);
	if (strcmp(item_type, "text") == 0)
		have = BASKET_TEXT;
	else if (strcmp(item_type, "bigint") == 0)
		have = BASKET_INT8;
	else
		model_corrupt(mv, "item_type is \"%s\", not text or bigint.", item_type);
	if (want != have)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model holds %s items", item_type),
				 errhint("Use retailiq.%s(model).", have == BASKET_INT8 ? "model_rules_bigint" : "model_rules")));
	if (n < 0 || n > PG_INT32_MAX)
		model_corrupt(mv, "rules is " INT64_FORMAT ".", n);

	dims[0] = (int) n;
	alen = model_get_int_array(mv, MODEL_DATA, "antecedent_len", 1, dims);
	clen = model_get_int_array(mv, MODEL_DATA, "consequent_len", 1, dims);
	for (i = 0; i < 5; i++)
		measures[i] = model_get_float_array(mv, MODEL_DATA, measure_names[i], 1, dims);
	count = model_get_int_array(mv, MODEL_DATA, "count", 1, dims);
	dims[0] = -1;
	if (have == BASKET_INT8)
	{
		ival = model_get_int_array(mv, MODEL_DATA, "items", 1, dims);
		nitems = dims[0];
	}
	else
		tval = model_get_text_array(mv, MODEL_DATA, "items", &nitems);
	for (i = 0; i < n; i++)
	{
		if (alen[i] < 0 || clen[i] < 1 || alen[i] > nitems - pos || clen[i] > nitems - pos - alen[i])
			model_corrupt(mv, "rule %d's item counts do not fit the items.", i + 1);
		pos += alen[i] + clen[i];
	}
	if (pos != nitems)
		model_corrupt(mv, "the rules use " INT64_FORMAT " of %d items.", pos, nitems);

	desc = lookup_rowtype_tupdesc_copy(elemtype, -1);
	rows = palloc(sizeof(Datum) * Max(n, 1));
	pos = 0;
	for (i = 0; i < n; i++)
	{
		Datum		values[8];
		bool		isnull[8] = {false, false, false, false, false, false, false, false};
		int			side;

		if ((i & 0x3ff) == 0)
			CHECK_FOR_INTERRUPTS();
		for (side = 0; side < 2; side++)
		{
			int			m = (int) (side ? clen[i] : alen[i]);
			Datum	   *d = palloc(sizeof(Datum) * Max(m, 1));

			for (j = 0; j < m; j++)
				d[j] = have == BASKET_INT8 ? Int64GetDatum(ival[pos + j])
					: CStringGetTextDatum(tval[pos + j]);
			pos += m;
			values[side] = PointerGetDatum(have == BASKET_INT8
										   ? construct_array(d, m, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)
										   : construct_array(d, m, TEXTOID, -1, false, TYPALIGN_INT));
		}
		for (side = 0; side < 5; side++)
			values[side + 2] = Float8GetDatum(measures[side][i]);
		values[7] = Int64GetDatum(count[i]);
		rows[i] = HeapTupleGetDatum(heap_form_tuple(desc, values, isnull));
	}
	if (n == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(elemtype));
	PG_RETURN_ARRAYTYPE_P(construct_array(rows, (int) n, elemtype, -1, false, TYPALIGN_DOUBLE));
}

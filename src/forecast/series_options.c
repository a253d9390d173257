/*
 * series_options.c: the options dialect every forecasting aggregate shares: reading a key
 * (a JSON null is the default), refusing a misspelt key, the collector's own options
 * (gaps, allow_negative, min_length), and carrying the method and options of a group's
 * rows into the collector without building text per row.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "forecast/series.h"

void
series_check_option_keys(Jsonb *jb, const char *const *keys, const char *fname)
{
	static const char *const collector_keys[] = {"gaps", "allow_negative", "min_length",
	"duplicates", NULL};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			level = 0;

	if (jb == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("For example '{\"horizon\": 14, \"seed\": 7}'.")));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
			level++;
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			level--;
		else if (tok == WJB_KEY && level == 1)
		{
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);
			bool		ok = false;
			StringInfoData all;

			for (int i = 0; keys[i] && !ok; i++)
				ok = strcmp(key, keys[i]) == 0;
			for (int i = 0; collector_keys[i] && !ok; i++)
				ok = strcmp(key, collector_keys[i]) == 0;
			if (ok)
				continue;
			initStringInfo(&all);
			for (int i = 0; keys[i]; i++)
				appendStringInfo(&all, "%s, ", keys[i]);
			appendStringInfoString(&all, "gaps, allow_negative, min_length and duplicates");
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown option \"%s\" for %s", key, fname),
					 errhint("The options are %s.", all.data)));
		}
	}
}

void
series_options_from_jsonb(Jsonb *options, SeriesOptions *opt)
{
	JsonbValue *v;

	opt->gaps = GAPS_ZERO;
	opt->allow_negative = false;
	opt->min_length = 1;
	opt->sum_duplicates = false;
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a jsonb object"),
				 errhint("Pass for instance '{\"gaps\": \"error\"}'::jsonb, or '{}'.")));
	if ((v = series_option_value(options, "gaps")) != NULL)
	{
		char	   *s = v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;

		if (s != NULL && strcmp(s, "zero") == 0)
			opt->gaps = GAPS_ZERO;
		else if (s != NULL && strcmp(s, "error") == 0)
			opt->gaps = GAPS_ERROR;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.gaps must be \"zero\" or \"error\""),
					 errhint("\"zero\" fills a missing period with 0, \"error\" refuses the series.")));
	}
	if ((v = series_option_value(options, "duplicates")) != NULL)
	{
		if (v->type == jbvString && v->val.string.len == 3 &&
			memcmp(v->val.string.val, "sum", 3) == 0)
			opt->sum_duplicates = true;
		else if (!(v->type == jbvString && v->val.string.len == 5 &&
				   memcmp(v->val.string.val, "error", 5) == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.duplicates must be \"error\" or \"sum\""),
					 errhint("\"sum\" adds up the rows of one series and date (their factors averaged), so the rows need no GROUP BY first; \"error\" refuses them.")));
	}
	if ((v = series_option_value(options, "allow_negative")) != NULL)
	{
		if (v->type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.allow_negative must be true or false")));
		opt->allow_negative = v->val.boolean;
	}
	if ((v = series_option_value(options, "min_length")) != NULL)
	{
		int32		n = 0;
		bool		ok = false;

		if (v->type == jbvNumeric)
		{
			Datum		d = DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric));
			double		f = DatumGetFloat8(d);

			if (f >= 1 && f <= 1e8 && f == floor(f))
			{
				n = (int32) f;
				ok = true;
			}
		}
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.min_length must be an integer between 1 and 100000000")));
		opt->min_length = n;
	}
}


/*
 * The method and options of the last row seen by this aggregate call, and the text the
 * collector keeps for them: rows with the same arguments (the usual case: constants) are
 * recognised by a byte comparison, so no text is built per row. The text is parsed into
 * the typed options once, by the final function.
 */
typedef struct FitArgCache
{
	text	   *method;
	Jsonb	   *options;		/* NULL when the row had none */
	char	   *canon;			/* method "\n" options text */
} FitArgCache;

static bool
same_varlena(const void *a, const void *b)
{
	if (a == NULL || b == NULL || a == b)
		return a == b;
	return VARSIZE_ANY(a) == VARSIZE_ANY(b) && memcmp(a, b, VARSIZE_ANY(a)) == 0;
}

void
series_collect_options_from_args(SeriesCollector *st, FunctionCallInfo fcinfo, int method_argno,
								 int options_argno)
{
	FitArgCache *c = (FitArgCache *) fcinfo->flinfo->fn_extra;
	text	   *method = method_argno > 0 ? PG_GETARG_TEXT_PP(method_argno) : NULL;
	Jsonb	   *options = PG_NARGS() > options_argno && !PG_ARGISNULL(options_argno) ?
		PG_GETARG_JSONB_P(options_argno) : NULL;
	MemoryContext old;
	StringInfoData buf;

	if (method == NULL && options == NULL)
		return;
	if (c != NULL && same_varlena(c->method, method) && same_varlena(c->options, options))
	{
		series_collect_set_options(st, c->canon);
		return;
	}
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (c == NULL)
		c = fcinfo->flinfo->fn_extra = palloc0(sizeof(FitArgCache));
	else
	{
		if (c->method)
			pfree(c->method);
		if (c->options)
			pfree(c->options);
		pfree(c->canon);
	}
	/* copies, not pnstrdup: a varlena header holds zero bytes */
	c->method = method ? memcpy(palloc(VARSIZE_ANY(method)), method, VARSIZE_ANY(method)) : NULL;
	c->options = options ? memcpy(palloc(VARSIZE(options)), options, VARSIZE(options)) : NULL;
	initStringInfo(&buf);
	if (method != NULL)
	{
		appendStringInfoString(&buf, text_to_cstring(method));
		appendStringInfoChar(&buf, '\n');
	}
	if (options != NULL)
		appendStringInfoString(&buf, JsonbToCString(NULL, &options->root, VARSIZE(options)));
	c->canon = buf.data;
	MemoryContextSwitchTo(old);
	series_collect_set_options(st, c->canon);
}


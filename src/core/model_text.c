/*
 * model_text.c: the text form of retailiq.model (its input and output functions) and
 * model_info.
 *
 * The text form is strict JSON, read by the server's own JSON parser (pg_parse_json), so
 * a model's text can be cast to json/jsonb and back. Floats are printed shortest-exact
 * (integral ones with a ".0", for the reader's eye), non-finite floats as the strings
 * "NaN", "Infinity" and "-Infinity", and the type of every field that is not a float
 * (int64, text, bool) is recorded in "types", so the types never hang on how a number is
 * spelt: jsonb, for one, prints 1e300 as 1000...0, with no '.', and it must still come
 * back a float. Example:
 *
 *   {"kind": "kmeans", "format": 1, "trained_at": "2026-11-23T10:00:00+00:00",
 *    "trained_by": "alice", "params": {"k": 2}, "metrics": {"inertia": 1.5},
 *    "data": {"centroids": [[0.0, 1.0], [2.0, 3.5]]}, "types": {"params": {"k": "int64"}}}
 *
 * Keys may come in any order. A text without "types" (hand-written, or printed before the
 * types were recorded) has its types inferred: strings are text, true/false bool, numbers
 * with a '.' or an exponent float8, other numbers int64, and an array of numbers may hold
 * the non-finite strings. The bare words NaN, Infinity and -Infinity of that older form are
 * still read, as floats. Printing a value and reading it back gives the same bytes.
 *
 * This file uses model.c's builder and reader; model.c never calls it.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"

#include "core/model.h"

static const ModelSection sections[] = {MODEL_PARAMS, MODEL_METRICS, MODEL_DATA};

static const char *
value_type_name(ModelValueType t)
{
	return t == MODEL_FLOAT8 ? "float8" : t == MODEL_INT64 ? "int64" : t == MODEL_TEXT ? "text" : "bool";
}

/* ---------- writing ---------- */

void
model_append_float(StringInfo buf, double v)
{
	char		tmp[32];
	int			len = double_to_shortest_decimal_buf(v, tmp);

	appendBinaryStringInfo(buf, tmp, len);
	if (strpbrk(tmp, ".eEIN") == NULL)
		appendStringInfoString(buf, ".0");
}

static void
append_element(StringInfo buf, const ModelEntry *e, const char **p)
{
	switch (e->type)
	{
		case MODEL_FLOAT8:
			{
				double		v = model_get_f64(*p);

				if (isfinite(v))
					model_append_float(buf, v);
				else
					appendStringInfo(buf, "\"%s\"", isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity"));
				*p += 8;
			}
			break;
		case MODEL_INT64:
			appendStringInfo(buf, INT64_FORMAT, (int64) model_get_u64(*p));
			*p += 8;
			break;
		case MODEL_BOOL:
			appendStringInfoString(buf, **p ? "true" : "false");
			*p += 1;
			break;
		case MODEL_TEXT:
			{
				uint32		len = model_get_u32(*p);
				char	   *s = pnstrdup(*p + 4, len);

				escape_json(buf, s);
				pfree(s);
				*p += 4 + len;
			}
			break;
	}
}

static void
append_value(StringInfo buf, const ModelEntry *e)
{
	const char *p = e->values;

	if (e->ndim == 0)
		append_element(buf, e, &p);
	else if (e->ndim == 1)
	{
		appendStringInfoChar(buf, '[');
		for (int64 i = 0; i < e->nelems; i++)
		{
			if (i > 0)
				appendStringInfoString(buf, ", ");
			append_element(buf, e, &p);
		}
		appendStringInfoChar(buf, ']');
	}
	else
	{
		appendStringInfoChar(buf, '[');
		for (int r = 0; r < e->dims[0]; r++)
		{
			CHECK_FOR_INTERRUPTS();
			appendStringInfoString(buf, r > 0 ? ", [" : "[");
			for (int c = 0; c < e->dims[1]; c++)
			{
				if (c > 0)
					appendStringInfoString(buf, ", ");
				append_element(buf, e, &p);
			}
			appendStringInfoChar(buf, ']');
		}
		appendStringInfoChar(buf, ']');
	}
}

/* "types": every field that is not float8, by section; sections without one left out */
static void
append_types(StringInfo buf, const ModelView *m)
{
	bool		first_section = true;

	appendStringInfoString(buf, ", \"types\": {");
	for (int s = 0; s < (int) lengthof(sections); s++)
	{
		bool		first = true;

		for (int i = 0; i < m->nentries; i++)
		{
			const ModelEntry *e = &m->entries[i];

			if (e->section != sections[s] || e->type == MODEL_FLOAT8)
				continue;
			if (first)
				appendStringInfo(buf, "%s\"%s\": {", first_section ? "" : ", ",
								 model_section_name(sections[s]));
			appendStringInfo(buf, "%s\"%s\": \"%s\"", first ? "" : ", ", e->key,
							 value_type_name(e->type));
			first = false;
			first_section = false;
		}
		if (!first)
			appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, '}');
}

/* The text form, or (info) model_info's summary: data arrays by type and shape. */
static void
append_model(StringInfo buf, const ModelView *m, bool info)
{
	char		ts[MAXDATELEN + 1];
	const int	utc = 0;

	appendStringInfoString(buf, "{\"kind\": ");
	escape_json(buf, model_kind_name(m->kind));
	appendStringInfo(buf, ", \"format\": %d, \"trained_at\": ", m->version);
	JsonEncodeDateTime(ts, TimestampTzGetDatum(m->trained_at), TIMESTAMPTZOID, &utc);
	escape_json(buf, ts);
	appendStringInfoString(buf, ", \"trained_by\": ");
	escape_json(buf, m->trained_by);
	if (info)
		appendStringInfo(buf, ", \"size_bytes\": %zu", (size_t) VARSIZE_ANY(m->raw));
	for (int s = 0; s < (int) lengthof(sections); s++)
	{
		bool		first = true;

		appendStringInfo(buf, ", \"%s\": {", model_section_name(sections[s]));
		for (int i = 0; i < m->nentries; i++)
		{
			const ModelEntry *e = &m->entries[i];

			if (e->section != sections[s])
				continue;
			appendStringInfo(buf, "%s\"%s\": ", first ? "" : ", ", e->key);
			first = false;
			if (info && e->section == MODEL_DATA && e->ndim > 0)
			{
				appendStringInfo(buf, "{\"type\": \"%s\", \"shape\": [", value_type_name(e->type));
				for (int d = 0; d < e->ndim; d++)
					appendStringInfo(buf, "%s%d", d ? ", " : "", e->dims[d]);
				appendStringInfoString(buf, "]}");
			}
			else
				append_value(buf, e);
		}
		appendStringInfoChar(buf, '}');
	}
	if (!info)
		append_types(buf, m);
	appendStringInfoChar(buf, '}');
}

PG_FUNCTION_INFO_V1(model_out);
Datum
model_out(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_model(&buf, model_open(PG_GETARG_MODEL_P(0), MODEL_KIND_ANY), false);
	PG_RETURN_CSTRING(buf.data);
}

PG_FUNCTION_INFO_V1(model_info);
Datum
model_info(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_model(&buf, model_open(PG_GETARG_MODEL_P(0), MODEL_KIND_ANY), true);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* ---------- reading ---------- */

/*
 * The parser's callbacks collect each field's tokens and shape; types are settled and
 * the model built only after the whole text is read, because "types" may come last.
 */
typedef struct TextField
{
	ModelSection section;
	char	   *key;
	int			ndim;
	int			dims[MODEL_MAX_NDIM];
	bool		row_seen;		/* in a 2-D array: the length of the first row is known */
	int			row_len;
	int			n;
	int			cap;
	char	  **tokens;
	JsonTokenType *token_types;
	const char *declared;		/* from "types", or NULL */
} TextField;

typedef enum TopKey
{
	TOP_NONE = -1,
	TOP_KIND,
	TOP_FORMAT,
	TOP_TRAINED_AT,
	TOP_TRAINED_BY,
	TOP_PARAMS,
	TOP_METRICS,
	TOP_DATA,
	TOP_TYPES,
	TOP_COUNT
} TopKey;

static const char *const top_names[TOP_COUNT] = {
	"kind", "format", "trained_at", "trained_by", "params", "metrics", "data", "types"
};

typedef struct TextState
{
	JsonLexContext *lex;
	int			depth;			/* objects open */
	int			array_depth;	/* arrays open inside the current field */
	bool		seen[TOP_COUNT];
	TopKey		top;			/* the top-level key whose value is being read */
	ModelSection types_section; /* inside "types": the section being described */
	char	   *types_key;		/* inside "types": the field being described */
	TextField  *cur;
	List	   *fields;
	List	   *type_entries;	/* "types" entries, as TextFields holding only section, key and declared type */
	char	   *top_values[TOP_COUNT];	/* scalar values of kind, format, trained_* */
	int		   *bare_ends;		/* where quote_bare_words put a closing quote */
	int			nbare;
	int			bare_next;
} TextState;

#define TEXT_FORM_HINT \
	errhint("The text form is what retailiq.model output prints: {\"kind\": ..., \"params\": {...}, \"metrics\": {...}, \"data\": {...}, \"types\": {...}}.")

/* what is wrong, and where: while parsing, the token being read */
static void pg_attribute_noreturn()
text_error(TextState *st, const char *what)
{
	if (st->lex->token_start == NULL || st->depth == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type retailiq.model"),
				 errdetail("%s.", what), TEXT_FORM_HINT));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type retailiq.model"),
			 errdetail("%s at character %d.", what,
					   (int) (st->lex->token_start - st->lex->input) + 1),
			 TEXT_FORM_HINT));
}

static ModelSection
section_of(TopKey k)
{
	return k == TOP_PARAMS ? MODEL_PARAMS : k == TOP_METRICS ? MODEL_METRICS : MODEL_DATA;
}

static bool
in_section(TextState *st)
{
	return st->top == TOP_PARAMS || st->top == TOP_METRICS || st->top == TOP_DATA;
}

static void
on_object_start(void *arg)
{
	TextState  *st = arg;

	st->depth++;
	/* the model itself, a section, or a section of "types": nothing deeper */
	if (st->depth == 1 ||
		(st->depth == 2 && (in_section(st) || st->top == TOP_TYPES)) ||
		(st->depth == 3 && st->top == TOP_TYPES && st->types_key == NULL &&
		 st->types_section != 0))
		return;
	text_error(st, st->depth == 2 ? "An object where a scalar was expected" :
			   "An object is not a model value");
}

static void
on_object_end(void *arg)
{
	TextState  *st = arg;

	st->depth--;
	if (st->depth == 1)
		st->top = TOP_NONE;
	else if (st->depth == 2 && st->top == TOP_TYPES)
		st->types_section = 0;
}

static void
on_field_start(void *arg, char *fname, bool isnull)
{
	TextState  *st = arg;

	if (st->depth == 1)
	{
		int			k;

		for (k = 0; k < TOP_COUNT; k++)
			if (strcmp(fname, top_names[k]) == 0)
				break;
		if (k == TOP_COUNT || st->seen[k])
		{
			char		what[128];

			snprintf(what, sizeof(what), "Unexpected or repeated key \"%.64s\"", fname);
			text_error(st, what);
		}
		st->seen[k] = true;
		st->top = (TopKey) k;
	}
	else if (st->depth == 2 && in_section(st))
	{
		TextField  *f = palloc0(sizeof(TextField));

		f->section = section_of(st->top);
		f->key = fname;
		st->cur = f;
		st->array_depth = 0;
		st->fields = lappend(st->fields, f);
	}
	else if (st->depth == 2)	/* in "types": a section name */
	{
		if (strcmp(fname, "params") == 0)
			st->types_section = MODEL_PARAMS;
		else if (strcmp(fname, "metrics") == 0)
			st->types_section = MODEL_METRICS;
		else if (strcmp(fname, "data") == 0)
			st->types_section = MODEL_DATA;
		else
			text_error(st, "\"types\" holds only params, metrics and data");
	}
	else
		st->types_key = fname;
}

static void
on_array_start(void *arg)
{
	TextState  *st = arg;
	TextField  *f = st->cur;

	if (st->depth != 2 || !in_section(st) || f == NULL)
		text_error(st, "An array where a scalar was expected");
	if (st->array_depth == 0)
		f->ndim = 1;
	else if (st->array_depth == 1)
	{
		if (f->ndim == 1 && f->dims[0] > 0)
			text_error(st, "The array mixes rows and values");
		f->ndim = 2;
		f->row_len = f->n;
	}
	else
		text_error(st, "Arrays nest at most two deep");
	st->array_depth++;
}

static void
on_array_end(void *arg)
{
	TextState  *st = arg;
	TextField  *f = st->cur;

	st->array_depth--;
	if (st->array_depth == 1)
	{
		int			len = f->n - f->row_len;

		if (f->row_seen && len != f->dims[1])
			text_error(st, "The rows of a two-dimensional array differ in length");
		f->dims[1] = len;
		f->row_seen = true;
		f->dims[0]++;
	}
}

static void
push_token(TextState *st, TextField *f, char *token, JsonTokenType type)
{
	if (f->n == f->cap)
	{
		f->cap = f->cap ? f->cap * 2 : 4;
		if ((Size) f->cap * sizeof(char *) >= MaxAllocSize)
			text_error(st, "The array is too large");
		f->tokens = f->tokens ? repalloc(f->tokens, f->cap * sizeof(char *)) :
			palloc(f->cap * sizeof(char *));
		f->token_types = f->token_types ?
			repalloc(f->token_types, f->cap * sizeof(JsonTokenType)) :
			palloc(f->cap * sizeof(JsonTokenType));
	}
	f->tokens[f->n] = token;
	f->token_types[f->n] = type;
	f->n++;
}

static void
on_scalar(void *arg, char *token, JsonTokenType type)
{
	TextState  *st = arg;

	CHECK_FOR_INTERRUPTS();
	if (type == JSON_TOKEN_STRING && st->bare_next < st->nbare)
	{
		/* the callback comes after the token: its end is the previous terminator */
		int			end = (int) (st->lex->prev_token_terminator - st->lex->input);

		while (st->bare_next < st->nbare && st->bare_ends[st->bare_next] < end)
			st->bare_next++;
		if (st->bare_next < st->nbare && st->bare_ends[st->bare_next] == end)
			type = JSON_TOKEN_NUMBER;	/* a bare word of the old form: a float */
	}
	if (type == JSON_TOKEN_NULL)
		text_error(st, "Null is not a model value");
	if (st->depth == 1)
	{
		/* kind, format, trained_at, trained_by: checked once the text is read */
		if (st->top == TOP_FORMAT ? type != JSON_TOKEN_NUMBER : type != JSON_TOKEN_STRING)
			text_error(st, st->top == TOP_FORMAT ? "Expected a number" :
					   st->top > TOP_TRAINED_BY ? "Expected an object" : "Expected a string");
		st->top_values[st->top] = token;
	}
	else if (st->depth == 2 && in_section(st))
	{
		TextField  *f = st->cur;

		if (st->array_depth == 1 && f->ndim == 2)
			text_error(st, "The array mixes rows and values");
		if (st->array_depth > 0 && (type == JSON_TOKEN_TRUE || type == JSON_TOKEN_FALSE))
			text_error(st, "Bool arrays are not allowed");
		push_token(st, f, token, type);
		if (st->array_depth == 1)
			f->dims[0]++;
	}
	else if (st->depth == 3 && type == JSON_TOKEN_STRING)
	{
		TextField  *t = palloc0(sizeof(TextField));

		t->section = st->types_section;
		t->key = st->types_key;
		t->declared = token;
		st->type_entries = lappend(st->type_entries, t);
		st->types_key = NULL;
	}
	else
		text_error(st, st->depth == 2 ? "Expected an object" : "A type is a string");
}

/* ----- settling types and building ----- */

static void pg_attribute_noreturn()
field_error(const TextField *f, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type retailiq.model"),
			 errdetail("The %s field \"%s\" %s.", model_section_name(f->section), f->key, what),
			 errhint("A float8 field holds numbers and \"NaN\", \"Infinity\" or \"-Infinity\"; "
					 "int64 fields, integers; text fields, strings; bool fields, true or false.")));
}

static bool
is_nonfinite_word(const char *s)
{
	return strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0;
}

/* The type written in "types", or, without one, the type the tokens spell. */
static ModelValueType
field_type(const TextField *f)
{
	bool		any_string = false,
				any_number = false,
				any_float = false;

	if (f->declared != NULL)
	{
		for (int t = MODEL_FLOAT8; t <= MODEL_BOOL; t++)
			if (strcmp(f->declared, value_type_name((ModelValueType) t)) == 0)
				return (ModelValueType) t;
		field_error(f, "has an unknown type in \"types\" (float8, int64, text or bool)");
	}
	if (f->n == 1 && f->ndim == 0 &&
		(f->token_types[0] == JSON_TOKEN_TRUE || f->token_types[0] == JSON_TOKEN_FALSE))
		return MODEL_BOOL;
	for (int i = 0; i < f->n; i++)
	{
		if (f->token_types[i] == JSON_TOKEN_STRING)
		{
			/* a non-finite word among numbers makes a float8 array */
			any_string |= !is_nonfinite_word(f->tokens[i]) || f->ndim == 0;
			any_float = true;
		}
		else
		{
			any_number = true;
			any_float |= strpbrk(f->tokens[i], ".eE") != NULL || is_nonfinite_word(f->tokens[i]);
		}
	}
	if (any_string)
		return MODEL_TEXT;
	return (any_float || !any_number) ? MODEL_FLOAT8 : MODEL_INT64;
}

static double
token_float(const TextField *f, int i)
{
	const char *s = f->tokens[i];
	double		v;

	if (f->token_types[i] == JSON_TOKEN_STRING || is_nonfinite_word(s))
	{
		if (!is_nonfinite_word(s))
			field_error(f, "is float8 and holds a string other than \"NaN\", \"Infinity\" or \"-Infinity\"");
		return s[0] == 'N' ? get_float8_nan() :
			s[0] == '-' ? -get_float8_infinity() : get_float8_infinity();
	}
	if (f->token_types[i] != JSON_TOKEN_NUMBER)
		field_error(f, "is float8 and holds a value that is not a number");
	/* strtod rounds correctly, so the shortest decimal of a double reads back exactly */
	errno = 0;
	v = strtod(s, NULL);
	if (errno == ERANGE && isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("number \"%s\" is out of range for a model float", s)));
	return v;
}

static int64
token_int(const TextField *f, int i)
{
	const char *s = f->tokens[i];
	int64		v;

	if (f->token_types[i] != JSON_TOKEN_NUMBER || strpbrk(s, ".eE") != NULL || is_nonfinite_word(s))
		field_error(f, "is int64 and holds a value that is not an integer");
	errno = 0;
	v = strtoi64(s, NULL, 10);
	if (errno == ERANGE)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("number \"%s\" is out of range for a model integer", s),
				 errhint("Declare the field float8 in \"types\" to store it as a float.")));
	return v;
}

static void
put_field(ModelBuilder *b, const TextField *f)
{
	ModelValueType t = field_type(f);
	int			dims[MODEL_MAX_NDIM] = {f->dims[0], f->dims[1]};

	if (t == MODEL_BOOL)
	{
		if (f->ndim != 0 || (f->token_types[0] != JSON_TOKEN_TRUE && f->token_types[0] != JSON_TOKEN_FALSE))
			field_error(f, "is bool and holds something other than true or false");
		model_put_bool(b, f->section, f->key, f->token_types[0] == JSON_TOKEN_TRUE);
	}
	else if (t == MODEL_TEXT)
	{
		for (int i = 0; i < f->n; i++)
			if (f->token_types[i] != JSON_TOKEN_STRING)
				field_error(f, f->ndim ? "is text and mixes strings with other values" :
							"is text and holds a value that is not a string");
		if (f->ndim == 2)
			field_error(f, "is text with two dimensions (text arrays have one)");
		if (f->ndim == 0)
			model_put_text(b, f->section, f->key, f->tokens[0]);
		else
			model_put_text_array(b, f->section, f->key, (const char *const *) f->tokens, f->n);
	}
	else if (t == MODEL_INT64)
	{
		int64	   *v = palloc(sizeof(int64) * Max(f->n, 1));

		for (int i = 0; i < f->n; i++)
			v[i] = token_int(f, i);
		if (f->ndim == 0)
			model_put_int(b, f->section, f->key, v[0]);
		else
			model_put_int_array(b, f->section, f->key, v, f->ndim, dims);
	}
	else
	{
		double	   *v = palloc(sizeof(double) * Max(f->n, 1));

		for (int i = 0; i < f->n; i++)
			v[i] = token_float(f, i);
		if (f->ndim == 0)
			model_put_float(b, f->section, f->key, v[0]);
		else
			model_put_float_array(b, f->section, f->key, v, f->ndim, dims);
	}
}

/* Each entry of "types" names a field of the model, once. */
static void
apply_types(TextState *st)
{
	ListCell   *lc,
			   *fc;

	foreach(lc, st->type_entries)
	{
		TextField  *t = lfirst(lc);
		bool		found = false;

		foreach(fc, st->fields)
		{
			TextField  *f = lfirst(fc);

			if (f->section == t->section && strcmp(f->key, t->key) == 0)
			{
				if (f->declared != NULL)
					field_error(t, "appears twice in \"types\"");
				f->declared = t->declared;
				found = true;
			}
		}
		if (!found)
			field_error(t, "is in \"types\" but not in the model");
	}
	/* with "types", a field it leaves out is a float8 */
	if (st->seen[TOP_TYPES])
		foreach(fc, st->fields)
		{
			TextField  *f = lfirst(fc);

			if (f->declared == NULL)
				f->declared = "float8";
		}
}

static char *
built_kinds(void)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int k = 1; k <= MODEL_KIND_MAX; k++)
		if (model_kind_is_built(k))
			appendStringInfo(&s, "%s%s", s.len ? ", " : "", model_kind_name(k));
	return s.data;
}

/* kind, format, trained_at and trained_by into the builder */
static ModelBuilder *
begin_from_header(TextState *st)
{
	const char *name = st->top_values[TOP_KIND];
	const char *format = st->top_values[TOP_FORMAT];
	ModelBuilder *b;
	int			kind;

	if (name == NULL)
		text_error(st, "The \"kind\" key is missing");
	kind = model_kind_from_name(name, strlen(name));
	if (kind < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("unknown model kind \"%s\"", name),
				 errhint("Kinds are %s.", built_kinds())));
	if (format != NULL && (strspn(format, "0123456789") != strlen(format) ||
						   strlen(format) > 4 || atoi(format) < 1 ||
						   atoi(format) > MODEL_FORMAT_VERSION))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model text form has an unsupported format version"),
				 errhint("This retailiq reads format %d.", MODEL_FORMAT_VERSION)));
	b = model_begin((ModelKind) kind);
	if (st->top_values[TOP_TRAINED_AT] != NULL || st->top_values[TOP_TRAINED_BY] != NULL)
	{
		TimestampTz at = GetCurrentTimestamp();

		if (st->top_values[TOP_TRAINED_AT] != NULL)
			at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
														 CStringGetDatum(st->top_values[TOP_TRAINED_AT]),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
		model_set_trainer(b, at, st->top_values[TOP_TRAINED_BY]);
	}
	return b;
}

/*
 * Texts printed before the text form was strict JSON wrote non-finite floats as bare words
 * (NaN, Infinity, -Infinity), which no JSON parser accepts. Quote them, and note where each
 * quoted word ends, so on_scalar reads them as floats, not as text fields holding "NaN".
 * (Error positions then count in the quoted text: a few characters off in such old texts.)
 */
static char *
quote_bare_words(char *text, TextState *st)
{
	static const char *const words[] = {"-Infinity", "Infinity", "NaN"};
	StringInfoData out;
	const char *run = text;
	bool		in_string = false;
	int			cap = 0;

	if (strstr(text, "NaN") == NULL && strstr(text, "Infinity") == NULL)
		return text;
	initStringInfo(&out);
	for (const char *p = text; *p; p++)
	{
		int			w;

		if (in_string)
		{
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_string = false;
			continue;
		}
		if (*p == '"')
		{
			in_string = true;
			continue;
		}
		for (w = 0; w < (int) lengthof(words); w++)
			if (strncmp(p, words[w], strlen(words[w])) == 0)
				break;
		if (w == (int) lengthof(words))
			continue;
		appendBinaryStringInfo(&out, run, (int) (p - run));
		appendStringInfo(&out, "\"%s\"", words[w]);
		if (st->nbare == cap)
		{
			cap = cap ? cap * 2 : 8;
			st->bare_ends = st->bare_ends ? repalloc(st->bare_ends, cap * sizeof(int)) :
				palloc(cap * sizeof(int));
		}
		st->bare_ends[st->nbare++] = out.len;
		p += strlen(words[w]) - 1;
		run = p + 1;
	}
	appendStringInfoString(&out, run);
	return out.data;
}

PG_FUNCTION_INFO_V1(model_in);
Datum
model_in(PG_FUNCTION_ARGS)
{
	char	   *text = PG_GETARG_CSTRING(0);
	TextState	st;
	JsonSemAction sem;
	ModelBuilder *b;
	ListCell   *lc;
	JsonParseErrorType result;

	memset(&st, 0, sizeof(st));
	memset(&sem, 0, sizeof(sem));
	st.top = TOP_NONE;
	text = quote_bare_words(text, &st);
	st.lex = makeJsonLexContextCstringLen(text, strlen(text), GetDatabaseEncoding(), true);
	sem.semstate = &st;
	sem.object_start = on_object_start;
	sem.object_end = on_object_end;
	sem.object_field_start = on_field_start;
	sem.array_start = on_array_start;
	sem.array_end = on_array_end;
	sem.scalar = on_scalar;
	/* a text that is not an object at all */
	if (text[strspn(text, " \t\n\r")] != '{')
		text_error(&st, "The text form is a JSON object");
	result = pg_parse_json(st.lex, &sem);
	if (result != JSON_SUCCESS)
	{
		/* at the end of the input the lexer's token pointer is not set */
		int			at = (st.lex->token_start >= text && st.lex->token_start <= text + strlen(text)) ?
			(int) (st.lex->token_start - text) + 1 : (int) strlen(text) + 1;

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type retailiq.model"),
				 errdetail("At character %d: %s", at, json_errdetail(result, st.lex)),
				 TEXT_FORM_HINT));
	}
	st.depth = 0;				/* errors from here on have no position */

	apply_types(&st);
	b = begin_from_header(&st);
	foreach(lc, st.fields)
		put_field(b, lfirst(lc));
	PG_RETURN_BYTEA_P(model_finish(b));
}

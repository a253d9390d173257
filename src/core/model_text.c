/*
 * model_text.c: the readable text form of retailiq.model and its parser, and model_info.
 *
 * The text form is JSON with three liberties that make the round trip exact: floats are
 * printed shortest-exact and always carry a '.' or an exponent (so 3.0 stays a float and 3
 * an integer), and NaN, Infinity and -Infinity are bare words. Example:
 *
 *   {"kind": "kmeans", "format": 1, "trained_at": "2026-11-23T10:00:00+00:00",
 *    "trained_by": "alice", "params": {"k": 2}, "metrics": {"inertia": 1.5},
 *    "data": {"centroids": [[0.0, 1.0], [2.0, 3.5]]}}
 *
 * model_info() gives the same fields as strict JSON (non-finite floats as strings) with
 * the data arrays summarised by type and shape.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core/model.h"

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
append_float_value(StringInfo buf, double v, bool strict_json)
{
	if (strict_json && !isfinite(v))
		appendStringInfo(buf, "\"%s\"", isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity"));
	else
		model_append_float(buf, v);
}

static void
append_element(StringInfo buf, const ModelEntry *e, const char **p, bool strict_json)
{
	switch (e->type)
	{
		case MODEL_FLOAT8:
			append_float_value(buf, model_get_f64(*p), strict_json);
			*p += 8;
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
append_value(StringInfo buf, const ModelEntry *e, bool strict_json)
{
	const char *p = e->values;

	if (e->ndim == 0)
		append_element(buf, e, &p, strict_json);
	else if (e->ndim == 1)
	{
		appendStringInfoChar(buf, '[');
		for (int64 i = 0; i < e->nelems; i++)
		{
			if (i > 0)
				appendStringInfoString(buf, ", ");
			append_element(buf, e, &p, strict_json);
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
				append_element(buf, e, &p, strict_json);
			}
			appendStringInfoChar(buf, ']');
		}
		appendStringInfoChar(buf, ']');
	}
}

static const char *
value_type_name(ModelValueType t)
{
	return t == MODEL_FLOAT8 ? "float8" : t == MODEL_INT64 ? "int64" : t == MODEL_TEXT ? "text" : "bool";
}

static void
append_model(StringInfo buf, const ModelView *m, bool info)
{
	char		ts[MAXDATELEN + 1];
	const int	utc = 0;
	ModelSection sections[] = {MODEL_PARAMS, MODEL_METRICS, MODEL_DATA};

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
				append_value(buf, e, info);
		}
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, '}');
}

char *
model_to_text(bytea *value)
{
	StringInfoData buf;

	initStringInfo(&buf);
	append_model(&buf, model_open(value, MODEL_KIND_ANY), false);
	return buf.data;
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

/* ---------- parsing ---------- */

typedef struct Parser
{
	const char *start;
	const char *p;
} Parser;

/* A parsed scalar or array, before it goes into the builder. */
typedef struct Parsed
{
	ModelValueType type;
	int			ndim;
	int			dims[MODEL_MAX_NDIM];
	int			n;
	int			cap;
	double	   *f;
	int64	   *i;
	char	  **t;
	bool		b;
	bool		any_float;
} Parsed;

static void pg_attribute_noreturn()
syntax_error(Parser *ps, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type retailiq.model"),
			 errdetail("%s at character %d.", what, (int) (ps->p - ps->start) + 1),
			 errhint("The text form is what retailiq.model output prints: {\"kind\": ..., \"params\": {...}, \"metrics\": {...}, \"data\": {...}}.")));
}

static void
skip_ws(Parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static void
expect_char(Parser *ps, char c)
{
	char		what[32];

	skip_ws(ps);
	if (*ps->p != c)
	{
		snprintf(what, sizeof(what), "expected \"%c\"", c);
		syntax_error(ps, what);
	}
	ps->p++;
}

static int
hex_value(Parser *ps)
{
	int			v = 0;

	for (int k = 0; k < 4; k++)
	{
		char		c = *ps->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
		{
			ps->p--;
			syntax_error(ps, "bad \\u escape");
		}
	}
	return v;
}

static char *
parse_string(Parser *ps)
{
	StringInfoData s;

	skip_ws(ps);
	if (*ps->p != '"')
		syntax_error(ps, "expected a string");
	ps->p++;
	initStringInfo(&s);
	for (;;)
	{
		char		c = *ps->p;

		if (c == '\0')
			syntax_error(ps, "unterminated string");
		if ((unsigned char) c < 0x20)
			syntax_error(ps, "control character in string");
		ps->p++;
		if (c == '"')
			break;
		if (c != '\\')
		{
			appendStringInfoChar(&s, c);
			continue;
		}
		c = *ps->p++;
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				appendStringInfoChar(&s, c);
				break;
			case 'b':
				appendStringInfoChar(&s, '\b');
				break;
			case 'f':
				appendStringInfoChar(&s, '\f');
				break;
			case 'n':
				appendStringInfoChar(&s, '\n');
				break;
			case 'r':
				appendStringInfoChar(&s, '\r');
				break;
			case 't':
				appendStringInfoChar(&s, '\t');
				break;
			case 'u':
				{
					pg_wchar	cp = hex_value(ps);
					unsigned char mb[MAX_UNICODE_EQUIVALENT_STRING + 1];

					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						int			lo;

						if (ps->p[0] != '\\' || ps->p[1] != 'u')
							syntax_error(ps, "unpaired surrogate in \\u escape");
						ps->p += 2;
						lo = hex_value(ps);
						if (lo < 0xDC00 || lo > 0xDFFF)
							syntax_error(ps, "unpaired surrogate in \\u escape");
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					else if (cp >= 0xDC00 && cp <= 0xDFFF)
						syntax_error(ps, "unpaired surrogate in \\u escape");
					if (cp == 0)
						syntax_error(ps, "\\u0000 is not allowed in text");
					pg_unicode_to_server(cp, mb);
					appendStringInfoString(&s, (char *) mb);
				}
				break;
			default:
				ps->p--;
				syntax_error(ps, "bad escape in string");
		}
	}
	pg_verifymbstr(s.data, s.len, false);
	return s.data;
}

static bool
match_word(Parser *ps, const char *w)
{
	size_t		n = strlen(w);

	if (strncmp(ps->p, w, n) == 0)
	{
		ps->p += n;
		return true;
	}
	return false;
}

/* A number (or NaN/Infinity): returns true for a float, false for an integer. */
static bool
parse_number(Parser *ps, double *f, int64 *i)
{
	const char *s = ps->p;
	bool		is_float = false;
	char	   *buf;

	skip_ws(ps);
	s = ps->p;
	if (match_word(ps, "NaN"))
	{
		*f = get_float8_nan();
		return true;
	}
	if (match_word(ps, "Infinity"))
	{
		*f = get_float8_infinity();
		return true;
	}
	if (match_word(ps, "-Infinity"))
	{
		*f = -get_float8_infinity();
		return true;
	}
	if (*ps->p == '-')
		ps->p++;
	if (!isdigit((unsigned char) *ps->p))
		syntax_error(ps, "expected a value");
	if (*ps->p == '0' && isdigit((unsigned char) ps->p[1]))
		syntax_error(ps, "leading zero in number");
	while (isdigit((unsigned char) *ps->p))
		ps->p++;
	if (*ps->p == '.')
	{
		is_float = true;
		ps->p++;
		if (!isdigit((unsigned char) *ps->p))
			syntax_error(ps, "expected a digit after the decimal point");
		while (isdigit((unsigned char) *ps->p))
			ps->p++;
	}
	if (*ps->p == 'e' || *ps->p == 'E')
	{
		is_float = true;
		ps->p++;
		if (*ps->p == '+' || *ps->p == '-')
			ps->p++;
		if (!isdigit((unsigned char) *ps->p))
			syntax_error(ps, "expected a digit in the exponent");
		while (isdigit((unsigned char) *ps->p))
			ps->p++;
	}
	buf = pnstrdup(s, ps->p - s);
	if (is_float)
	{
		char	   *end;

		errno = 0;
		*f = strtod(buf, &end);
		/* strtod rounds correctly, so the shortest decimal of a double reads back exactly */
		if (errno == ERANGE && (*f == 0.0 ? false : isinf(*f)))
		{
			ps->p = s;
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("number \"%s\" is out of range for a model float", buf)));
		}
	}
	else
	{
		char	   *end;

		errno = 0;
		*i = strtoi64(buf, &end, 10);
		if (errno == ERANGE)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("number \"%s\" is out of range for a model integer", buf),
					 errhint("Write it with a decimal point to store it as a float.")));
	}
	pfree(buf);
	return is_float;
}

static void
parsed_push(Parser *ps, Parsed *v, ModelValueType t, double f, int64 i, char *s)
{
	if (v->n == v->cap)
	{
		v->cap = v->cap ? v->cap * 2 : 8;
		if ((Size) v->cap * sizeof(double) >= MaxAllocSize)
			syntax_error(ps, "array too large");
		v->f = v->f ? repalloc(v->f, v->cap * sizeof(double)) : palloc(v->cap * sizeof(double));
		v->i = v->i ? repalloc(v->i, v->cap * sizeof(int64)) : palloc(v->cap * sizeof(int64));
		v->t = v->t ? repalloc(v->t, v->cap * sizeof(char *)) : palloc(v->cap * sizeof(char *));
	}
	if (v->n > 0 && ((v->type == MODEL_TEXT) != (t == MODEL_TEXT)))
		syntax_error(ps, "array mixes text and numbers");
	v->type = t;
	if (t == MODEL_FLOAT8)
		v->any_float = true;
	v->f[v->n] = f;
	v->i[v->n] = i;
	v->t[v->n] = s;
	v->n++;
}

static void
parse_array_element(Parser *ps, Parsed *v)
{
	double		f = 0;
	int64		i = 0;

	skip_ws(ps);
	if (*ps->p == '"')
		parsed_push(ps, v, MODEL_TEXT, 0, 0, parse_string(ps));
	else if (*ps->p == 't' || *ps->p == 'f')
		syntax_error(ps, "bool arrays are not allowed");
	else if (*ps->p == '[')
		syntax_error(ps, "arrays nest at most two deep");
	else if (parse_number(ps, &f, &i))
		parsed_push(ps, v, MODEL_FLOAT8, f, 0, NULL);
	else
		parsed_push(ps, v, MODEL_INT64, (double) i, i, NULL);
}

/* Elements of one array level up to and including "]", the "[" already read. */
static int
parse_row(Parser *ps, Parsed *v)
{
	int			before = v->n;

	skip_ws(ps);
	if (*ps->p == ']')
	{
		ps->p++;
		return 0;
	}
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		parse_array_element(ps, v);
		skip_ws(ps);
		if (*ps->p == ',')
		{
			ps->p++;
			continue;
		}
		expect_char(ps, ']');
		return v->n - before;
	}
}

static void
parse_value(Parser *ps, Parsed *v)
{
	memset(v, 0, sizeof(*v));
	skip_ws(ps);
	if (*ps->p == '"')
	{
		v->type = MODEL_TEXT;
		v->t = palloc(sizeof(char *));
		v->t[0] = parse_string(ps);
		v->n = 1;
	}
	else if (match_word(ps, "true") || match_word(ps, "false"))
	{
		v->type = MODEL_BOOL;
		v->b = (ps->p[-1] == 'e' && ps->p[-2] == 'u');
		v->n = 1;
	}
	else if (*ps->p == '[')
	{
		ps->p++;
		skip_ws(ps);
		if (*ps->p != '[')
		{
			v->ndim = 1;
			v->dims[0] = parse_row(ps, v);
		}
		else
		{
			v->ndim = 2;
			for (;;)
			{
				int			len;

				expect_char(ps, '[');
				len = parse_row(ps, v);
				if (v->dims[0] > 0 && len != v->dims[1])
					syntax_error(ps, "rows of a two-dimensional array differ in length");
				v->dims[1] = len;
				v->dims[0]++;
				skip_ws(ps);
				if (*ps->p == ',')
				{
					ps->p++;
					continue;
				}
				expect_char(ps, ']');
				break;
			}
		}
		if (v->n == 0)
			v->type = MODEL_FLOAT8;
		else if (v->type != MODEL_TEXT)
			v->type = v->any_float ? MODEL_FLOAT8 : MODEL_INT64;
		if (v->type == MODEL_TEXT && v->ndim == 2)
			syntax_error(ps, "text arrays have one dimension");
	}
	else
	{
		double		f = 0;
		int64		i = 0;

		v->n = 1;
		v->f = palloc(sizeof(double));
		v->i = palloc(sizeof(int64));
		if (parse_number(ps, &f, &i))
			v->type = MODEL_FLOAT8;
		else
			v->type = MODEL_INT64;
		v->f[0] = f;
		v->i[0] = i;
	}
}

static void
put_parsed(ModelBuilder *b, ModelSection s, const char *key, Parsed *v)
{
	if (v->ndim == 0)
	{
		switch (v->type)
		{
			case MODEL_FLOAT8:
				model_put_float(b, s, key, v->f[0]);
				break;
			case MODEL_INT64:
				model_put_int(b, s, key, v->i[0]);
				break;
			case MODEL_TEXT:
				model_put_text(b, s, key, v->t[0]);
				break;
			case MODEL_BOOL:
				model_put_bool(b, s, key, v->b);
				break;
		}
	}
	else if (v->type == MODEL_TEXT)
		model_put_text_array(b, s, key, (const char *const *) v->t, v->n);
	else if (v->type == MODEL_INT64)
		model_put_int_array(b, s, key, v->i, v->ndim, v->dims);
	else
		model_put_float_array(b, s, key, v->f, v->ndim, v->dims);
}

static void
parse_section(Parser *ps, ModelBuilder *b, ModelSection s)
{
	expect_char(ps, '{');
	skip_ws(ps);
	if (*ps->p == '}')
	{
		ps->p++;
		return;
	}
	for (;;)
	{
		char	   *key = parse_string(ps);
		Parsed		v;

		expect_char(ps, ':');
		parse_value(ps, &v);
		put_parsed(b, s, key, &v);
		skip_ws(ps);
		if (*ps->p == ',')
		{
			ps->p++;
			continue;
		}
		expect_char(ps, '}');
		return;
	}
}

bytea *
model_from_text(const char *text)
{
	Parser		ps = {text, text};
	ModelBuilder *b = NULL;
	bool		seen_params = false,
				seen_metrics = false,
				seen_data = false;
	TimestampTz at = 0;
	char	   *by = NULL;
	bool		have_at = false;
	/* sections may come before "kind": the builder's kind is set once it is known */
	ModelBuilder *sections = model_begin(MODEL_KIND_KMEANS);
	int			kind = -1;

	expect_char(&ps, '{');
	for (;;)
	{
		char	   *key = parse_string(&ps);

		expect_char(&ps, ':');
		if (strcmp(key, "kind") == 0 && kind < 0)
		{
			char	   *name = parse_string(&ps);

			kind = model_kind_from_name(name, strlen(name));
			if (kind < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("unknown model kind \"%s\"", name),
						 errhint("Kinds are kmeans, lstm, ets, theta, croston, arima, seasonal_naive, bgnbd, pareto_nbd, gammagamma, logit, gbm, assoc_rules, rfm, forecast_ensemble.")));
		}
		else if (strcmp(key, "format") == 0)
		{
			double		f;
			int64		v = 0;

			if (parse_number(&ps, &f, &v) || v < 1 || v > MODEL_FORMAT_VERSION)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("model text form has an unsupported format version"),
						 errhint("This retailiq reads format %d.", MODEL_FORMAT_VERSION)));
		}
		else if (strcmp(key, "trained_at") == 0 && !have_at)
		{
			char	   *s = parse_string(&ps);

			at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(s),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
			have_at = true;
		}
		else if (strcmp(key, "trained_by") == 0 && by == NULL)
			by = parse_string(&ps);
		else if (strcmp(key, "params") == 0 && !seen_params)
		{
			parse_section(&ps, sections, MODEL_PARAMS);
			seen_params = true;
		}
		else if (strcmp(key, "metrics") == 0 && !seen_metrics)
		{
			parse_section(&ps, sections, MODEL_METRICS);
			seen_metrics = true;
		}
		else if (strcmp(key, "data") == 0 && !seen_data)
		{
			parse_section(&ps, sections, MODEL_DATA);
			seen_data = true;
		}
		else
		{
			char		what[128];

			snprintf(what, sizeof(what), "unexpected or repeated key \"%.64s\"", key);
			syntax_error(&ps, what);
		}
		skip_ws(&ps);
		if (*ps.p == ',')
		{
			ps.p++;
			continue;
		}
		expect_char(&ps, '}');
		break;
	}
	skip_ws(&ps);
	if (*ps.p != '\0')
		syntax_error(&ps, "text after the closing \"}\"");
	if (kind < 0)
		syntax_error(&ps, "the \"kind\" key is missing");

	b = sections;
	model_set_kind(b, (ModelKind) kind);
	if (have_at || by != NULL)
		model_set_trainer(b, have_at ? at : GetCurrentTimestamp(), by);
	return model_finish(b);
}

/*
 * cron_spec.c: parsing cron schedules and searching for the next matching minute, in plain C.
 *
 * Five whitespace-separated fields "minute hour day-of-month month day-of-week"; each a
 * comma-separated list of "*", "N", "N-M", optionally "/step" ("N/step" runs from N to the
 * end of the range, as in Vixie cron); months and days of the week also by three-letter or
 * full English name, any case; day of week 7 is Sunday like 0. Shorthands @yearly,
 * @annually, @monthly, @weekly, @daily, @midnight and @hourly expand to cron fields;
 * "@every <interval>" is recognised here and its interval checked by the caller. When both
 * day fields are restricted (neither starts with '*') a day matches if either does.
 *
 * The input is never modified or copied; errors are written into a CronError, so the fuzz
 * target (test/fuzz/cron_parse_fuzz.c) can drive this file without a server.
 */
#include "c.h"

#include <ctype.h>

#include "scheduler/cron_spec.h"

static const char *const field_names[5] = {"minute", "hour", "day-of-month", "month", "day-of-week"};
static const int field_min[5] = {0, 0, 1, 1, 0};
static const int field_max[5] = {59, 23, 31, 12, 7};
static const char *const month_names[12] = {
	"january", "february", "march", "april", "may", "june", "july", "august",
	"september", "october", "november", "december"
};
static const char *const day_names[7] = {
	"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"
};

int
cron_days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
		return 29;
	return days[month - 1];
}

int
cron_day_of_week(int year, int month, int day)
{
	/* Sakamoto's method, proleptic Gregorian calendar */
	static const int t[12] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};

	if (month < 3)
		year -= 1;
	return (year + year / 4 - year / 100 + year / 400 + t[month - 1] + day) % 7;
}

static bool
set_error(CronError *err, const char *message, const char *detail)
{
	strlcpy(err->message, message, sizeof(err->message));
	strlcpy(err->detail, detail ? detail : "", sizeof(err->detail));
	return false;
}

/* A number or (months, days of the week) a name; -1 when it is neither. */
static int
parse_value(int field, const char *s, int len)
{
	int			v = 0;
	int			i;

	if (len <= 0)
		return -1;
	if (isdigit((unsigned char) s[0]))
	{
		for (i = 0; i < len; i++)
		{
			if (!isdigit((unsigned char) s[i]))
				return -1;
			if (v < 10000)		/* anything larger is out of range all the same */
				v = v * 10 + (s[i] - '0');
		}
		return v;
	}
	if (field == 3 || field == 4)
	{
		const char *const *names = (field == 3) ? month_names : day_names;
		int			n = (field == 3) ? 12 : 7;

		for (i = 0; i < n; i++)
		{
			if ((len == 3 || len == (int) strlen(names[i])) && pg_strncasecmp(s, names[i], len) == 0)
				return (field == 3) ? i + 1 : i;
		}
	}
	return -1;
}

static bool
field_error(CronError *err, int field, const char *text, int textlen, const char *detail)
{
	char		message[256];

	snprintf(message, sizeof(message), "invalid %s field \"%.*s\" in schedule",
			 field_names[field], Min(textlen, 100), text);
	return set_error(err, message, detail);
}

static bool
parse_field(int field, const char *text, int textlen, uint64 *bits, bool *star, CronError *err)
{
	const char *p = text;
	const char *end_all = text + textlen;
	int			lo = field_min[field];
	int			hi = field_max[field];
	int			star_hi = (field == 4) ? 6 : hi;

	*bits = 0;
	*star = (text[0] == '*');
	for (;;)
	{
		const char *item = p;
		const char *comma = memchr(p, ',', end_all - p);
		const char *slash;
		const char *dash;
		int			len = comma ? (int) (comma - p) : (int) (end_all - p);
		int			a,
					b,
					step = 1,
					v;
		char		detail[256];

		if (len == 0)
			return field_error(err, field, text, textlen, "A list has an empty item.");
		slash = memchr(item, '/', len);
		if (slash)
		{
			int			slen = (int) (item + len - slash - 1);

			step = parse_value(0, slash + 1, slen);
			if (step < 1 || step > hi)
			{
				snprintf(detail, sizeof(detail), "The step \"%.*s\" is not a whole number from 1 to %d.",
						 Min(slen, 100), slash + 1, hi);
				return field_error(err, field, text, textlen, detail);
			}
			len = (int) (slash - item);
		}
		if (len == 1 && item[0] == '*')
		{
			a = lo;
			b = star_hi;
		}
		else
		{
			dash = memchr(item, '-', len);
			if (dash)
			{
				a = parse_value(field, item, (int) (dash - item));
				b = parse_value(field, dash + 1, (int) (item + len - dash - 1));
			}
			else
			{
				a = parse_value(field, item, len);
				b = slash ? star_hi : a;
			}
			if (a < 0 || b < 0)
			{
				snprintf(detail, sizeof(detail), "\"%.*s\" is not a number%s.", Min(len, 100), item,
						 field == 3 ? " or month name" : field == 4 ? " or day name" : "");
				return field_error(err, field, text, textlen, detail);
			}
			if (a < lo || a > hi || b < lo || b > hi)
			{
				snprintf(detail, sizeof(detail), "\"%.*s\" is out of range.", Min(len, 100), item);
				return field_error(err, field, text, textlen, detail);
			}
			if (a > b)
			{
				snprintf(detail, sizeof(detail), "The range \"%.*s\" starts after it ends.", Min(len, 100), item);
				return field_error(err, field, text, textlen, detail);
			}
		}
		for (v = a; v <= b; v += step)
			*bits |= UINT64CONST(1) << ((field == 4 && v == 7) ? 0 : v);
		if (!comma)
			break;
		p = comma + 1;
	}
	return true;
}

/* Can a schedule whose day-of-week is '*' ever fire (e.g. "0 0 30 2 *" cannot)? */
static bool
days_possible(const CronSpec *spec)
{
	int			m,
				d;

	for (m = 1; m <= 12; m++)
	{
		if (!(spec->months & (1 << m)))
			continue;
		for (d = 1; d <= cron_days_in_month(2000, m); d++)
			if (spec->mdays & (UINT64CONST(1) << d))
				return true;
	}
	return false;
}

static bool
parse_fields(const char *s, CronSpec *spec, CronError *err)
{
	const char *start[5];
	int			len[5];
	int			n = 0;
	uint64		bits;
	bool		star;
	char		message[256];

	while (*s)
	{
		while (isspace((unsigned char) *s))
			s++;
		if (!*s)
			break;
		if (n == 5)
		{
			int			l = 0;

			while (s[l] && !isspace((unsigned char) s[l]))
				l++;
			snprintf(message, sizeof(message), "too many fields in schedule: \"%.*s\" is a sixth field", Min(l, 100), s);
			return set_error(err, message, "Schedules have five fields; seconds and years are not supported.");
		}
		start[n] = s;
		while (*s && !isspace((unsigned char) *s))
			s++;
		len[n] = (int) (s - start[n]);
		n++;
	}
	if (n < 5)
	{
		char		detail[256];

		snprintf(message, sizeof(message), "too few fields in schedule: the %s field is missing", field_names[n]);
		snprintf(detail, sizeof(detail), "The schedule has %d field%s; five are needed.", n, n == 1 ? "" : "s");
		return set_error(err, message, detail);
	}

	if (!parse_field(0, start[0], len[0], &bits, &star, err))
		return false;
	spec->minutes = bits;
	if (!parse_field(1, start[1], len[1], &bits, &star, err))
		return false;
	spec->hours = (uint32) bits;
	if (!parse_field(2, start[2], len[2], &bits, &spec->mday_star, err))
		return false;
	spec->mdays = (uint32) bits;
	if (!parse_field(3, start[3], len[3], &bits, &star, err))
		return false;
	spec->months = (uint16) bits;
	if (!parse_field(4, start[4], len[4], &bits, &spec->wday_star, err))
		return false;
	spec->wdays = (uint8) bits;

	if (spec->wday_star && !days_possible(spec))
	{
		char		detail[256];

		snprintf(detail, sizeof(detail), "No month in \"%.*s\" has any of these days, so the schedule would never fire.",
				 Min(len[3], 100), start[3]);
		return field_error(err, 2, start[2], len[2], detail);
	}
	return true;
}

bool
cron_spec_parse(const char *schedule, CronSpec *spec, CronError *err)
{
	static const struct
	{
		const char *name;
		const char *expansion;
	}			shorthands[] = {
		{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
		{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
		{"@hourly", "0 * * * *"}
	};
	const char *p = schedule;
	char		message[256];
	int			i;

	memset(spec, 0, sizeof(*spec));
	err->message[0] = err->detail[0] = '\0';
	while (isspace((unsigned char) *p))
		p++;
	if (*p != '@')
		return parse_fields(p, spec, err);

	{
		const char *word = p;
		int			wlen = 0;
		const char *rest;

		while (word[wlen] && !isspace((unsigned char) word[wlen]))
			wlen++;
		rest = word + wlen;
		while (isspace((unsigned char) *rest))
			rest++;
		if (wlen == 6 && pg_strncasecmp(word, "@every", 6) == 0)
		{
			int			rlen = (int) strlen(rest);

			while (rlen > 0 && isspace((unsigned char) rest[rlen - 1]))
				rlen--;
			if (rlen == 0)
				return set_error(err, "invalid interval field \"\" in schedule", "@every needs an interval.");
			spec->is_every = true;
			spec->every_offset = (int) (rest - schedule);
			spec->every_length = rlen;
			return true;
		}
		for (i = 0; i < (int) lengthof(shorthands); i++)
		{
			if (wlen == (int) strlen(shorthands[i].name) && pg_strncasecmp(word, shorthands[i].name, wlen) == 0)
			{
				if (*rest)
				{
					snprintf(message, sizeof(message), "unexpected text \"%.100s\" after %s in schedule",
							 rest, shorthands[i].name);
					return set_error(err, message, "A shorthand stands alone.");
				}
				return parse_fields(shorthands[i].expansion, spec, err);
			}
		}
		snprintf(message, sizeof(message), "unknown schedule shorthand \"%.*s\"", Min(wlen, 100), word);
		return set_error(err, message,
						 "Known shorthands are @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly and @every <interval>.");
	}
}

bool
cron_spec_matches(const CronSpec *spec, const CronTime *t)
{
	bool		dom,
				dow;

	if (!(spec->months & (1 << t->month)) || !(spec->hours & (UINT64CONST(1) << t->hour)) ||
		!(spec->minutes & (UINT64CONST(1) << t->minute)))
		return false;
	dom = (spec->mdays & (UINT64CONST(1) << t->day)) != 0;
	dow = (spec->wdays & (1 << cron_day_of_week(t->year, t->month, t->day))) != 0;
	if (spec->mday_star || spec->wday_star)
		return dom && dow;
	return dom || dow;
}

enum
{
	LVL_MIN, LVL_HOUR, LVL_DAY, LVL_MON
};

/* Advance at one level, resetting the levels below and carrying upwards. */
static void
advance(CronTime *t, int level)
{
	switch (level)
	{
		case LVL_MIN:
			if (++t->minute <= 59)
				return;
			/* FALLTHROUGH */
		case LVL_HOUR:
			t->minute = 0;
			if (++t->hour <= 23)
				return;
			/* FALLTHROUGH */
		case LVL_DAY:
			t->minute = 0;
			t->hour = 0;
			if (++t->day <= cron_days_in_month(t->year, t->month))
				return;
			/* FALLTHROUGH */
		case LVL_MON:
			t->minute = 0;
			t->hour = 0;
			t->day = 1;
			if (++t->month > 12)
			{
				t->month = 1;
				t->year++;
			}
	}
}

bool
cron_spec_next(const CronSpec *spec, CronTime *t, int max_years)
{
	int			last_year = t->year + max_years;

	advance(t, LVL_MIN);
	while (t->year <= last_year)
	{
		bool		dom,
					dow;

		if (!(spec->months & (1 << t->month)))
		{
			advance(t, LVL_MON);
			continue;
		}
		dom = (spec->mdays & (UINT64CONST(1) << t->day)) != 0;
		dow = (spec->wdays & (1 << cron_day_of_week(t->year, t->month, t->day))) != 0;
		if (!((spec->mday_star || spec->wday_star) ? (dom && dow) : (dom || dow)))
		{
			advance(t, LVL_DAY);
			continue;
		}
		if (!(spec->hours & (UINT64CONST(1) << t->hour)))
		{
			advance(t, LVL_HOUR);
			continue;
		}
		if (!(spec->minutes & (UINT64CONST(1) << t->minute)))
		{
			advance(t, LVL_MIN);
			continue;
		}
		return true;
	}
	return false;
}

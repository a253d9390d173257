/*
 * options.h: reading one key of a function's jsonb options, for every part: the value of
 * options.key, or the default when the key is absent or JSON null (null means "the
 * default", everywhere). Errors are 22023 and say "options.<key> must ..." (options.c).
 */
#ifndef RETAILIQ_OPTIONS_H
#define RETAILIQ_OPTIONS_H

#include "postgres.h"
#include "utils/jsonb.h"

/* the value of key in an options object (options NULL: none); NULL when absent or JSON null */
extern JsonbValue *riq_option_value(Jsonb *options, const char *key);
/* a number in [lo, hi] (whole when integer), else dflt when absent; hint goes with the errors */
extern double riq_option_number(Jsonb *options, const char *key, double dflt, double lo, double hi,
								bool integer, const char *hint);
/* true or false, else dflt when absent */
extern bool riq_option_bool(Jsonb *options, const char *key, bool dflt);

#endif

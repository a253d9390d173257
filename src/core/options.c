/*
 * options.c: reading one key of a function's jsonb options (options.h). Moved here from the
 * forecasting part, whose option dialect the other parts (marketing's elasticity_fit) share.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "core/options.h"

JsonbValue *
riq_option_value(Jsonb *options, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	if (options == NULL)
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&options->root, JB_FOBJECT, &k);
	/* JSON null means the default, for every option of every method */
	return v == NULL || v->type == jbvNull ? NULL : v;
}

double
riq_option_number(Jsonb *j, const char *key, double dflt, double lo, double hi, bool integer,
				  const char *hint)
{
	JsonbValue *v = riq_option_value(j, key);
	double		f;

	if (v == NULL)
		return dflt;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s must be a number", key),
				 errhint("%s", hint)));
	f = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
	if (!(f >= lo && f <= hi) || (integer && f != floor(f)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s is out of range", key),
				 errdetail("It is %g.", f),
				 errhint("%s", hint)));
	return f;
}

bool
riq_option_bool(Jsonb *j, const char *key, bool dflt)
{
	JsonbValue *v = riq_option_value(j, key);

	if (v == NULL)
		return dflt;
	if (v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s must be true or false", key)));
	return v->val.boolean;
}

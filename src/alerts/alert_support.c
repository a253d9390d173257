/*
 * alert_support.c: small SQL helpers of the alerts part: the standard normal quantile used
 * by safety stock (service level to z), and the role that acknowledged an alert.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "core/stats.h"

PG_FUNCTION_INFO_V1(alert_normal_quantile);

Datum
alert_normal_quantile(PG_FUNCTION_ARGS)
{
	double		p = PG_GETARG_FLOAT8(0);

	if (!(p > 0 && p < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("p must be strictly between 0 and 1"),
				 errdetail("p is %g.", p),
				 errhint("Pass a probability such as 0.95.")));
	PG_RETURN_FLOAT8(riq_normal_quantile(p));
}

/*
 * The role the caller acts as outside SECURITY DEFINER functions: session user or SET ROLE.
 * acknowledge_alert runs as the extension's owner, so current_user would name the owner.
 */
PG_FUNCTION_INFO_V1(alert_invoker);

Datum
alert_invoker(PG_FUNCTION_ARGS)
{
	char	   *name = GetUserNameFromId(GetOuterUserId(), false);

	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(name)));
}

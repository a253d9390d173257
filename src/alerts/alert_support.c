/*
 * alert_support.c: small SQL helpers of the alerts part: the standard normal quantile used
 * by safety stock (service level to z), and the role that acknowledged an alert.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "alerts/alerts.h"

/*
 * Wichura, M. J. (1988), Algorithm AS 241: the percentage points of the normal
 * distribution, Applied Statistics 37, 477-484 (PPND16, about 1e-16 relative accuracy).
 */
double
alert_normal_quantile_value(double p)
{
	double		q = p - 0.5;
	double		r;
	double		val;

	if (fabs(q) <= 0.425)
	{
		r = 0.180625 - q * q;
		return q * (((((((2.5090809287301226727e+3 * r + 3.3430575583588128105e+4) * r +
						 6.7265770927008700853e+4) * r + 4.5921953931549871457e+4) * r +
					   1.3731693765509461125e+4) * r + 1.9715909503065514427e+3) * r +
					 1.3314166789178437745e+2) * r + 3.3871328727963666080e0) /
			(((((((5.2264952788528545610e+3 * r + 2.8729085735721942674e+4) * r +
				  3.9307895800092710610e+4) * r + 2.1213794301586595867e+4) * r +
				5.3941960214247511077e+3) * r + 6.8718700749205790830e+2) * r +
			  4.2313330701600911252e+1) * r + 1.0);
	}
	r = q < 0 ? p : 1.0 - p;
	r = sqrt(-log(r));
	if (r <= 5.0)
	{
		r -= 1.6;
		val = (((((((7.74545014278341407640e-4 * r + 2.27238449892691845833e-2) * r +
					2.41780725177450611770e-1) * r + 1.27045825245236838258e0) * r +
				  3.64784832476320460504e0) * r + 5.76949722146069140550e0) * r +
				4.63033784615654529590e0) * r + 1.42343711074968357734e0) /
			(((((((1.05075007164441684324e-9 * r + 5.47593808499534494600e-4) * r +
				  1.51986665636164571966e-2) * r + 1.48103976427480074590e-1) * r +
				6.89767334985100004550e-1) * r + 1.67638483018380384940e0) * r +
			  2.05319162663775882187e0) * r + 1.0);
	}
	else
	{
		r -= 5.0;
		val = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r +
					1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r +
				  2.96560571828504891230e-1) * r + 1.78482653991729133580e0) * r +
				5.46378491116411436990e0) * r + 6.65790464350110377720e0) /
			(((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-7) * r +
				  1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r +
				1.48753612908506148525e-2) * r + 1.36929880922735805310e-1) * r +
			  5.99832206555887937690e-1) * r + 1.0);
	}
	return q < 0 ? -val : val;
}

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
	PG_RETURN_FLOAT8(alert_normal_quantile_value(p));
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

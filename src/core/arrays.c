/*
 * arrays.c: validated reading of array arguments (see arrays.h).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "core/arrays.h"

static void
check_shape(ArrayType *a, const char *argname)
{
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname),
				 errdetail("It has %d dimensions.", ARR_NDIM(a)),
				 errhint("Pass a flat array, e.g. ARRAY[1.0, 2.0].")));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", argname),
				 errhint("Replace missing values (e.g. with coalesce) or filter those rows out.")));
}

double *
riq_float8_array(ArrayType *a, const char *argname, int *n, bool allow_nonfinite)
{
	double	   *v;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a float8[] array", argname),
				 errdetail("It is %s.", format_type_be(ARR_ELEMTYPE(a))),
				 errhint("Cast it with ::float8[].")));
	check_shape(a, argname);
	*n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	v = (double *) ARR_DATA_PTR(a);
	if (!allow_nonfinite)
	{
		for (int i = 0; i < *n; i++)
			if (!isfinite(v[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s must contain only finite numbers", argname),
						 errdetail("Element %d is %s.", i + 1, isnan(v[i]) ? "NaN" : "infinite"),
						 errhint("Replace NaN and infinity before passing the array.")));
	}
	return v;
}

double *
riq_float8_array_len(ArrayType *a, const char *argname, int expect)
{
	int			n;
	double	   *v = riq_float8_array(a, argname, &n, false);

	if (n != expect)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s has %d elements, expected %d", argname, n, expect),
				 errhint("Every row must have the same number of elements as the model was trained with.")));
	return v;
}

Datum *
riq_array_elements(ArrayType *a, const char *argname, Oid *elemtype, int *n)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;

	check_shape(a, argname);
	*elemtype = ARR_ELEMTYPE(a);
	get_typlenbyvalalign(*elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(a, *elemtype, typlen, typbyval, typalign, &elems, &nulls, n);
	return elems;
}

ArrayType *
riq_float8_array_make(const double *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Float8GetDatum(v[i]);
	return construct_array(d, n, FLOAT8OID, sizeof(double), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

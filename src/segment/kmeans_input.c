/*
 * kmeans_input.c: the argument readers the k-means aggregates share: the features array of
 * a row and the optional integer parameters.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"

#include "core/arrays.h"
#include "segment/kmeans_model.h"

const double *
kmeans_read_features(FunctionCallInfo fcinfo, int argno, int expect_d, int *d)
{
	ArrayType  *a;
	const double *v;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("features must not be NULL"),
				 errhint("Filter out rows without features, or fill them in with coalesce.")));
	a = PG_GETARG_ARRAYTYPE_P(argno);
	v = riq_float8_array(a, "features", d, false);
	if (*d == 0)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must not be empty"),
				 errhint("Pass at least one feature per row.")));
	if (*d > KM_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("features has %d elements, more than the %d allowed", *d, KM_MAX_DIMS),
				 errhint("Reduce the number of features.")));
	if (expect_d > 0 && *d != expect_d)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features has %d elements, expected %d", *d, expect_d),
				 errdetail("Every row must have as many features as the first row (or the model)."),
				 errhint("Build the features array the same way for every row.")));
	return v;
}

int32
kmeans_int_arg(FunctionCallInfo fcinfo, int argno, int32 dflt, const char *name)
{
	if (PG_NARGS() <= argno)
		return dflt;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name),
				 errhint("Leave the argument out to use its default.")));
	return PG_GETARG_INT32(argno);
}

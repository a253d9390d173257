/*
 * arrays.h: checked access to array arguments. Never trust a length, a dimension or an
 * element that came from outside: these return the data only after checking it, and
 * name the argument in the error.
 */
#ifndef RETAILIQ_ARRAYS_H
#define RETAILIQ_ARRAYS_H

#include "postgres.h"
#include "utils/array.h"

/*
 * A one-dimensional float8[] with no NULLs (and, unless allow_nonfinite, no NaN or
 * infinity), as a pointer into the array's own data. *n receives its length.
 */
extern double *riq_float8_array(ArrayType *a, const char *argname, int *n, bool allow_nonfinite);
/* the same, also requiring exactly `expect` elements */
extern double *riq_float8_array_len(ArrayType *a, const char *argname, int expect);
/* Every element of a one-dimensional array of any type, with NULLs rejected. */
extern Datum *riq_array_elements(ArrayType *a, const char *argname, Oid *elemtype, int *n);
/* A float8[] result from a C array. */
extern ArrayType *riq_float8_array_make(const double *v, int n);

#endif

/*
 * demand_class.c: the Syntetos-Boylan-Croston classification of demand (Syntetos, Boylan &
 * Croston 2005, "On the categorization of demand patterns"): the mean interval between
 * demands (ADI) and the squared coefficient of variation of the demand sizes (CV^2), cut
 * at 1.32 and 0.49, sort a series into smooth (regular, steady sizes), erratic (regular,
 * varying sizes), intermittent (sporadic, steady sizes) and lumpy (sporadic, varying
 * sizes). The cut-offs are where Croston-type methods (SBA) start to beat SES in their
 * study: 'auto' sends intermittent and lumpy series to the intermittent methods.
 *
 * retailiq.demand_class(y float8[]) shows the classification of one history (oldest
 * first, a period without sales as 0).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "core/arrays.h"
#include "forecast/demand_class.h"

int
demand_stats(const double *y, int n, double *adi, double *cv2)
{
	double		mean = 0,
				ss = 0;
	int			nd = 0,
				last = -1,
				t;

	for (t = 0; t < n; t++)
		if (y[t] != 0)
		{
			nd++;
			mean += y[t];
			last = t;
		}
	*adi = nd > 0 ? (double) (last + 1) / nd : NAN;
	*cv2 = NAN;
	if (nd >= 2)
	{
		mean /= nd;
		for (t = 0; t < n; t++)
			if (y[t] != 0)
				ss += (y[t] - mean) * (y[t] - mean);
		/* sizes of both signs can average 0: their variation is unbounded */
		*cv2 = mean != 0 ? ss / (nd - 1) / (mean * mean) : HUGE_VAL;
	}
	return nd;
}

DemandClass
demand_classify(const double *y, int n, double *adi, double *cv2, int *demands)
{
	bool		sporadic,
				varying;

	*demands = demand_stats(y, n, adi, cv2);
	if (*demands == 0)
		return DEMAND_NONE;
	sporadic = *adi >= DEMAND_ADI_CUT;
	varying = !isnan(*cv2) && *cv2 >= DEMAND_CV2_CUT;
	if (sporadic)
		return varying ? DEMAND_LUMPY : DEMAND_INTERMITTENT;
	return varying ? DEMAND_ERRATIC : DEMAND_SMOOTH;
}

const char *
demand_class_name(DemandClass c)
{
	switch (c)
	{
		case DEMAND_SMOOTH:
			return "smooth";
		case DEMAND_ERRATIC:
			return "erratic";
		case DEMAND_INTERMITTENT:
			return "intermittent";
		case DEMAND_LUMPY:
			return "lumpy";
		case DEMAND_NONE:
			break;
	}
	return NULL;
}

PG_FUNCTION_INFO_V1(demand_class);

/* demand_class(y float8[]) -> (class text, adi float8, cv2 float8, demands int, periods int) */
Datum
demand_class(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	TupleDesc	desc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	double	   *y = NULL,
				adi,
				cv2;
	int			n = 0,
				demands;
	DemandClass c;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "demand_class must return a record");
	if (ARR_NDIM(arr) != 0)
		y = riq_float8_array(arr, "y", &n, false);
	c = demand_classify(y, n, &adi, &cv2, &demands);
	values[0] = c == DEMAND_NONE ? (Datum) 0 : CStringGetTextDatum(demand_class_name(c));
	nulls[0] = c == DEMAND_NONE;
	values[1] = Float8GetDatum(adi);
	nulls[1] = isnan(adi);
	values[2] = Float8GetDatum(cv2);
	nulls[2] = isnan(cv2);
	values[3] = Int32GetDatum(demands);
	values[4] = Int32GetDatum(n);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * demand_class.h: the Syntetos-Boylan-Croston classification of a demand series (smooth,
 * erratic, intermittent, lumpy), used by retailiq.demand_class, ADIDA/IMAPA and 'auto'.
 */
#ifndef RETAILIQ_FORECAST_DEMAND_CLASS_H
#define RETAILIQ_FORECAST_DEMAND_CLASS_H

/* the cut-offs of Syntetos, Boylan & Croston (2005) */
#define DEMAND_ADI_CUT 1.32
#define DEMAND_CV2_CUT 0.49

typedef enum DemandClass
{
	DEMAND_NONE,				/* no demand at all */
	DEMAND_SMOOTH,
	DEMAND_ERRATIC,
	DEMAND_INTERMITTENT,
	DEMAND_LUMPY
} DemandClass;

/*
 * The inputs of the classification: returns the number of periods with demand (y != 0);
 * ADI = the mean interval between demands, the first counted from the start of the
 * series (the periods up to the last demand over their number; NAN without demand);
 * CV^2 = the squared coefficient of variation of the non-zero demand sizes (sample
 * variance over the squared mean; NAN with fewer than 2 demands).
 */
extern int	demand_stats(const double *y, int n, double *adi, double *cv2);

/* the class of y (a single demand: decided by ADI alone, as if CV^2 were 0) */
extern DemandClass demand_classify(const double *y, int n, double *adi, double *cv2, int *demands);

extern const char *demand_class_name(DemandClass c);

#endif							/* RETAILIQ_FORECAST_DEMAND_CLASS_H */

/*
 * alerts.h: what the alerts part offers other parts in C.
 */
#ifndef RETAILIQ_ALERTS_H
#define RETAILIQ_ALERTS_H

/* The standard normal quantile (inverse CDF) for p in (0, 1): Wichura's AS 241. */
extern double alert_normal_quantile_value(double p);

#endif

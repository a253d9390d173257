/*
 * agg_state.h: checks of aggregate states that any role can construct.
 *
 * A state of type float8[] or bytea (the types Citus can ship between nodes) reaches a
 * transition, combine or final function from retailiq's own aggregate, but also from a
 * superuser's CREATE AGGREGATE ... INITCOND or a direct call of the combine or final
 * function. Every header field is checked against the real length before use; a state that
 * fails is data corruption (XX001) naming the aggregate, never an elog or a crash.
 */
#ifndef RETAILIQ_AGG_STATE_H
#define RETAILIQ_AGG_STATE_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/array.h"

/* The aggregate's memory context; an ERROR (0A000) when called outside an aggregate. */
extern MemoryContext riq_agg_context(FunctionCallInfo fcinfo, const char *fname);
/* A float8[] state: one dimension, no NULLs, exactly `expect` elements (any if < 0). */
extern double *riq_state_array(ArrayType *a, const char *aggname, int expect);
/* A count or size stored in a state: a whole number in [lo, hi]. */
extern int64 riq_state_count(double v, const char *aggname, const char *field, int64 lo, int64 hi);
/* A bytea state of exactly `expect` bytes, header included. */
extern void riq_state_size(const bytea *b, const char *aggname, Size expect);
extern void riq_state_corrupt(const char *aggname, const char *detail_fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

#endif

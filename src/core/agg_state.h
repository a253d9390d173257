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
#include "utils/expandeddatum.h"

/* The aggregate's memory context; an ERROR (0A000) when called outside an aggregate. */
extern MemoryContext riq_agg_context(FunctionCallInfo fcinfo, const char *fname);
/*
 * The planner's estimate of the rows a plain (ungrouped) aggregate reads, as a size hint for
 * a state that holds them; 0 when unknown (grouped, a window, a direct call).
 */
extern double riq_agg_input_rows(FunctionCallInfo fcinfo);
/* A float8[] state: one dimension, no NULLs, exactly `expect` elements (any if < 0). */
extern double *riq_state_array(ArrayType *a, const char *aggname, int expect);
/* A count or size stored in a state: a whole number in [lo, hi]. */
extern int64 riq_state_count(double v, const char *aggname, const char *field, int64 lo, int64 hi);
/* A bytea state of exactly `expect` bytes, header included. */
extern void riq_state_size(const bytea *b, const char *aggname, Size expect);
extern void riq_state_corrupt(const char *aggname, const char *detail_fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

/*
 * A bytea aggregate state held as an expanded object (utils/expandeddatum.h): the transition
 * function updates the part's own in-memory state in place, as with an internal state, yet
 * the state's type is bytea, so Citus splits the aggregate over shards (worker_partial_agg,
 * coord_combine_agg) and parallel query ships it with no serial/deserial functions. Whenever
 * PostgreSQL or Citus needs the bytes (a tuple, the text form, datumCopy) it asks flat_size
 * and flatten; a flat bytea reaching a support function (a partial state from another node,
 * an INITCOND, a direct call) goes through expand, which must check every field against the
 * real length (riq_state_corrupt).
 */
typedef struct RiqXStateMethods
{
	const char *what;			/* the aggregate, for errors */
	Size		(*flat_size) (void *state, const void *arg);	/* bytes after the varlena header */
	void		(*flatten) (void *state, const void *arg, char *dst, Size len);
	void	   *(*expand) (MemoryContext cxt, const void *arg, const char *src, Size len);
	const void *arg;			/* passed to each callback */
} RiqXStateMethods;

typedef struct RiqXState
{
	ExpandedObjectHeader hdr;
	const RiqXStateMethods *m;
	void	   *state;			/* the part's state, allocated in cxt */
	MemoryContext cxt;			/* the object's own context, a child of the aggregate's */
	Size		flat;			/* from the last flat_size, for flatten */
} RiqXState;

/*
 * The state in argument argno: NULL for a NULL argument; this aggregate's own object as it
 * is; anything else (a flat bytea) expanded, with its checks, into a new object in the
 * aggregate context. read_only accepts a read-only pointer to an object of ours (final
 * functions get one).
 */
extern RiqXState *riq_xstate_arg(FunctionCallInfo fcinfo, int argno, const RiqXStateMethods *m,
								 bool read_only);
/* A new empty object in the aggregate context; the caller sets xs->state (in xs->cxt). */
extern RiqXState *riq_xstate_new(FunctionCallInfo fcinfo, const RiqXStateMethods *m);
#define RIQ_XSTATE_DATUM(xs)	EOHPGetRWDatum(&(xs)->hdr)

#endif

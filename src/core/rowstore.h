/*
 * rowstore.h: the one store of rows held in an aggregate state.
 *
 * Aggregates whose final function needs every row (k-means, the maximum-likelihood fits of
 * the churn part, a silhouette) keep them as fixed-width float8 rows, row-major, in the
 * aggregate context. The store grows without an int32 cap on the row count, asks
 * retailiq.max_memory before each growth, folds -0 into +0 on the way in (so equal rows are
 * equal bytes), sorts the rows into one canonical (lexicographic) order so a result does not
 * depend on scan order or plan, concatenates two stores (a combine function), and writes and
 * reads a flat bytea (serial and deserial functions) whose every header field is checked
 * against the real length; a forged one is data corruption (XX001).
 *
 * Per-aggregate parameters (k, a seed, l2, feature names, a model) stay in the aggregate's own
 * small struct, beside an embedded RiqRows; the serial form carries them as an opaque "extra"
 * area between the store's header and its rows, which the aggregate writes and reads itself.
 */
#ifndef RETAILIQ_ROWSTORE_H
#define RETAILIQ_ROWSTORE_H

#include "postgres.h"

typedef struct RiqRows
{
	int			width;			/* float8 values per row, at least 1 */
	int64		n;				/* rows held */
	int64		cap;			/* rows allocated */
	double	   *data;			/* n x width, row-major */
	MemoryContext cxt;			/* where the rows live: the aggregate context */
	const char *what;			/* the aggregate, named by budget and corruption errors */
} RiqRows;

/* row i of the store */
#define RIQ_ROW(r, i)	((r)->data + (Size) (i) * (Size) (r)->width)

/*
 * The store's growth for any array an aggregate state holds beside (or instead of) rows:
 * room for `need` elements of `elem` bytes at *p (NULL: none yet, allocated in cxt), the
 * capacity doubled while small and then grown by a quarter, the increase charged to
 * retailiq.max_memory (ERROR 53200 naming `what` beyond it). Returns the array; *cap is
 * updated.
 */
extern void *riq_grow_array(MemoryContext cxt, void *p, int64 *cap, int64 need, Size elem,
							const char *what);

/* An empty store; `what` must outlive it (a string literal). */
extern void riq_rows_init(RiqRows *r, MemoryContext cxt, int width, const char *what);
/* Room for `need` rows, charged to retailiq.max_memory (ERROR 53200 beyond it). */
extern void riq_rows_reserve(RiqRows *r, int64 need);
/* Append one row of r->width values, -0 folded into +0. */
extern void riq_rows_append(RiqRows *r, const double *row);
/* Append every row of src (the combine step); the widths must agree. */
extern void riq_rows_concat(RiqRows *dst, const RiqRows *src);

/* Sort the rows lexicographically, in place: the canonical order. */
extern void riq_rows_sort(RiqRows *r);
/*
 * After riq_rows_sort: merge runs of equal rows into one, and return each kept row's
 * multiplicity (palloc'd in the current context). With merge false, keep every row and
 * return weights of 1.
 */
extern double *riq_rows_merge(RiqRows *r, bool merge);
/* After riq_rows_sort: the number of distinct rows, counting no further than `stop`. */
extern int64 riq_rows_count_distinct(const RiqRows *r, int64 stop);

/* The flat form: a header, `extra_len` opaque bytes of the aggregate's own, the rows. */
extern bytea *riq_rows_serialize(const RiqRows *r, const void *extra, Size extra_len);
/*
 * Read a flat form into r (rows copied into cxt and charged to the budget), checking the
 * header against the length and the width against 1..max_width (XX001 naming `what`
 * otherwise). Returns the extra area (pointing into b, unaligned) and its length.
 */
extern const char *riq_rows_deserialize(const bytea *b, RiqRows *r, MemoryContext cxt,
										int max_width, const char *what, Size *extra_len);

#endif

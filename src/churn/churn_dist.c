/*
 * churn_dist.c: maximum likelihood over a table without gathering it (issue 19). The
 * likelihood of BG/NBD and Gamma-Gamma is a sum over customers; bgnbd_loglik and
 * gammagamma_loglik are aggregates that add, at given parameters theta, each row's
 * log-likelihood and gradient into a float8[] state with a combine function, so Citus runs
 * them as a partial aggregate on every shard and adds the shards' states on the coordinator.
 * The *_fit_iterative functions run the minimiser of the one-node fits (churn_minimize) on
 * the coordinator and evaluate every objective with one such query: per evaluation, one
 * state of a dozen numbers travels per shard, whatever the number of customers.
 *
 * The state: [theta (nparam), counts and sums (nsum), their compensations (nsum)]: the sums
 * are compensated (Neumaier), so that the objective's rounding does not grow with the rows and
 * their order (the minimiser's line search compares values that differ in the 15th digit near
 * the optimum). theta is the point the sums were taken at; states at other points do not
 * combine.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "core/agg_state.h"
#include "core/arrays.h"
#include "churn/churn.h"

/* the state's length */
static inline int
churn_sum_len(const ChurnSumKind *k)
{
	return k->nparam + 2 * k->nsum;
}

void
churn_sum_add(double *state, const ChurnSumKind *k, int i, double v)
{
	double	   *s = state + k->nparam + i;
	double	   *c = state + k->nparam + k->nsum + i;
	double		t = *s + v;

	if (fabs(*s) >= fabs(v))
		*c += (*s - t) + v;
	else
		*c += (v - t) + *s;
	*s = t;
}

double *
churn_sum_state(FunctionCallInfo fcinfo, const ChurnSumKind *k, ArrayType **state)
{
	ArrayType  *a;
	double	   *s;
	double	   *theta;

	if (PG_ARGISNULL(k->theta_arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s's theta must not be NULL", k->name),
				 errhint("%s_fit_iterative passes the parameters it evaluates the likelihood at.", k->model)));
	theta = riq_float8_array_len(PG_GETARG_ARRAYTYPE_P(k->theta_arg), "theta", k->nparam);
	if (PG_ARGISNULL(0))
	{
		MemoryContext old = MemoryContextSwitchTo(riq_agg_context(fcinfo, k->name));
		double	   *init = palloc0(sizeof(double) * (churn_sum_len(k)));

		memcpy(init, theta, sizeof(double) * k->nparam);
		a = riq_float8_array_make(init, churn_sum_len(k));
		MemoryContextSwitchTo(old);
		s = (double *) ARR_DATA_PTR(a);
	}
	else
	{
		/* in place: the state is this aggregate's own copy (checked as any other) */
		(void) riq_agg_context(fcinfo, k->name);
		a = PG_GETARG_ARRAYTYPE_P(0);
		s = riq_state_array(a, k->name, churn_sum_len(k));
		if (memcmp(s, theta, sizeof(double) * k->nparam) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("theta must be the same for every row of %s", k->name),
					 errhint("Pass a constant.")));
	}
	*state = a;
	return s;
}

/* a state's values, checked: theta finite, counts whole and not negative, sums finite */
static double *
sum_state_check(ArrayType *a, const ChurnSumKind *k)
{
	double	   *s = riq_state_array(a, k->name, churn_sum_len(k));

	for (int i = 0; i < churn_sum_len(k); i++)
		if (!isfinite(s[i]))
			riq_state_corrupt(k->name, "Its element %d is not finite.", i + 1);
	for (int i = 0; i < k->ncount; i++)
		(void) riq_state_count(s[k->nparam + i], k->name, "count", 0, (int64) 1 << 53);
	return s;
}

Datum
churn_sum_combine(FunctionCallInfo fcinfo, const ChurnSumKind *k)
{
	ArrayType  *a,
			   *b,
			   *r;
	double	   *sa,
			   *sb,
			   *sr;

	(void) riq_agg_context(fcinfo, k->name);
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	b = PG_GETARG_ARRAYTYPE_P(1);
	sb = sum_state_check(b, k);
	if (PG_ARGISNULL(0))
	{
		MemoryContext old = MemoryContextSwitchTo(riq_agg_context(fcinfo, k->name));

		r = riq_float8_array_make(sb, churn_sum_len(k));
		MemoryContextSwitchTo(old);
		PG_RETURN_ARRAYTYPE_P(r);
	}
	a = PG_GETARG_ARRAYTYPE_P(0);
	sa = sum_state_check(a, k);
	if (memcmp(sa, sb, sizeof(double) * k->nparam) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("theta must be the same for every row of %s", k->name),
				 errhint("Pass a constant.")));
	r = a;
	sr = sa;
	for (int i = 0; i < k->nsum; i++)
	{
		churn_sum_add(sr, k, i, sb[k->nparam + i]);
		sr[k->nparam + k->nsum + i] += sb[k->nparam + k->nsum + i];
	}
	PG_RETURN_ARRAYTYPE_P(r);
}

void
churn_dist_begin(ChurnDistQuery *q, const ChurnSumKind *k, Oid relid, const char *const *columns)
{
	StringInfoData sql;
	Oid			argtype = FLOAT8ARRAYOID;
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Pass the table or view of one row per customer.")));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT retailiq_internal.%s(", k->name);
	for (int i = 0; i < k->theta_arg - 1; i++)
	{
		if (columns[i] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s_fit_iterative arguments must not be NULL", k->model),
					 errhint("Name the relation and its columns.")));
		appendStringInfo(&sql, "%s, ", quote_identifier(columns[i]));
	}
	appendStringInfo(&sql, "$1) FROM %s",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname));
	q->k = k;
	q->out = palloc(sizeof(double) * (churn_sum_len(k)));
	q->queries = 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "%s_fit_iterative: SPI_connect failed", k->model);
	q->plan = SPI_prepare(sql.data, 1, &argtype);
	if (q->plan == NULL)
		elog(ERROR, "%s_fit_iterative: SPI_prepare failed: %s", k->model, SPI_result_code_string(SPI_result));
	pfree(sql.data);
}

bool
churn_dist_eval(ChurnDistQuery *q, const double *theta)
{
	const ChurnSumKind *k = q->k;
	Datum		arg;
	char		null = ' ';
	bool		isnull;
	Datum		d;
	double	   *s;

	CHECK_FOR_INTERRUPTS();
	arg = PointerGetDatum(riq_float8_array_make(theta, k->nparam));
	if (SPI_execute_plan(q->plan, &arg, &null, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "%s_fit_iterative: the likelihood query failed", k->model);
	q->queries++;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
	{
		SPI_freetuptable(SPI_tuptable);
		return false;
	}
	s = sum_state_check(DatumGetArrayTypeP(d), k);
	if (memcmp(s, theta, sizeof(double) * k->nparam) != 0)
		riq_state_corrupt(k->name, "It was taken at other parameters than asked.");
	memcpy(q->out, s, sizeof(double) * k->nparam);
	for (int i = 0; i < k->nsum; i++)
		q->out[k->nparam + i] = s[k->nparam + i] + s[k->nparam + k->nsum + i];
	SPI_freetuptable(SPI_tuptable);
	pfree(DatumGetPointer(arg));
	return true;
}

void
churn_dist_end(ChurnDistQuery *q)
{
	SPI_freeplan(q->plan);
	SPI_finish();
}

/*
 * stores_of.c: retailiq.stores_of(role name), the stores a role may see, which the store
 * security policies (enable_store_security) call for every row they check.
 *
 * The answer is read from retailiq.store_access once per query expression and kept in the
 * expression's function cache (fn_extra) for the rows after the first: a STABLE function
 * gives one answer within a statement, and reading the table once per row cost a
 * millisecond a row where store_access is a Citus reference table (each read is a
 * distributed query). A policy cannot read it once by itself: Citus does not copy a policy
 * holding a subquery to the shards.
 *
 * On a Citus worker (a policy on a shard of a distributed table) the grants are matched
 * by the name they were made under (store_access.grantee): the role OIDs in the reference
 * table are the coordinator's. Elsewhere they are matched by OID, so that a role dropped
 * and created again under its name inherits no store.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(stores_of);

typedef struct StoresCache
{
	NameData	role;
	ArrayType  *stores;			/* in fn_mcxt */
} StoresCache;

Datum
stores_of(PG_FUNCTION_ARGS)
{
	StoresCache *cache = (StoresCache *) fcinfo->flinfo->fn_extra;
	Name		role;
	Oid			types[1] = {NAMEOID};
	Datum		values[1];
	bool		isnull;
	Datum		d;
	MemoryContext old;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	role = PG_GETARG_NAME(0);
	if (cache != NULL && strcmp(NameStr(cache->role), NameStr(*role)) == 0)
		PG_RETURN_ARRAYTYPE_P(cache->stores);

	values[0] = NameGetDatum(role);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "stores_of: SPI_connect failed");
	if (SPI_execute_with_args(
							  "SELECT coalesce(array_agg(DISTINCT a.store_id), '{}')"
							  "  FROM retailiq.store_access a"
							  " WHERE CASE WHEN retailiq_internal.citus_worker()"
							  "            THEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = a.grantee)"
							  "                 AND pg_catalog.pg_has_role($1, a.grantee, 'MEMBER')"
							  "            ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = a.role_name)"
							  "                 AND pg_catalog.pg_has_role($1, a.role_name::oid, 'MEMBER') END",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "stores_of: could not read retailiq.store_access");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "stores_of: no answer");
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (cache == NULL)
		cache = palloc0(sizeof(StoresCache));
	else
		pfree(cache->stores);
	namestrcpy(&cache->role, NameStr(*role));
	cache->stores = DatumGetArrayTypePCopy(d);
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = cache;
	SPI_finish();
	PG_RETURN_ARRAYTYPE_P(cache->stores);
}

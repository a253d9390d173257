/*
 * masked_roles.c: which roles are masked, cached per backend.
 *
 * Every query of a masked role is checked by the executor hook (hooks.c), so the list of
 * roles labelled MASKED is read from pg_shseclabel once and kept until an invalidation:
 * the label provider (labels.c) sends a relcache invalidation of pg_shseclabel with every
 * role label it accepts or removes, so every backend drops its list at the next command
 * after the commit. (Roles dropped since stay in the list: harmless, no role has their
 * oid.) This file calls neither hooks.c nor labels.c; both call it.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_shseclabel.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "privacy/privacy_int.h"

#define PROVIDER "retailiq"

static Oid *masked_roles = NULL;
static int	n_masked_roles = 0;
static bool masked_roles_valid = false;

static void
masked_roles_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == SharedSecLabelRelationId)
		masked_roles_valid = false;
}

static void
load_masked_roles(void)
{
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	int			cap = 8;
	Oid		   *list = MemoryContextAlloc(TopMemoryContext, cap * sizeof(Oid));
	int			n = 0;

	rel = table_open(SharedSecLabelRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_shseclabel form = (Form_pg_shseclabel) GETSTRUCT(tup);
		bool		isnull;
		Datum		prov;

		if (form->classoid != AuthIdRelationId)
			continue;
		prov = heap_getattr(tup, Anum_pg_shseclabel_provider, RelationGetDescr(rel), &isnull);
		if (isnull || strcmp(TextDatumGetCString(prov), PROVIDER) != 0)
			continue;
		if (n == cap)
		{
			cap *= 2;
			list = repalloc(list, cap * sizeof(Oid));
		}
		list[n++] = form->objoid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (masked_roles != NULL)
		pfree(masked_roles);
	masked_roles = list;
	n_masked_roles = n;
	masked_roles_valid = true;
}

/* Is roleid one of, or a member of one of, the roles labelled MASKED? */
bool
privacy_role_is_masked(Oid roleid)
{
	int			i;

	if (!OidIsValid(roleid))
		return false;
	if (!masked_roles_valid)
		load_masked_roles();
	for (i = 0; i < n_masked_roles; i++)
		if (masked_roles[i] == roleid || is_member_of_role_nosuper(roleid, masked_roles[i]))
			return true;
	return false;
}

/* Called by the label hook for every role label it accepts or removes. */
void
privacy_role_labels_changed(void)
{
	CacheInvalidateRelcacheByRelid(SharedSecLabelRelationId);
}

void
privacy_masked_roles_init(void)
{
	CacheRegisterRelcacheCallback(masked_roles_inval, (Datum) 0);
}

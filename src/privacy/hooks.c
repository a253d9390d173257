/*
 * hooks.c: what keeps a masked role on its masking views, and the privacy GUCs.
 *
 * apply_masking() gives each masked role views in schema retailiq_mask and revokes its
 * grants on the labelled tables, but a DBA may grant them again, a role may own views or
 * functions of its own, and the planner reads statistics with the user's operators. So:
 *
 * - ExecutorCheckPerms (every query, COPY, each parallel worker): while the current or the
 *   session user is a masked role, any range-table entry of a labelled table (or a partition
 *   of one) must be checked as retailiq_masking_owner, i.e. come through a masking view;
 *   pg_statistic and pg_statistic_ext_data (behind pg_stats) are refused outright.
 * - get_relation_stats_hook / get_index_stats_hook: the planner gives a masked role's own
 *   operators no statistics of a labelled table, so estimator calls cannot leak MCVs.
 * - ProcessUtility: a masked role may not attach triggers, rules, policies, indexes or
 *   statistics objects to a labelled table, nor alter it, whatever it was granted.
 *
 * The label provider itself (labels.c) and the cache of masked roles (masked_roles.c) sit
 * below this file: it calls them, they never call it.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/syscache.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/partition.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_seclabel.h"
#include "catalog/pg_shseclabel.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_statistic_ext_data.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/selfuncs.h"
#include "rewrite/rewriteSupport.h"
#include "catalog/namespace.h"

#include "privacy/privacy.h"
#include "privacy/privacy_int.h"

#define PROVIDER "retailiq"
#define MASKING_OWNER "retailiq_masking_owner"

static ExecutorCheckPerms_hook_type prev_check_perms = NULL;
static ProcessUtility_hook_type prev_utility = NULL;
static get_relation_stats_hook_type prev_rel_stats = NULL;
static get_index_stats_hook_type prev_index_stats = NULL;

static char *audit_retention = NULL;
static bool audit_reads = false;
static bool audit_purging = false;
static bool in_audit = false;

PG_FUNCTION_INFO_V1(privacy_is_masked);
PG_FUNCTION_INFO_V1(privacy_is_labelled);

static bool
has_column_label(Oid relid)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tup;
	bool		found = false;

	rel = table_open(SecLabelRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_seclabel_objoid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[1], Anum_pg_seclabel_classoid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	scan = systable_beginscan(rel, SecLabelObjectIndexId, true, NULL, 2, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		FormData_pg_seclabel *form = (FormData_pg_seclabel *) GETSTRUCT(tup);
		bool		isnull;
		Datum		prov;

		if (form->objsubid == 0)
			continue;
		prov = heap_getattr(tup, Anum_pg_seclabel_provider, RelationGetDescr(rel), &isnull);
		if (!isnull && strcmp(TextDatumGetCString(prov), PROVIDER) == 0)
			found = true;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Does relid, or a partitioned table it is a partition of, carry a masking rule? */
static bool
privacy_relation_is_labelled(Oid relid)
{
	if (has_column_label(relid))
		return true;
	if (get_rel_relispartition(relid))
	{
		List	   *ancestors = get_partition_ancestors(relid);
		ListCell   *lc;

		foreach(lc, ancestors)
			if (has_column_label(lfirst_oid(lc)))
				return true;
	}
	return false;
}

/*
 * Does a materialized view hold data of a labelled table? Its stored rows are a copy, so
 * the executor sees only the matview: follow its query's dependencies (through views and
 * other matviews, a few levels deep) to the tables it was computed from.
 */
static bool
stored_from_labelled(Oid relid, int depth)
{
	Oid			ruleoid;
	Relation	dep;
	SysScanDesc scan;
	ScanKeyData key[2];
	HeapTuple	tup;
	bool		found = false;

	if (depth > 8)
		return true;			/* too deep to tell: refuse rather than guess */
	ruleoid = get_rewrite_oid(relid, "_RETURN", true);
	if (!OidIsValid(ruleoid))
		return false;
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RewriteRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ruleoid));
	scan = systable_beginscan(dep, DependDependerIndexId, true, NULL, 2, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);
		char		kind;

		if (d->refclassid != RelationRelationId || d->refobjid == relid)
			continue;
		kind = get_rel_relkind(d->refobjid);
		if (privacy_relation_is_labelled(d->refobjid))
			found = true;
		else if ((kind == RELKIND_VIEW || kind == RELKIND_MATVIEW) &&
				 stored_from_labelled(d->refobjid, depth + 1))
			found = true;
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return found;
}

static bool
query_is_masked(void)
{
	Oid			cur = GetUserId();
	Oid			sess = GetSessionUserId();

	return privacy_role_is_masked(cur) || (sess != cur && privacy_role_is_masked(sess));
}

static Oid
masking_owner(void)
{
	return get_role_oid(MASKING_OWNER, true);
}

/*
 * retailiq.audit_reads: one audit record per statement that reads labelled tables as an
 * unmasked role. Written through SPI as the audit log's owner (audit_record is not granted
 * to PUBLIC); skipped where nothing can be written (parallel workers, read-only
 * transactions, recovery), which doc/privacy.md lists as a limit.
 */
static void
audit_labelled_reads(List *rtable)
{
	ListCell   *lc;
	List	   *names = NIL;
	List	   *relids = NIL;
	Oid			save_userid;
	int			save_sec;
	Oid			logrel;
	ArrayType  *arr;

	if (IsParallelWorker() || RecoveryInProgress() || XactReadOnly || !IsTransactionState())
		return;
	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION && (rte->requiredPerms & ACL_SELECT) &&
			!list_member_oid(relids, rte->relid) && privacy_relation_is_labelled(rte->relid))
		{
			relids = lappend_oid(relids, rte->relid);
			names = lappend(names, quote_qualified_identifier(get_namespace_name(get_rel_namespace(rte->relid)),
															  get_rel_name(rte->relid)));
		}
	}
	if (names == NIL)
		return;
	logrel = get_relname_relid("audit_log", get_namespace_oid("retailiq", true));
	if (!OidIsValid(logrel))
		return;

	{
		Datum	   *elems = palloc(sizeof(Datum) * list_length(names));
		int			i = 0;

		foreach(lc, names)
			elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
		arr = construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT);
	}

	GetUserIdAndSecContext(&save_userid, &save_sec);
	in_audit = true;
	PG_TRY();
	{
		Datum		args[2];
		Oid			types[2] = {TEXTARRAYOID, TEXTOID};
		HeapTuple	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(logrel));
		Oid			owner;

		if (!HeapTupleIsValid(ctup))
			elog(ERROR, "cache lookup failed for relation %u", logrel);
		owner = ((Form_pg_class) GETSTRUCT(ctup))->relowner;
		ReleaseSysCache(ctup);
		args[0] = PointerGetDatum(arr);
		args[1] = CStringGetTextDatum(GetUserNameFromId(save_userid, false));
		SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		SPI_execute_with_args("SELECT retailiq.audit_record('read', "
							  "jsonb_build_object('tables', $1, 'role', $2))",
							  2, types, args, NULL, false, 0);
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec);
		in_audit = false;
	}
	PG_CATCH();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
		in_audit = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

static bool
privacy_check_perms(List *rtable, bool ereport_on_violation)
{
	ListCell   *lc;
	Oid			owner = InvalidOid;
	bool		owner_known = false;

	if (prev_check_perms && !prev_check_perms(rtable, ereport_on_violation))
		return false;
	if (!query_is_masked())
	{
		if (audit_reads && !in_audit)
			audit_labelled_reads(rtable);
		return true;
	}

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind != RTE_RELATION || rte->requiredPerms == 0)
			continue;
		if (rte->relid == StatisticRelationId || rte->relid == StatisticExtDataRelationId)
		{
			if (!ereport_on_violation)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("masked role \"%s\" cannot read planner statistics",
							GetUserNameFromId(GetUserId(), false)),
					 errdetail("pg_stats and pg_stats_ext show values of masked columns."),
					 errhint("Ask a DBA who is not masked to look at statistics.")));
		}
		if (!owner_known)
		{
			owner = masking_owner();
			owner_known = true;
		}
		if (OidIsValid(owner) && rte->checkAsUser == owner)
			continue;
		if (rte->relkind == RELKIND_MATVIEW && stored_from_labelled(rte->relid, 0))
		{
			if (!ereport_on_violation)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("masked role \"%s\" cannot read materialized view \"%s\"",
							GetUserNameFromId(GetUserId(), false), get_rel_name(rte->relid)),
					 errdetail("It holds a copy of data from tables with masking rules."),
					 errhint("Build it over the masking views instead, or use retailiq.anonymize_copy().")));
		}
		if (privacy_relation_is_labelled(rte->relid))
		{
			if (!ereport_on_violation)
				return false;
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("masked role \"%s\" cannot access table \"%s\" directly",
							GetUserNameFromId(GetUserId(), false), get_rel_name(rte->relid)),
					 errdetail("The table has masking rules; masked roles read it only through retailiq_mask.%s.",
							   get_rel_name(rte->relid)),
					 errhint("Use the table's ordinary name with the role's default search_path, or retailiq_mask.%s.",
							 get_rel_name(rte->relid))));
		}
	}
	return true;
}

static bool
privacy_rel_stats(PlannerInfo *root, RangeTblEntry *rte, AttrNumber attnum, VariableStatData *vardata)
{
	if (rte->rtekind == RTE_RELATION && query_is_masked())
	{
		Oid			owner = masking_owner();

		if (!(OidIsValid(owner) && rte->checkAsUser == owner) &&
			privacy_relation_is_labelled(rte->relid))
		{
			vardata->statsTuple = NULL;
			vardata->acl_ok = false;
			return true;
		}
	}
	if (prev_rel_stats)
		return prev_rel_stats(root, rte, attnum, vardata);
	return false;
}

static bool
privacy_index_stats(PlannerInfo *root, Oid indexOid, AttrNumber indexattnum, VariableStatData *vardata)
{
	if (query_is_masked() && privacy_relation_is_labelled(IndexGetRelation(indexOid, false)))
	{
		vardata->statsTuple = NULL;
		vardata->acl_ok = false;
		return true;
	}
	if (prev_index_stats)
		return prev_index_stats(root, indexOid, indexattnum, vardata);
	return false;
}

static void
refuse_if_labelled(RangeVar *rv, const char *what)
{
	Oid			relid;

	if (rv == NULL)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(relid) && privacy_relation_is_labelled(relid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("masked role \"%s\" cannot %s table \"%s\"",
						GetUserNameFromId(GetUserId(), false), what, get_rel_name(relid)),
				 errdetail("The table has masking rules."),
				 errhint("Ask a DBA who is not masked.")));
}

static void
privacy_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	switch (nodeTag(stmt))
	{
		case T_CreateTrigStmt:
		case T_RuleStmt:
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
		case T_AlterTableStmt:
		case T_IndexStmt:
		case T_CreateStatsStmt:
		case T_VacuumStmt:
			if (query_is_masked())
			{
				if (IsA(stmt, CreateTrigStmt))
					refuse_if_labelled(((CreateTrigStmt *) stmt)->relation, "create a trigger on");
				else if (IsA(stmt, RuleStmt))
					refuse_if_labelled(((RuleStmt *) stmt)->relation, "create a rule on");
				else if (IsA(stmt, CreatePolicyStmt))
					refuse_if_labelled(((CreatePolicyStmt *) stmt)->table, "create a policy on");
				else if (IsA(stmt, AlterPolicyStmt))
					refuse_if_labelled(((AlterPolicyStmt *) stmt)->table, "alter a policy on");
				else if (IsA(stmt, AlterTableStmt))
					refuse_if_labelled(((AlterTableStmt *) stmt)->relation, "alter");
				else if (IsA(stmt, IndexStmt))
					refuse_if_labelled(((IndexStmt *) stmt)->relation, "index");
				else if (IsA(stmt, CreateStatsStmt))
				{
					ListCell   *lc;

					foreach(lc, ((CreateStatsStmt *) stmt)->relations)
						if (IsA(lfirst(lc), RangeVar))
							refuse_if_labelled((RangeVar *) lfirst(lc), "create statistics on");
				}
				else if (IsA(stmt, VacuumStmt))
				{
					ListCell   *lc;

					foreach(lc, ((VacuumStmt *) stmt)->rels)
						refuse_if_labelled(lfirst_node(VacuumRelation, lc)->relation, "analyze");
				}
			}
			break;
		default:
			break;
	}
	if (prev_utility)
		prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/*
 * retailiq.audit_retention: how long audit records are kept, at least 6 years. Written
 * "<n> years", "<n> months" or "<n> days"; checked without raising, as GUC checks must.
 */
static bool
check_retention(char **newval, void **extra, GucSource source)
{
	const char *s = *newval;
	char	   *end;
	long		n;
	double		years;

	if (s == NULL)
		return true;
	n = strtol(s, &end, 10);
	while (*end == ' ')
		end++;
	if (end == s || n < 0)
		years = -1;
	else if (pg_strcasecmp(end, "years") == 0 || pg_strcasecmp(end, "year") == 0)
		years = n;
	else if (pg_strcasecmp(end, "months") == 0 || pg_strcasecmp(end, "month") == 0)
		years = n / 12.0;
	else if (pg_strcasecmp(end, "days") == 0 || pg_strcasecmp(end, "day") == 0)
		years = n / 365.25;
	else
	{
		GUC_check_errdetail("Write the retention as \"<n> years\", \"<n> months\" or \"<n> days\".");
		return false;
	}
	if (years < 6.0)
	{
		GUC_check_errdetail("Audit records must be kept at least 6 years.");
		GUC_check_errhint("Set retailiq.audit_retention to '6 years' or more.");
		return false;
	}
	return true;
}

/* retailiq.is_masked(role oid) -> bool */
Datum
privacy_is_masked(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(privacy_role_is_masked(PG_GETARG_OID(0)));
}

/* retailiq.has_masking_rules(rel regclass) -> bool */
Datum
privacy_is_labelled(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(privacy_relation_is_labelled(PG_GETARG_OID(0)));
}

void
privacy_init(void)
{
	DefineCustomStringVariable("retailiq.audit_retention",
							   "How long retailiq.audit_log keeps records (at least 6 years).",
							   "retailiq.purge_audit_log() deletes only records older than this.",
							   &audit_retention, "7 years", PGC_SUSET, 0,
							   check_retention, NULL, NULL);
	DefineCustomBoolVariable("retailiq.audit_reads",
							 "Record reads of tables with masking rules by roles that are not masked.",
							 NULL, &audit_reads, false, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("retailiq.audit_purging",
							 "Set by retailiq.purge_audit_log() for its own transaction only.",
							 "The audit log's append-only trigger lets rows older than the retention go while it is on.",
							 &audit_purging, false, PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							 NULL, NULL, NULL);
	privacy_labels_init();
	privacy_masked_roles_init();

	prev_check_perms = ExecutorCheckPerms_hook;
	ExecutorCheckPerms_hook = privacy_check_perms;
	prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = privacy_utility;
	prev_rel_stats = get_relation_stats_hook;
	get_relation_stats_hook = privacy_rel_stats;
	prev_index_stats = get_index_stats_hook;
	get_index_stats_hook = privacy_index_stats;
}

/*
 * labels.c: the `retailiq` security label provider.
 *
 * Column labels are masking rules ('MASKED WITH FUNCTION schema.f(col, ...)', 'MASKED WITH
 * VALUE <constant>', 'PSEUDONYMIZED'); role labels mark masked roles ('MASKED'). A rule is
 * checked when it is set, so retailiq.apply_masking() can paste it into a view without
 * surprises: the function call must be one schema-qualified call whose arguments are column
 * names and constants (no subqueries, so a rule cannot read other tables as the masking
 * owner), and it must plan against the column's table and cast to the column's type.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/seclabel.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/rls.h"
#include "utils/syscache.h"

#include "privacy/privacy_int.h"

static void privacy_relabel_check(const ObjectAddress *object, const char *label);

static bool
label_prefix(const char *label, const char *prefix, const char **rest)
{
	size_t		n = strlen(prefix);

	if (pg_strncasecmp(label, prefix, n) != 0)
		return false;
	*rest = label + n;
	return true;
}

static void
bad_label(const char *label, const char *why, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid retailiq masking rule \"%s\"", label),
			 errdetail("%s", why),
			 errhint("%s", hint)));
}

/* One parsed expression from "SELECT <text>", or an error naming the label. */
static Node *
parse_one_expression(const char *label, const char *text)
{
	List	   *raw;
	RawStmt    *rs;
	SelectStmt *sel;
	ResTarget  *rt;
	char	   *sql = psprintf("SELECT %s", text);
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		FlushErrorState();
		bad_label(label, "The rule is not valid SQL.",
				  "Write e.g. MASKED WITH FUNCTION retailiq.mask_partial(phone, 3, 2).");
		raw = NIL;				/* not reached */
	}
	PG_END_TRY();

	if (list_length(raw) != 1)
		bad_label(label, "The rule must hold exactly one expression.", "Remove the ';' and what follows it.");
	rs = linitial_node(RawStmt, raw);
	if (!IsA(rs->stmt, SelectStmt))
		bad_label(label, "The rule must be an expression.", "Write one function call or one constant.");
	sel = (SelectStmt *) rs->stmt;
	if (sel->fromClause != NIL || sel->whereClause != NULL || sel->groupClause != NIL ||
		sel->havingClause != NULL || sel->windowClause != NIL || sel->sortClause != NIL ||
		sel->limitCount != NULL || sel->limitOffset != NULL || sel->withClause != NULL ||
		sel->op != SETOP_NONE || sel->distinctClause != NIL || sel->lockingClause != NIL ||
		list_length(sel->targetList) != 1)
		bad_label(label, "The rule must be one expression.", "Write one function call or one constant.");
	rt = linitial_node(ResTarget, sel->targetList);
	if (rt->name != NULL)
		bad_label(label, "The rule must not carry an alias.", "Remove AS ... from the rule.");
	return rt->val;
}

static bool
is_constant(Node *n)
{
	if (IsA(n, A_Const))
		return true;
	if (IsA(n, TypeCast))
		return is_constant(((TypeCast *) n)->arg);
	if (IsA(n, A_Expr))
	{
		A_Expr	   *e = (A_Expr *) n;

		return e->kind == AEXPR_OP && e->lexpr == NULL && e->rexpr != NULL &&
			list_length(e->name) == 1 &&
			strcmp(strVal(linitial(e->name)), "-") == 0 && IsA(e->rexpr, A_Const);
	}
	return false;
}

/*
 * Plans "SELECT CAST((expr) AS coltype) FROM ONLY rel" to check names, argument types and
 * the result type; an aggregate, window function or set-returning function is refused.
 */
static void
check_plans(const char *label, Oid relid, AttrNumber attnum, const char *expr, bool from_table)
{
	Oid			typid;
	int32		typmod;
	Oid			collid;
	char	   *sql;
	SPIPlanPtr	plan;
	List	   *sources;
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	get_atttypetypmodcoll(relid, attnum, &typid, &typmod, &collid);
	if (from_table)
		sql = psprintf("SELECT (%s) FROM ONLY %s.%s",
					   expr,
					   quote_identifier(get_namespace_name(get_rel_namespace(relid))),
					   quote_identifier(get_rel_name(relid)));
	else
		sql = psprintf("SELECT CAST((%s) AS %s)", expr, format_type_with_typemod(typid, typmod));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		plan = SPI_prepare(sql, 0, NULL);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		sources = SPI_plan_get_plan_sources(plan);
		if (list_length(sources) == 1)
		{
			CachedPlanSource *ps = linitial(sources);
			Query	   *q = linitial_node(Query, ps->query_list);

			Oid			restype;

			if (q->hasAggs || q->hasWindowFuncs || q->hasTargetSRFs || q->hasSubLinks)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("a masking rule must compute one value per row")));
			restype = exprType((Node *) linitial_node(TargetEntry, q->targetList)->expr);
			if (from_table && !can_coerce_type(1, &restype, &typid, COERCION_ASSIGNMENT))
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("the function returns %s, which is not assignable to the column's type %s",
								format_type_be(restype), format_type_be(typid))));
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();
	SPI_finish();
	if (edata != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid retailiq masking rule \"%s\"", label),
				 errdetail("Checking it against column \"%s\" of table \"%s\" failed: %s",
						   get_attname(relid, attnum, false), get_rel_name(relid), edata->message),
				 errhint("The call must name existing columns of the table and return a value of the column's type.")));
}

static void
check_column_label(const ObjectAddress *object, const char *label)
{
	Oid			relid = object->objectId;
	AttrNumber	attnum = (AttrNumber) object->objectSubId;
	char		relkind = get_rel_relkind(relid);
	const char *rest;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("retailiq masking rules apply to columns of tables"),
				 errdetail("\"%s\" is not a table.", get_rel_name(relid)),
				 errhint("Label the columns of the underlying table.")));
	if (get_rel_relispartition(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("retailiq masking rules apply to the partitioned table, not to a partition"),
				 errhint("Label the column of the partitioned table; its partitions are covered.")));

	while (*label == ' ')
		label++;
	if (label_prefix(label, "MASKED WITH FUNCTION ", &rest))
	{
		Node	   *n = parse_one_expression(label, rest);
		FuncCall   *fc;
		ListCell   *lc;

		if (!IsA(n, FuncCall))
			bad_label(label, "MASKED WITH FUNCTION needs one function call.",
					  "Write e.g. MASKED WITH FUNCTION retailiq.mask_email(email).");
		fc = (FuncCall *) n;
		if (list_length(fc->funcname) != 2)
			bad_label(label, "The function name must be schema-qualified.",
					  "Write retailiq.mask_partial(...), not mask_partial(...).");
		if (fc->agg_order != NIL || fc->agg_filter != NULL || fc->over != NULL ||
			fc->agg_star || fc->agg_distinct || fc->agg_within_group)
			bad_label(label, "Aggregate and window syntax is not allowed.", "Call a plain function.");
		foreach(lc, fc->args)
		{
			Node	   *a = lfirst(lc);

			if (IsA(a, NamedArgExpr))
				a = (Node *) ((NamedArgExpr *) a)->arg;
			if (IsA(a, ColumnRef) && list_length(((ColumnRef *) a)->fields) == 1 &&
				IsA(linitial(((ColumnRef *) a)->fields), String))
				continue;
			if (is_constant(a))
				continue;
			bad_label(label, "Function arguments must be column names or constants.",
					  "Move any computation into the masking function itself.");
		}
		check_plans(label, relid, attnum, rest, true);
	}
	else if (label_prefix(label, "MASKED WITH VALUE ", &rest))
	{
		Node	   *n = parse_one_expression(label, rest);

		if (!is_constant(n))
			bad_label(label, "MASKED WITH VALUE needs a constant.",
					  "Write e.g. MASKED WITH VALUE NULL or MASKED WITH VALUE 'hidden'.");
		check_plans(label, relid, attnum, rest, false);
	}
	else if (pg_strcasecmp(label, "PSEUDONYMIZED") == 0)
	{
		Oid			typid = get_atttype(relid, attnum);

		if (typid != INT2OID && typid != INT4OID && typid != INT8OID &&
			typid != TEXTOID && typid != VARCHAROID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("PSEUDONYMIZED applies to integer and text columns"),
					 errdetail("Column \"%s\" is of type %s.", get_attname(relid, attnum, false),
							   format_type_be(typid)),
					 errhint("Use MASKED WITH FUNCTION for other types.")));
	}
	else
		bad_label(label, "A retailiq column label is MASKED WITH FUNCTION ..., MASKED WITH VALUE ... or PSEUDONYMIZED.",
				  "Check the spelling of the rule.");
}

/*
 * Whether this session is restoring a dump: pg_dump's and pg_dumpall's output (and
 * pg_restore) begin with an empty search_path, check_function_bodies off and row_security
 * off, a combination no ordinary session has. The labels such a session sets re-create what
 * the restored audit log already records (its data are loaded after the labels); recording
 * them again would write records and a chain head that collide with the restored ones.
 */
static bool
privacy_restoring(void)
{
	return !check_function_bodies && !row_security &&
		namespace_search_path != NULL && namespace_search_path[0] == '\0';
}

/*
 * Every accepted label change goes into the audit log of the current database (when
 * retailiq is installed there): superusers' direct SECURITY LABEL included, except a
 * restore's (privacy_restoring, doc/operations.md).
 */
static void
audit_label_change(const ObjectAddress *object, const char *label)
{
	Oid			nsp = get_namespace_oid("retailiq", true);
	Datum		args[2];
	Oid			types[2] = {TEXTOID, TEXTOID};
	char		nulls[2] = {' ', label ? ' ' : 'n'};

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("audit_log", nsp)))
		return;
	if (privacy_restoring())
		return;
	args[0] = CStringGetTextDatum(getObjectDescription(object, false));
	args[1] = label ? CStringGetTextDatum(label) : (Datum) 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT retailiq.audit_record('security_label', "
							  "jsonb_build_object('object', $1, 'label', $2))",
							  2, types, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not record the label change in retailiq.audit_log");
	SPI_finish();
}

static void
privacy_relabel(const ObjectAddress *object, const char *label)
{
	privacy_relabel_check(object, label);
	audit_label_change(object, label);

	/*
	 * Last, after the audit query (which reads the masked-role list itself): the
	 * invalidation is processed at the next command counter increment, after PostgreSQL
	 * has written the label, so no backend keeps a list without it.
	 */
	if (object->classId == AuthIdRelationId)
		privacy_role_labels_changed();
}

/*
 * Masking rules change through retailiq.set_masking_rule(), which needs a two-person
 * approval; only a superuser may bypass it with SECURITY LABEL.
 */
static void
privacy_check_label_change(const ObjectAddress *object)
{
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may set retailiq security labels directly"),
				 errhint("Use retailiq.set_masking_rule(), approved by a second member of retailiq_admin.")));
}

static void
privacy_relabel_check(const ObjectAddress *object, const char *label)
{
	/* removing a label is always allowed (the approval lies in who may run it) */
	if (label == NULL)
	{
		privacy_check_label_change(object);
		return;
	}
	if (object->classId == RelationRelationId && object->objectSubId > 0)
	{
		privacy_check_label_change(object);
		check_column_label(object, label);
	}
	else if (object->classId == AuthIdRelationId)
	{
		if (pg_strcasecmp(label, "MASKED") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid retailiq role label \"%s\"", label),
					 errhint("The only role label is MASKED.")));
		privacy_check_label_change(object);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("retailiq security labels apply to table columns and roles only"),
				 errhint("Label a column with a masking rule, or a role with MASKED.")));
}

void
privacy_labels_init(void)
{
	register_label_provider("retailiq", privacy_relabel);
}

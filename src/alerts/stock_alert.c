/*
 * stock_alert.c: retailiq.stock_alert(), a generic trigger that raises a low_stock alert when
 * an item's stock crosses below its threshold and resolves it when the stock recovers.
 *
 * CREATE TRIGGER t AFTER INSERT OR UPDATE ON inventory FOR EACH ROW
 *     EXECUTE FUNCTION retailiq.stock_alert('store_id,product_id', 'on_hand', 'reorder_level');
 *
 * Arguments: the item's key columns (comma-separated), the quantity column, and the threshold
 * (a numeric column, a numeric constant, or 'safety_stock' for the level derived from
 * retailiq.forecast_result by retailiq.safety_stock(); then optionally the lead time in days
 * and the service level). They are checked against the table at the first row of each
 * statement, with errors naming the argument.
 *
 * The common case, a row that stays on the same side of its threshold, costs two attribute
 * reads and a comparison: no SPI, no allocation. Only a crossing (or an escalation to zero
 * stock) calls into SQL, as the owner of retailiq.alert, so the table's writers need no
 * rights on the alert store. FOR EACH STATEMENT with transition tables (REFERENCING NEW
 * TABLE, and OLD TABLE for updates) handles bulk loads in one call.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/varlena.h"
#include "utils/tuplestore.h"


typedef enum ThresholdMode
{
	THRESHOLD_CONSTANT,
	THRESHOLD_COLUMN,
	THRESHOLD_SAFETY_STOCK
} ThresholdMode;

/* What the trigger's arguments mean for one table; built at the first row of a statement. */
typedef struct StockAlertConfig
{
	Oid			tgoid;
	Oid			relid;
	int			nkeys;
	AttrNumber *keyatt;
	char	  **keyname;
	FmgrInfo   *keyout;			/* output functions of the key columns */
	bool	   *keyjsonnum;		/* key type prints as a JSON number */
	int16	   *keylen;
	bool	   *keybyval;
	AttrNumber	qtyatt;
	Oid			qtytype;
	char	   *qtyname;
	ThresholdMode mode;
	double		thrconst;
	AttrNumber	thratt;
	Oid			thrtype;
	char	   *thrname;
	int			lead_time;
	double		service_level;
	char	   *tablename;		/* schema-qualified, quoted as needed */
	Oid			alert_relid;
	Oid			alert_owner;
} StockAlertConfig;

/*
 * Configurations live for the backend, one per trigger (pg_trigger oid), each in its own
 * memory context, so that a single-row UPDATE does not re-read its trigger's arguments.
 * Any relcache invalidation of the table or of retailiq.alert (ALTER TABLE, CREATE OR
 * REPLACE TRIGGER, a new owner) or any schema change marks them stale; a stale one is
 * rebuilt at its next use. A context is freed only when no stock_alert call is running in
 * the backend (a trigger can fire inside another one's SPI call), else at the end of the
 * outermost call or of the transaction.
 */
typedef struct ConfigEntry
{
	Oid			tgoid;			/* hash key */
	bool		valid;
	MemoryContext cxt;
	StockAlertConfig *cfg;
} ConfigEntry;

static HTAB *config_cache = NULL;
static MemoryContext config_cache_cxt = NULL;
static List *stale_contexts = NIL;	/* freed when active_calls drops to 0 */
static int	active_calls = 0;

/* An item's state on one side of the change. */
typedef enum StockState
{
	STOCK_UNKNOWN,				/* NULL or NaN quantity or threshold, or no forecast */
	STOCK_OK,
	STOCK_LOW,
	STOCK_OUT					/* low and at or below zero: critical */
} StockState;

static SPIPlanPtr raise_plan = NULL;
static SPIPlanPtr resolve_plan = NULL;
static SPIPlanPtr safety_plan = NULL;

static bool
numeric_type_ok(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return true;
		default:
			return false;
	}
}

/* A column's value as a double; false for NULL or NaN. */
static bool
datum_to_double(Datum d, Oid typid, double *out)
{
	double		v;

	switch (typid)
	{
		case INT2OID:
			v = DatumGetInt16(d);
			break;
		case INT4OID:
			v = DatumGetInt32(d);
			break;
		case INT8OID:
			v = (double) DatumGetInt64(d);
			break;
		case FLOAT4OID:
			v = DatumGetFloat4(d);
			break;
		case FLOAT8OID:
			v = DatumGetFloat8(d);
			break;
		case NUMERICOID:
			if (numeric_is_nan(DatumGetNumeric(d)))
				return false;
			v = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
			break;
		default:
			elog(ERROR, "stock_alert: unexpected type %u", typid);
			return false;
	}
	if (isnan(v))
		return false;
	*out = v;
	return true;
}

static bool
slot_double(TupleTableSlot *slot, AttrNumber att, Oid typid, double *out)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, att, &isnull);

	if (isnull)
		return false;
	return datum_to_double(d, typid, out);
}

/* The column an argument names, checked: it exists, is a user column, has a usable type. */
static AttrNumber
config_column(Relation rel, const char *colname, const char *argname, bool need_numeric,
			  Oid *typid)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), colname) != 0)
			continue;
		if (need_numeric && !numeric_type_ok(att->atttypid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s column \"%s\" of stock_alert on table \"%s\" has type %s, not a number",
							argname, colname, RelationGetRelationName(rel),
							format_type_be(att->atttypid)),
					 errhint("Use a column of type smallint, integer, bigint, real, double precision or numeric.")));
		*typid = att->atttypid;
		return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("%s column \"%s\" of stock_alert does not exist in table \"%s\"",
					argname, colname, RelationGetRelationName(rel)),
			 errhint("The trigger arguments are 'key_col[,key_col...]', 'qty_col' and the threshold (a column, a number or 'safety_stock').")));
	return InvalidAttrNumber;
}

static bool
column_exists(Relation rel, const char *colname)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), colname) == 0)
			return true;
	}
	return false;
}

/* A whole-string number, or false. */
static bool
parse_number(const char *s, double *out)
{
	char	   *end;
	double		v;

	if (*s == '\0')
		return false;
	errno = 0;
	v = strtod(s, &end);
	while (*end == ' ')
		end++;
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v))
		return false;
	*out = v;
	return true;
}

/*
 * A column name written as in SQL: unquoted names fold to lower case, double quotes keep
 * case and spaces. NULL when the argument is not a single identifier.
 */
static char *
single_identifier(const char *arg)
{
	char	   *copy = pstrdup(arg);
	List	   *names = NIL;

	if (!SplitIdentifierString(copy, ',', &names) || list_length(names) != 1)
		return NULL;
	return pstrdup((char *) linitial(names));
}

static Oid
alert_table_owner(Oid *alert_relid)
{
	Oid			nsp = get_namespace_oid("retailiq", false);
	Oid			relid = get_relname_relid("alert", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table retailiq.alert does not exist"),
				 errhint("Reinstall the extension: DROP EXTENSION retailiq; CREATE EXTENSION retailiq.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	*alert_relid = relid;
	return owner;
}

/* key columns: a comma-separated list, each an existing column, listed once */
static void
config_keys(StockAlertConfig *cfg, Relation rel, Trigger *tg, MemoryContext mcxt)
{
	List	   *keys = NIL;
	char	   *keylist;
	ListCell   *lc;
	int			i;
	Oid			typid;

	keylist = pstrdup(tg->tgargs[0]);
	if (!SplitIdentifierString(keylist, ',', &keys) || keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key columns argument \"%s\" of stock_alert is not a comma-separated list of column names",
						tg->tgargs[0]),
				 errhint("Pass the columns identifying an item, e.g. 'store_id,product_id'.")));
	cfg->nkeys = list_length(keys);
	cfg->keyatt = palloc(sizeof(AttrNumber) * cfg->nkeys);
	cfg->keyname = palloc(sizeof(char *) * cfg->nkeys);
	cfg->keyout = palloc0(sizeof(FmgrInfo) * cfg->nkeys);
	cfg->keyjsonnum = palloc(sizeof(bool) * cfg->nkeys);
	cfg->keylen = palloc(sizeof(int16) * cfg->nkeys);
	cfg->keybyval = palloc(sizeof(bool) * cfg->nkeys);
	i = 0;
	foreach(lc, keys)
	{
		char	   *name = (char *) lfirst(lc);
		Oid			outfn;
		bool		varlena;
		int			j;

		if (strcmp(name, "table") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key column \"table\" of stock_alert clashes with the subject's table name"),
					 errhint("Rename the column, or key the alert on other columns.")));
		for (j = 0; j < i; j++)
			if (strcmp(cfg->keyname[j], name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key column \"%s\" of stock_alert is listed twice", name),
						 errhint("List each key column once.")));
		cfg->keyname[i] = pstrdup(name);
		cfg->keyatt[i] = config_column(rel, name, "key", false, &typid);
		getTypeOutputInfo(typid, &outfn, &varlena);
		fmgr_info_cxt(outfn, &cfg->keyout[i], mcxt);
		cfg->keyjsonnum[i] = (typid == INT2OID || typid == INT4OID || typid == INT8OID ||
							  typid == NUMERICOID || typid == FLOAT4OID || typid == FLOAT8OID);
		get_typlenbyval(typid, &cfg->keylen[i], &cfg->keybyval[i]);
		i++;
	}
}

/* the quantity: one numeric column */
static void
config_quantity(StockAlertConfig *cfg, Relation rel, Trigger *tg)
{
	cfg->qtyname = single_identifier(tg->tgargs[1]);
	if (cfg->qtyname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("quantity argument \"%s\" of stock_alert is not a column name", tg->tgargs[1]),
				 errhint("Pass the one column holding the stock on hand, e.g. 'on_hand'.")));
	cfg->qtyatt = config_column(rel, cfg->qtyname, "quantity", true, &cfg->qtytype);
}

/* the threshold: a column wins over a number or 'safety_stock' of the same spelling */
static void
config_threshold(StockAlertConfig *cfg, Relation rel, Trigger *tg)
{
	cfg->thrname = single_identifier(tg->tgargs[2]);
	if (cfg->thrname != NULL && column_exists(rel, cfg->thrname))
	{
		cfg->mode = THRESHOLD_COLUMN;
		cfg->thratt = config_column(rel, cfg->thrname, "threshold", true, &cfg->thrtype);
	}
	else if (parse_number(tg->tgargs[2], &cfg->thrconst))
		cfg->mode = THRESHOLD_CONSTANT;
	else if (strcmp(tg->tgargs[2], "safety_stock") == 0)
		cfg->mode = THRESHOLD_SAFETY_STOCK;
	else
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("threshold column \"%s\" of stock_alert does not exist in table \"%s\"",
						tg->tgargs[2], RelationGetRelationName(rel)),
				 errhint("The threshold is a numeric column, a finite number, or 'safety_stock' (from retailiq.forecast_result).")));
}

/* the lead time and service level of 'safety_stock' (4th and 5th arguments) */
static void
config_safety_stock(StockAlertConfig *cfg, Trigger *tg)
{
	double		v;

	cfg->lead_time = 2;
	cfg->service_level = 0.95;
	if (tg->tgnargs <= 3)
		return;
	if (cfg->mode != THRESHOLD_SAFETY_STOCK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stock_alert takes a lead time and service level only with the threshold 'safety_stock'"),
				 errhint("Drop the fourth and fifth arguments, or use 'safety_stock'.")));
	if (!parse_number(tg->tgargs[3], &v) || v != floor(v) || v < 1 || v > 366)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lead time argument \"%s\" of stock_alert must be a whole number of days from 1 to 366",
						tg->tgargs[3]),
				 errhint("Pass the days between ordering and delivery, e.g. '2'.")));
	cfg->lead_time = (int) v;
	if (tg->tgnargs > 4)
	{
		if (!parse_number(tg->tgargs[4], &v) || !(v >= 0.5 && v < 1))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("service level argument \"%s\" of stock_alert must be at least 0.5 and below 1",
							tg->tgargs[4]),
					 errhint("Pass the probability of not running out during the lead time, e.g. '0.95'.")));
		cfg->service_level = v;
	}
}

/* the subject names the table the user sees: a partition's alerts belong to its root */
static char *
config_subject_table(Relation rel)
{
	Oid			tableid = RelationGetRelid(rel);

	if (rel->rd_rel->relispartition)
	{
		List	   *anc = get_partition_ancestors(tableid);

		if (anc != NIL)
			tableid = llast_oid(anc);
	}
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(tableid)),
									  get_rel_name(tableid));
}

/* the trigger's arguments, checked in the order they are given, into a config in mcxt */
static StockAlertConfig *
build_config(TriggerData *td, MemoryContext mcxt)
{
	Trigger    *tg = td->tg_trigger;
	Relation	rel = td->tg_relation;
	MemoryContext old = MemoryContextSwitchTo(mcxt);
	StockAlertConfig *cfg = palloc0(sizeof(StockAlertConfig));

	cfg->tgoid = tg->tgoid;
	cfg->relid = RelationGetRelid(rel);

	if (tg->tgnargs < 3 || tg->tgnargs > 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stock_alert on table \"%s\" needs 3 to 5 trigger arguments, got %d",
						RelationGetRelationName(rel), tg->tgnargs),
				 errhint("EXECUTE FUNCTION retailiq.stock_alert('key_col[,key_col...]', 'qty_col', 'threshold_col' or a number or 'safety_stock'[, lead_time_days[, service_level]]).")));
	config_keys(cfg, rel, tg, mcxt);
	config_quantity(cfg, rel, tg);
	config_threshold(cfg, rel, tg);
	config_safety_stock(cfg, tg);
	cfg->tablename = config_subject_table(rel);
	cfg->alert_owner = alert_table_owner(&cfg->alert_relid);

	MemoryContextSwitchTo(old);
	return cfg;
}

/*
 * {"table": ..., key: value, ...} as JSON text, the series name "v1/v2/..." and, when label
 * is not NULL, "key1 v1, key2 v2" for messages.
 */
static void
build_subject(StockAlertConfig *cfg, TupleTableSlot *slot, StringInfo json, StringInfo series,
			  StringInfo label)
{
	int			i;

	appendStringInfoString(json, "{\"table\": ");
	escape_json(json, cfg->tablename);
	for (i = 0; i < cfg->nkeys; i++)
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, cfg->keyatt[i], &isnull);

		appendStringInfoString(json, ", ");
		escape_json(json, cfg->keyname[i]);
		appendStringInfoString(json, ": ");
		if (i > 0)
			appendStringInfoChar(series, '/');
		if (label != NULL)
			appendStringInfo(label, "%s%s ", i > 0 ? ", " : "", cfg->keyname[i]);
		if (isnull)
		{
			appendStringInfoString(json, "null");
			if (label != NULL)
				appendStringInfoString(label, "NULL");
		}
		else
		{
			char	   *s = OutputFunctionCall(&cfg->keyout[i], d);
			bool		plain_number = cfg->keyjsonnum[i] && strcmp(s, "NaN") != 0 &&
				strcmp(s, "Infinity") != 0 && strcmp(s, "-Infinity") != 0;

			if (plain_number)
				appendStringInfoString(json, s);
			else
				escape_json(json, s);
			appendStringInfoString(series, s);
			if (label != NULL)
				appendStringInfoString(label, s);
		}
	}
	appendStringInfoChar(json, '}');
}

static bool
same_keys(StockAlertConfig *cfg, TupleTableSlot *a, TupleTableSlot *b)
{
	int			i;

	for (i = 0; i < cfg->nkeys; i++)
	{
		bool		na,
					nb;
		Datum		da = slot_getattr(a, cfg->keyatt[i], &na);
		Datum		db = slot_getattr(b, cfg->keyatt[i], &nb);

		if (na != nb)
			return false;
		if (!na && !datumIsEqual(da, db, cfg->keybyval[i], cfg->keylen[i]))
			return false;
	}
	return true;
}

static void
ensure_connected(bool *connected)
{
	if (!*connected)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "stock_alert: SPI_connect failed");
		*connected = true;
	}
}

/* Runs a kept plan as the alert store's owner. */
static void
run_as_owner(StockAlertConfig *cfg, SPIPlanPtr plan, Datum *values, const char *nulls)
{
	Oid			save_userid;
	int			save_sec;
	int			rc;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(cfg->alert_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	rc = SPI_execute_plan(plan, values, nulls, false, 0);
	SetUserIdAndSecContext(save_userid, save_sec);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "stock_alert: SPI_execute_plan returned %d", rc);
}

static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

	if (p == NULL)
		elog(ERROR, "stock_alert: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "stock_alert: SPI_keepplan failed");
	return p;
}

/* The forecast-based threshold of a series, or false when it has no forecast. */
static bool
safety_level(StockAlertConfig *cfg, const char *series, double *out)
{
	Datum		values[3];
	bool		isnull;
	Datum		d;

	if (safety_plan == NULL)
	{
		Oid			types[3] = {TEXTOID, INT4OID, FLOAT8OID};

		safety_plan = keep_plan("SELECT safe_level FROM retailiq.safety_stock($1, $2, $3)", 3, types);
	}
	values[0] = CStringGetTextDatum(series);
	values[1] = Int32GetDatum(cfg->lead_time);
	values[2] = Float8GetDatum(cfg->service_level);
	run_as_owner(cfg, safety_plan, values, NULL);
	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	*out = DatumGetFloat8(d);
	return !isnan(*out);
}

static StockState
classify(double qty, double thr)
{
	if (qty >= thr)
		return STOCK_OK;
	return qty <= 0 ? STOCK_OUT : STOCK_LOW;
}

/* The item's state in a row; for forecast thresholds the series is looked up (SPI). */
static StockState
row_state(StockAlertConfig *cfg, TupleTableSlot *slot, double *qty, double *thr)
{
	if (!slot_double(slot, cfg->qtyatt, cfg->qtytype, qty))
		return STOCK_UNKNOWN;
	switch (cfg->mode)
	{
		case THRESHOLD_CONSTANT:
			*thr = cfg->thrconst;
			break;
		case THRESHOLD_COLUMN:
			if (!slot_double(slot, cfg->thratt, cfg->thrtype, thr))
				return STOCK_UNKNOWN;
			break;
		case THRESHOLD_SAFETY_STOCK:
			{
				StringInfoData json,
							series;

				initStringInfo(&json);
				initStringInfo(&series);
				build_subject(cfg, slot, &json, &series, NULL);
				if (!safety_level(cfg, series.data, thr))
					return STOCK_UNKNOWN;
			}
			break;
	}
	return classify(*qty, *thr);
}

static char *
format_amount(double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		return psprintf("%.0f", v);
	return psprintf("%.2f", v);
}

static void
raise_low(StockAlertConfig *cfg, TupleTableSlot *slot, StockState st, double qty, double thr,
		  bool *connected)
{
	StringInfoData json,
				series,
				label,
				msg;
	Datum		values[5];

	ensure_connected(connected);
	if (raise_plan == NULL)
	{
		Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, FLOAT8OID, FLOAT8OID};

		raise_plan = keep_plan("SELECT retailiq.raise_alert('low_stock', $1::jsonb, "
							   "$2::retailiq.alert_severity, $3, $4, $5, 'purchaser')", 5, types);
	}
	initStringInfo(&json);
	initStringInfo(&series);
	initStringInfo(&label);
	initStringInfo(&msg);
	build_subject(cfg, slot, &json, &series, &label);
	appendStringInfo(&msg, "%s of %s (%s) is %s, below %s%s%s",
					 cfg->qtyname, cfg->tablename, label.data, format_amount(qty),
					 cfg->mode == THRESHOLD_SAFETY_STOCK ? "the safety level " :
					 cfg->mode == THRESHOLD_COLUMN ? cfg->thrname : "",
					 cfg->mode == THRESHOLD_COLUMN ? " " : "",
					 format_amount(thr));
	values[0] = CStringGetTextDatum(json.data);
	values[1] = CStringGetTextDatum(st == STOCK_OUT ? "critical" : "warning");
	values[2] = CStringGetTextDatum(msg.data);
	values[3] = Float8GetDatum(qty);
	values[4] = Float8GetDatum(thr);
	run_as_owner(cfg, raise_plan, values, NULL);
}

static void
resolve_low(StockAlertConfig *cfg, TupleTableSlot *slot, bool *connected)
{
	StringInfoData json,
				series;
	Datum		values[1];

	ensure_connected(connected);
	if (resolve_plan == NULL)
	{
		Oid			types[1] = {TEXTOID};

		resolve_plan = keep_plan("SELECT retailiq_internal.alert_resolve_subject('low_stock', $1::jsonb)",
								 1, types);
	}
	initStringInfo(&json);
	initStringInfo(&series);
	build_subject(cfg, slot, &json, &series, NULL);
	values[0] = CStringGetTextDatum(json.data);
	run_as_owner(cfg, resolve_plan, values, NULL);
}

/*
 * One row's change: oldslot NULL for an insert, newslot NULL for a delete. Connects to SPI
 * (once per call of the trigger) only when something has to be said.
 */
static void
process_change(StockAlertConfig *cfg, TupleTableSlot *oldslot, TupleTableSlot *newslot,
			   bool *connected)
{
	StockState	was = STOCK_UNKNOWN,
				now = STOCK_UNKNOWN;
	double		oq = 0,
				ot = 0,
				nq = 0,
				nt = 0;
	bool		same_item = true;

	if (cfg->mode == THRESHOLD_SAFETY_STOCK)
		ensure_connected(connected);
	if (oldslot != NULL)
		was = row_state(cfg, oldslot, &oq, &ot);
	if (newslot != NULL)
		now = row_state(cfg, newslot, &nq, &nt);
	if (oldslot != NULL && newslot != NULL)
		same_item = same_keys(cfg, oldslot, newslot);

	if (newslot == NULL)
	{
		/* the item is deleted: its alert ends */
		if (was == STOCK_LOW || was == STOCK_OUT)
			resolve_low(cfg, oldslot, connected);
		return;
	}
	if (!same_item)
	{
		/* a key change moves the stock to another item: the old one's alert ends */
		if (was == STOCK_LOW || was == STOCK_OUT)
			resolve_low(cfg, oldslot, connected);
		if (now == STOCK_LOW || now == STOCK_OUT)
			raise_low(cfg, newslot, now, nq, nt, connected);
		return;
	}
	switch (now)
	{
		case STOCK_UNKNOWN:
			return;				/* NULL quantity or threshold: nothing is known */
		case STOCK_OK:
			/* recovered; a new row that is fine has nothing to resolve */
			if (was != STOCK_OK && oldslot != NULL)
				resolve_low(cfg, newslot, connected);
			return;
		case STOCK_LOW:
		case STOCK_OUT:
			/* still low (or from zero to a little): no repeat; crossed below or hit zero: raise */
			if (was == now || (was == STOCK_OUT && now == STOCK_LOW))
				return;
			raise_low(cfg, newslot, now, nq, nt, connected);
			return;
	}
}

static void
free_stale_contexts(void)
{
	ListCell   *lc;

	foreach(lc, stale_contexts)
		MemoryContextDelete((MemoryContext) lfirst(lc));
	list_free(stale_contexts);
	stale_contexts = NIL;
}

static void
invalidate_configs(Oid relid)
{
	HASH_SEQ_STATUS status;
	ConfigEntry *e;

	hash_seq_init(&status, config_cache);
	while ((e = (ConfigEntry *) hash_seq_search(&status)) != NULL)
	{
		if (e->cfg == NULL || !OidIsValid(relid) || e->cfg->relid == relid ||
			e->cfg->alert_relid == relid)
			e->valid = false;
	}
}

static void
config_relcache_callback(Datum arg, Oid relid)
{
	invalidate_configs(relid);
}

static void
config_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	invalidate_configs(InvalidOid);
}

static void
config_xact_callback(XactEvent event, void *arg)
{
	/* no trigger runs between transactions: whatever an error left counted is over */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		active_calls = 0;
		free_stale_contexts();
	}
}

static StockAlertConfig *
lookup_config(TriggerData *td)
{
	ConfigEntry *e;
	bool		found;
	MemoryContext cxt;
	StockAlertConfig *cfg;

	if (config_cache == NULL)
	{
		HASHCTL		ctl;

		config_cache_cxt = AllocSetContextCreate(CacheMemoryContext, "retailiq stock_alert",
												 ALLOCSET_SMALL_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ConfigEntry);
		ctl.hcxt = config_cache_cxt;
		config_cache = hash_create("retailiq stock_alert configurations", 32, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(config_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, config_syscache_callback, (Datum) 0);
		RegisterXactCallback(config_xact_callback, NULL);
	}
	e = (ConfigEntry *) hash_search(config_cache, &td->tg_trigger->tgoid, HASH_ENTER, &found);
	if (!found)
	{
		e->valid = false;
		e->cxt = NULL;
		e->cfg = NULL;
	}
	if (e->valid && e->cfg->relid == RelationGetRelid(td->tg_relation))
		return e->cfg;

	/* build under the current (per-call) context: an error in the arguments frees it */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "retailiq stock_alert trigger",
								ALLOCSET_SMALL_SIZES);
	cfg = build_config(td, cxt);
	MemoryContextSetParent(cxt, config_cache_cxt);

	/* the entry may have moved if building fired an invalidation: look it up again */
	e = (ConfigEntry *) hash_search(config_cache, &td->tg_trigger->tgoid, HASH_ENTER, &found);
	if (found && e->cxt != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(config_cache_cxt);

		stale_contexts = lappend(stale_contexts, e->cxt);
		MemoryContextSwitchTo(old);
	}
	e->cxt = cxt;
	e->cfg = cfg;
	e->valid = true;
	return cfg;
}

PG_FUNCTION_INFO_V1(stock_alert);

Datum
stock_alert(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	StockAlertConfig *cfg;
	bool		connected = false;
	TriggerEvent ev;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stock_alert() can only be called as a trigger"),
				 errhint("CREATE TRIGGER ... AFTER INSERT OR UPDATE ON inventory FOR EACH ROW EXECUTE FUNCTION retailiq.stock_alert('key_col', 'qty_col', 'threshold').")));
	ev = td->tg_event;
	if (!TRIGGER_FIRED_AFTER(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stock_alert on table \"%s\" must be fired AFTER the change",
						RelationGetRelationName(td->tg_relation)),
				 errhint("Create the trigger AFTER INSERT OR UPDATE: a BEFORE trigger sees rows that may still change or not be stored.")));
	if (TRIGGER_FIRED_BY_TRUNCATE(ev))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stock_alert on table \"%s\" cannot be fired by TRUNCATE",
						RelationGetRelationName(td->tg_relation)),
				 errhint("Fire it on INSERT, UPDATE or DELETE.")));
	if (TRIGGER_FIRED_FOR_STATEMENT(ev) &&
		(td->tg_newtable == NULL ||
		 (TRIGGER_FIRED_BY_UPDATE(ev) && td->tg_oldtable == NULL) ||
		 TRIGGER_FIRED_BY_DELETE(ev)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("stock_alert on table \"%s\" fired for each statement needs transition tables",
						RelationGetRelationName(td->tg_relation)),
				 errhint("Use FOR EACH ROW, or AFTER INSERT OR UPDATE ... REFERENCING OLD TABLE AS old NEW TABLE AS new FOR EACH STATEMENT (DELETE only FOR EACH ROW).")));

	active_calls++;
	cfg = lookup_config(td);

	if (TRIGGER_FIRED_FOR_ROW(ev))
	{
		if (TRIGGER_FIRED_BY_INSERT(ev))
			process_change(cfg, NULL, td->tg_trigslot, &connected);
		else if (TRIGGER_FIRED_BY_UPDATE(ev))
			process_change(cfg, td->tg_trigslot, td->tg_newslot, &connected);
		else
			process_change(cfg, td->tg_trigslot, NULL, &connected);
	}
	else
	{
		/*
		 * Statement level: the transition tables hold old and new rows in the same order
		 * (each updated row is appended to both at once), so they are read in step.
		 */
		TupleDesc	desc = RelationGetDescr(td->tg_relation);
		TupleTableSlot *ns = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		TupleTableSlot *os = NULL;
		bool		is_update = TRIGGER_FIRED_BY_UPDATE(ev);
		MemoryContext rowcxt;

		/*
		 * Connected for the whole statement, and each row's work (detoasted numerics,
		 * messages) in a context reset per row, which SPI_finish frees with the rest.
		 */
		ensure_connected(&connected);
		rowcxt = AllocSetContextCreate(CurrentMemoryContext, "stock_alert row",
									   ALLOCSET_SMALL_SIZES);

		if (is_update)
		{
			os = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
			tuplestore_rescan(td->tg_oldtable);
		}
		tuplestore_rescan(td->tg_newtable);
		for (;;)
		{
			bool		got_new = tuplestore_gettupleslot(td->tg_newtable, true, false, ns);

			if (is_update)
			{
				bool		got_old = tuplestore_gettupleslot(td->tg_oldtable, true, false, os);

				if (got_old != got_new)
					elog(ERROR, "stock_alert: transition tables of different lengths");
			}
			if (!got_new)
				break;
			{
				MemoryContext old = MemoryContextSwitchTo(rowcxt);

				process_change(cfg, os, ns, &connected);
				MemoryContextSwitchTo(old);
				MemoryContextReset(rowcxt);
			}
			CHECK_FOR_INTERRUPTS();
		}
		ExecDropSingleTupleTableSlot(ns);
		if (os != NULL)
			ExecDropSingleTupleTableSlot(os);
	}

	if (connected)
		SPI_finish();
	if (--active_calls == 0 && stale_contexts != NIL)
		free_stale_contexts();
	return PointerGetDatum(NULL);
}

/*
 * basket.h: market-basket analysis, shared between the aggregate state (basket_state.c),
 * the FP-growth miner (fpgrowth.c) and the rule builder (basket_rules.c).
 *
 * The aggregates collect baskets as lists of compact item ids (int32, in order of first
 * appearance within one state) beside a dictionary from item value to id. Parallel workers
 * build their own states; combine merges dictionaries and remaps ids. Only the final
 * function gives items their global codes (their rank in the items' natural order), so
 * every answer depends on the set of baskets alone, never on the order rows arrived in.
 */
#ifndef RETAILIQ_BASKET_H
#define RETAILIQ_BASKET_H

#include "postgres.h"
#include "fmgr.h"

typedef enum BasketItemType
{
	BASKET_TEXT = 1,
	BASKET_INT8 = 2
} BasketItemType;

typedef enum BasketMode
{
	BASKET_ARRAYS = 1,			/* one row = one basket (an array of items) */
	BASKET_PAIRS = 2			/* one row = one (order id, item) line */
} BasketMode;

/* the aggregate's parameters: the same for every row, checked row by row */
typedef struct BasketParams
{
	double		min_support;
	double		min_confidence; /* rules only */
	double		min_lift;		/* rules only; 0 = no minimum */
	int32		max_len;		/* 0 = the default (10) */
	int32		max_consequent; /* rules only; items on the right-hand side */
	bool		empty_antecedent;	/* rules only */
	bool		rules;			/* assoc_rules (true) or frequent_itemsets (false) */
} BasketParams;

typedef struct BasketPair
{
	int64		order_id;
	int32		item;
	int32		pad;
} BasketPair;

typedef struct BasketState
{
	MemoryContext cxt;			/* the aggregate context everything below lives in */
	BasketItemType itemtype;
	BasketMode	mode;
	BasketParams params;

	/* dictionary: item value <-> local id */
	int32		nitems;
	int32		itemcap;
	int64	   *ival;			/* BASKET_INT8: the values */
	int64	   *toff;			/* BASKET_TEXT: offset of each item's bytes in tbuf */
	int32	   *tlen;			/* BASKET_TEXT: its length */
	char	   *tbuf;
	int64		tbuf_used;
	int64		tbuf_cap;
	int32	   *slots;			/* open addressing, -1 = empty; power of two */
	int32		nslots;

	/* BASKET_ARRAYS: baskets as [n, id1, ..., idn], ids distinct */
	int32	   *buf;
	int64		buflen;
	int64		bufcap;
	int64		nbaskets;

	/* BASKET_PAIRS: (order, item) lines */
	BasketPair *pairs;
	int64		npairs;
	int64		paircap;
} BasketState;

/* max_len 0 means this, as arules' apriori and eclat do */
#define BASKET_DEFAULT_MAX_LEN 10

/* basket_state.c */
extern BasketState *basket_state_from_arg(FunctionCallInfo fcinfo, int argno);
extern int	basket_item_cmp(const BasketState *st, int32 a, int32 b);
/* baskets of a pairs-mode state, grouped by order id, as [n, id...] per basket */
extern int32 *basket_pairs_to_baskets(BasketState *st, int64 *buflen, int64 *nbaskets);

/* fpgrowth.c: frequent itemsets over items coded 0..ncodes-1 */
typedef struct FPItemsets
{
	int64		n;				/* itemsets found */
	int64		cap;
	int64	   *count;			/* per itemset */
	int64	   *off;			/* start of each itemset's codes in `codes`; off[n] = end */
	int32	   *codes;			/* sorted ascending within an itemset */
	int64		codes_used;
	int64		codes_cap;
	int64	   *slots;			/* hash index, -1 = empty */
	int64		nslots;
} FPItemsets;

typedef struct FPInput
{
	int64		ntrans;			/* baskets, including empty ones: the support denominator */
	const int32 *buf;			/* [n, id...] per basket */
	const int32 *remap;			/* id -> global item code */
	int64		buflen;
	int32		ncodes;
	int64		min_count;
	int32		max_len;
	double		min_support;	/* for messages */
} FPInput;

extern void fpgrowth_mine(const FPInput *in, FPItemsets *out);
extern int64 fpgrowth_lookup(const FPItemsets *s, const int32 *codes, int len);
extern int64 basket_min_count(double min_support, int64 ntrans);
extern void basket_mining_limit(Size held, const FPInput *in, int64 found);

#endif

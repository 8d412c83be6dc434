/* query.h — the directory's search engine (XEP-0055 over the vCards).
 *
 * Conditions come from a submitted data form (<x type='submit'/>: unknown
 * fields ignored, as ejabberd) or from legacy fields (<first/> <last/>
 * <nick/> <email/>).  Each non-empty field must match (AND), folding case
 * (lib/casefold.h); a trailing '*' makes it a prefix match (as ejabberd); a
 * field of only "*" is no condition.  Searchable values are the first
 * VALUE_MAX (256) bytes of a field, trimmed (longer values match by prefix
 * only); a longer query value, or more than TERMS_MAX (16) conditions, is
 * refused.
 *
 * Plan: every condition is a range of the index (index.h) within the host:
 * an exact value is one key (MDB_SET, its duplicate count is O(1)), a prefix
 * is the keys from MDB_SET_RANGE while they start with it.  The range with
 * the fewest entries (prefix ranges are counted only up to the best so far)
 * drives the walk; each candidate's summary is checked against every
 * condition (also the driving one: keys may be cut), so the summary is the
 * truth and index entries are hints (a stale one costs a lookup, never a
 * wrong answer).  Items come in the driving range's order.  Work per search
 * is bounded by max_scan (about 1 us per examined entry; 20-200 us per
 * search measured over 2000 accounts). */
#ifndef XMPPD_MODULES_VCARD_QUERY_H
#define XMPPD_MODULES_VCARD_QUERY_H

#include "modules/vcard/fields.h"
#include "lib/stz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TERMS_MAX 16    /* conditions in one query */

struct term {
	uint8_t fid;
	bool prefix;
	size_t len;
	char val[VALUE_MAX];  /* folded */
};

struct query {
	struct term t[TERMS_MAX];
	size_t n;
	bool form;            /* asked with a data form: answer with one */
};

/* The bare JIDs found (owned: query_results_free). */
struct results {
	char **jids;
	size_t n, max;
	size_t scanned;
	bool partial;         /* stopped at max_scan */
};

/* Reads the conditions of the search request <query/> qel of s into q.
 * NULL, or the text of a not-acceptable error; *bad: the request is
 * malformed (a form not of type submit: bad-request). */
const char *query_parse(const struct stz *s, uint32_t qel, struct query *q, bool *bad);

/* Runs q over the accounts of host into r (r->jids holds r->max slots, r->n
 * and r->scanned start at 0; no condition: every account).  XS_OK or
 * XS_ERROR (r keeps what was found: free it). */
int query_run(const struct query *q, const char *host, struct results *r);

/* Frees the JIDs of r. */
void query_results_free(struct results *r);

#endif

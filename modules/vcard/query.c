/* query.c — the directory's search engine (query.h). */
#include "modules/vcard/query.h"
#include "modules/vcard/fields.h"
#include "modules/vcard/index.h"
#include "modules/vcard/state.h"
#include "modules/vcard/summary.h"
#include "modules/vcard/text.h"
#include "lib/casefold.h"
#include "lib/log.h"
#include "router/module.h"

#include <stdlib.h>
#include <string.h>

static int field_by_var(const char *var)
{
	for (int f = 1; f < F_END; f++)
		if (strcmp(VCARD_FIELDS[f].var, var) == 0)
			return f;
	return 0;
}

static int field_by_legacy(const char *name)
{
	for (int f = 1; f < F_END; f++)
		if (VCARD_FIELDS[f].legacy && strcmp(VCARD_FIELDS[f].legacy, name) == 0)
			return f;
	return 0;
}

/* Adds the condition "field fid is the text of element el".  NULL, or the
 * text of the not-acceptable error to answer. */
static const char *add_term(struct query *q, int fid, const struct stz *s, uint32_t el)
{
	char raw[VALUE_MAX + 1];
	bool cut;
	size_t len = vcard_elem_text(s, el, raw, sizeof(raw), &cut);
	bool prefix = len > 0 && raw[len - 1] == '*';
	if (prefix)
		len--;
	while (len > 0 && vcard_is_ws(raw[len - 1])) /* "Al *" is the prefix "al" */
		len--;
	if (len == 0 && !cut)
		return NULL; /* empty, or only "*": no condition */
	if (cut || len > VALUE_MAX)
		return "search value too long (at most 256 bytes)";
	if (q->n == TERMS_MAX)
		return "too many search fields";
	struct term *t = &q->t[q->n++];
	t->fid = (uint8_t)fid;
	t->prefix = prefix;
	t->len = len;
	casefold_utf8(raw, len, t->val);
	return NULL;
}

const char *query_parse(const struct stz *s, uint32_t qel, struct query *q, bool *bad)
{
	q->n = 0;
	*bad = false;
	uint32_t x = stz_child(s, qel, "x", NS_XDATA);
	q->form = x != 0;
	if (x) {
		const char *type = stz_attr(s, x, "type");
		if (type == NULL || strcmp(type, "submit") != 0) {
			*bad = true;
			return NULL;
		}
		for (uint32_t f = stz_first_child(s, x); f; f = stz_next_sibling(s, x, f)) {
			if (!stz_node_is(s, f, "field", NS_XDATA))
				continue;
			const char *var = stz_attr(s, f, "var");
			int fid = var ? field_by_var(var) : 0;
			uint32_t val = fid ? stz_child(s, f, "value", NS_XDATA) : 0;
			const char *err = val ? add_term(q, fid, s, val) : NULL;
			if (err)
				return err;
		}
		return NULL;
	}
	for (uint32_t c = stz_first_child(s, qel); c; c = stz_next_sibling(s, qel, c)) {
		if (s->nodes[c].is_text || strcmp(stz_str(s, s->nodes[c].ns), NS_SEARCH) != 0)
			continue;
		int fid = field_by_legacy(stz_str(s, s->nodes[c].name));
		const char *err = fid ? add_term(q, fid, s, c) : NULL;
		if (err)
			return err;
	}
	return NULL;
}

static bool value_matches(const struct term *t, const char *v, size_t len, bool cut)
{
	char folded[KEY_MAX];
	if (len > sizeof(folded))
		return false;
	if (t->prefix ? len < t->len : (cut || len != t->len))
		return false;
	casefold_utf8(v, t->len, folded);
	return memcmp(folded, t->val, t->len) == 0;
}

static bool term_matches(const struct term *t, const char *bare, const struct summary *sm)
{
	if (t->fid == F_USER) {
		const char *at = strchr(bare, '@');
		return at && value_matches(t, bare, (size_t)(at - bare), false);
	}
	for (size_t i = 0; i < sm->n; i++)
		if (sm->v[i].fid == t->fid && value_matches(t, sm->v[i].p, sm->v[i].len, sm->v[i].cut))
			return true;
	return false;
}

/* The index range of a condition: key (prefix) bytes. */
static size_t term_key(const struct term *t, const char *host, unsigned char *key)
{
	return index_key(key, t->fid, host, strlen(host), t->val, t->len);
}

/* Entries in a condition's range, counted up to just past cap. */
static size_t range_count(MDB_cursor *c, const struct term *t, const char *host, size_t cap)
{
	unsigned char kb[KEY_MAX];
	size_t klen = term_key(t, host, kb);
	MDB_val k = { klen, kb }, d;
	size_t n, total = 0;
	if (!t->prefix) {
		if (mdb_cursor_get(c, &k, &d, MDB_SET) != 0 || mdb_cursor_count(c, &n) != 0)
			return 0;
		return n;
	}
	int rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= klen && memcmp(k.mv_data, kb, klen) == 0) {
		if (mdb_cursor_count(c, &n) != 0)
			break;
		total += n;
		if (total > cap)
			break;
		rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_NODUP);
	}
	return total;
}

static bool already(const struct results *r, const char *jid)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->jids[i], jid) == 0)
			return true;
	return false;
}

/* A candidate from the index: checks every condition against its summary
 * and keeps it.  XS_OK, XS_ERROR (out of memory). */
static int consider(MDB_txn *t, const struct query *q, bool may_repeat, const MDB_val *d,
                    struct results *r)
{
	char jid[KEY_MAX + 1];
	if (d->mv_size == 0 || d->mv_size > KEY_MAX)
		return XS_OK;
	memcpy(jid, d->mv_data, d->mv_size);
	jid[d->mv_size] = '\0';
	struct summary sm;
	if (summary_get(t, jid, &sm, false) != XS_OK)
		return XS_OK; /* an index entry without a vCard: ignored */
	for (size_t i = 0; i < q->n; i++)
		if (!term_matches(&q->t[i], jid, &sm))
			return XS_OK;
	if (may_repeat && already(r, jid))
		return XS_OK;
	if ((r->jids[r->n] = strdup(jid)) == NULL)
		return XS_ERROR;
	r->n++;
	return XS_OK;
}

/* Walks the range of condition `drive`, keeping matches.  XS_OK or XS_ERROR. */
static int walk(MDB_txn *t, MDB_cursor *c, const struct query *q, const struct term *drive,
                const char *host, struct results *r)
{
	unsigned char kb[KEY_MAX];
	size_t klen = term_key(drive, host, kb);
	MDB_val k = { klen, kb }, d;
	int rc = mdb_cursor_get(c, &k, &d, drive->prefix ? MDB_SET_RANGE : MDB_SET);
	while (rc == 0 && r->n < r->max) {
		if (drive->prefix && (k.mv_size < klen || memcmp(k.mv_data, kb, klen) != 0))
			break;
		if (++r->scanned > vcard_state.opts.max_scan) {
			r->partial = true;
			break;
		}
		/* One account has several values of a field: a prefix range can
		 * hold it more than once. */
		if (consider(t, q, drive->prefix, &d, r) != XS_OK)
			return XS_ERROR;
		rc = mdb_cursor_get(c, &k, &d, drive->prefix ? MDB_NEXT : MDB_NEXT_DUP);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		log_error("vcard: search: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int query_run(const struct query *q, const char *host, struct results *r)
{
	MDB_txn *t = mod_db_read();
	MDB_cursor *c;
	if (t == NULL || mdb_cursor_open(t, vcard_state.idx, &c) != 0)
		return XS_ERROR;
	static const struct term all = { .fid = F_USER, .prefix = true, .len = 0 };
	const struct term *drive = NULL;
	size_t best = (size_t)vcard_state.opts.max_scan + 1;
	/* Exact values first: their counts are O(1) and bound the prefix counts. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < q->n; i++) {
			const struct term *tm = &q->t[i];
			if (tm->prefix != (pass == 1))
				continue;
			/* Counting stops at max_scan: an exact value shared by many
			 * must not let prefix counts walk further. */
			size_t most = (size_t)vcard_state.opts.max_scan + 1;
			size_t cap = best < most ? best : most;
			size_t n = range_count(c, tm, host, cap);
			if (n == 0) {
				mdb_cursor_close(c);
				return XS_OK; /* one condition matches nobody */
			}
			if (drive == NULL || n < best) {
				drive = tm;
				best = n;
			}
		}
	}
	if (drive == NULL)
		drive = &all;
	int rc = walk(t, c, q, drive, host, r);
	mdb_cursor_close(c);
	if (r->partial)
		log_debug("vcard: a search on %s stopped after %u index entries (max_scan)", host,
		          vcard_state.opts.max_scan);
	return rc;
}

void query_results_free(struct results *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->jids[i]);
	free(r->jids);
	r->jids = NULL;
	r->n = 0;
}

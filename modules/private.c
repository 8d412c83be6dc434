/* private.c — Private XML Storage (XEP-0049, jabber:iq:private).
 *
 * An account stores XML fragments on the server and gets them back by
 * namespace.  Only the account itself may do so: the IQ carries no 'to' or
 * the account's own bare JID; any other sender gets <forbidden/> (the
 * condition XEP-0049 prefers).
 *
 *   set  <query xmlns='jabber:iq:private'> with one or more child elements.
 *        Each child must have a namespace of its own: none (it inherits
 *        jabber:iq:private), jabber:client, jabber:server and
 *        jabber:iq:private itself are refused with <not-acceptable/>, as is
 *        an empty <query/> (XEP-0049 'Elements').  The children are grouped by
 *        namespace ("an IQ set or result MAY contain multiple elements
 *        qualified by the same namespace"): each namespace's group replaces
 *        what was stored for it, all groups in one transaction.
 *   get  <query/> with exactly one child element: the stored group of that
 *        child's namespace, or the child echoed back empty (name and
 *        namespace only) when nothing is stored.  No child: <not-acceptable/>
 *        (the MUST of XEP-0049 'Elements'); more than one: <bad-request/> ("a
 *        client MUST NOT query for more than one namespace").
 *
 * Bounds (a refused set changes nothing and gets <not-acceptable/> with a
 * <text/> saying which bound):
 *   max_size   bytes of one namespace's group as stored (its stz encoding)
 *   max_total  bytes of all groups of one account
 *   at most MAX_CHILDREN elements in one set.
 *
 * Options (modules: {private: {...}}):
 *   max_size:  1024..16777216      [65536]
 *   max_total: 1024..1073741824    [1048576]  (1 MiB; also at least max_size)
 *
 * Storage, table "private", keys as lib/dbkey.h lays them out (O = SHA-256 of
 * the bare JID, so every JID fits the 511-byte LMDB key limit and one
 * account's entries are one range; the item is the namespace):
 *   O (32 bytes)       -> struct priv_meta (bytes stored by the account)
 *   O + namespace      -> the group: the stz encoding of a
 *                         <query xmlns='jabber:iq:private'> holding the
 *                         stored elements of that namespace
 *   O + 0x00 + SHA-256(namespace) when O + namespace would pass 511 bytes.
 * The account's removal (HOOK_USER_REMOVED) deletes the whole range. */
#include "router/module.h"
#include "lib/dbkey.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS_PRIVATE          "jabber:iq:private"
#define NS_SERVER           "jabber:server"

#define MAX_CHILDREN        64
#define META_VERSION        1

#define MAX_SIZE_DEFAULT    65536
#define MAX_TOTAL_DEFAULT   (1024 * 1024)
#define OPT_MIN             1024
#define MAX_SIZE_LIMIT      (16 * 1024 * 1024)
#define MAX_TOTAL_LIMIT     (1024 * 1024 * 1024)

struct priv_meta {
	uint32_t version;
	uint32_t pad;
	uint64_t total;      /* bytes of every group of the account */
};

struct priv_opts {
	uint64_t max_size;
	uint64_t max_total;
};

static const struct cfgopt OPTS[] = {
	CFGOPT_UINT("max_size", struct priv_opts, max_size, MAX_SIZE_DEFAULT, OPT_MIN,
	            MAX_SIZE_LIMIT),
	CFGOPT_UINT("max_total", struct priv_opts, max_total, MAX_TOTAL_DEFAULT, OPT_MIN,
	            MAX_TOTAL_LIMIT),
	CFGOPT_END
};

static struct {
	struct mod_ctx *ctx;
	MDB_dbi dbi;
	struct priv_opts o;
} M;

/* ---- options */

/* The total holds at least one group: a max_size alone raises it. */
static int opts_check(void *conf, struct cfgopt_run *run)
{
	struct priv_opts *o = conf;
	if (o->max_total >= o->max_size)
		return XS_OK;
	if (!cfgopt_given(run, "max_total")) {
		o->max_total = o->max_size;
		return XS_OK;
	}
	cfgopt_error(run, "max_total", "%llu is smaller than max_size (%llu)",
	             (unsigned long long)o->max_total, (unsigned long long)o->max_size);
	return XS_ERROR;
}

/* ---- keys */

/* The key of the sender's account; XS_PASS when the IQ is for another
 * account (or comes from no account). */
static int owner_of(const struct iq_req *req, struct dbkey *owner)
{
	const struct stz *s = req->stz;
	char bare[JID_MAX + 1];
	int blen = req->preauth_conn == 0 ? xmpp_from_account(s, bare, sizeof(bare)) : -1;
	if (blen <= 0 || (stz_has_to(s) && strcmp(stz_to(s), bare) != 0))
		return XS_PASS;
	return dbkey_owner(owner, bare, (size_t)blen);
}

/* ---- storage */

static uint64_t meta_total(MDB_txn *t, const struct dbkey *owner)
{
	MDB_val k = dbkey_val(owner), v;
	struct priv_meta m;
	if (mdb_get(t, M.dbi, &k, &v) != 0 || v.mv_size != sizeof(m))
		return 0;
	memcpy(&m, v.mv_data, sizeof(m));
	return m.version == META_VERSION ? m.total : 0;
}

static int meta_put(MDB_txn *t, const struct dbkey *owner, uint64_t total)
{
	MDB_val k = dbkey_val(owner);
	if (total == 0) {
		int rc = mdb_del(t, M.dbi, &k, NULL);
		return rc == 0 || rc == MDB_NOTFOUND ? XS_OK : XS_ERROR;
	}
	struct priv_meta m = { .version = META_VERSION, .total = total };
	MDB_val v = { sizeof(m), &m };
	return mdb_put(t, M.dbi, &k, &v, 0) == 0 ? XS_OK : XS_ERROR;
}

/* Copies a value out of the map (LMDB data is not 8-byte aligned) and views
 * it as a stanza.  *mem is freed by the caller. */
static int view_value(const MDB_val *v, void **mem, struct stz *out)
{
	*mem = NULL;
	if (v->mv_size == 0 || v->mv_size > UINT32_MAX)
		return XS_ERROR;
	*mem = aligned_alloc(8, (v->mv_size + 7) & ~(size_t)7);
	if (*mem == NULL)
		return XS_ERROR;
	memcpy(*mem, v->mv_data, v->mv_size);
	return stz_view(out, *mem, v->mv_size);
}

/* ---- requests */

static bool ns_allowed(const char *ns)
{
	return *ns != '\0' && strcmp(ns, NS_PRIVATE) != 0 && strcmp(ns, STZ_NS_CLIENT) != 0 &&
	       strcmp(ns, NS_SERVER) != 0;
}

/* Counts the element children of the query; the first `max` go into out. */
static uint32_t query_children(const struct stz *s, uint32_t q, uint32_t *out, uint32_t max)
{
	uint32_t n = 0;
	for (uint32_t c = stz_first_child(s, q); c; c = stz_next_sibling(s, q, c)) {
		if (s->nodes[c].is_text)
			continue;
		if (n < max)
			out[n] = c;
		n++;
	}
	return n;
}

static bool same_ns(const struct stz *s, uint32_t a, uint32_t b)
{
	const struct stz_node *x = &s->nodes[a], *y = &s->nodes[b];
	return x->ns.len == y->ns.len && memcmp(stz_str(s, x->ns), stz_str(s, y->ns), x->ns.len) == 0;
}

/* Builds the group of kids[i]'s namespace (kids[i] and every later child of
 * the same namespace) into a fresh stz encoding. */
static int build_group(const struct stz *s, const uint32_t *kids, uint32_t n, uint32_t i,
                       void **mem, size_t *len)
{
	struct stz_builder *b = mod_builder(M.ctx);
	int rc = stz_b_openz(b, "query", NS_PRIVATE);
	for (uint32_t j = i; rc == XS_OK && j < n; j++)
		if (same_ns(s, kids[i], kids[j]))
			rc = stz_b_copy(b, s, kids[j]);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	*len = stz_b_size(b);
	if (rc != XS_OK || *len == 0)
		return XS_ERROR;
	*mem = aligned_alloc(8, *len);
	if (*mem == NULL)
		return XS_ERROR;
	stz_b_write(b, *mem, 0);
	return XS_OK;
}

enum store_result { STORE_OK, STORE_TOO_BIG, STORE_QUOTA, STORE_FAILED };

/* Stores one group inside t, keeping the account's total. */
static enum store_result store_group(MDB_txn *t, const struct dbkey *owner,
                                     const struct stz *s, const uint32_t *kids, uint32_t n,
                                     uint32_t i, uint64_t *total)
{
	void *mem = NULL;
	size_t len;
	if (build_group(s, kids, n, i, &mem, &len) != XS_OK) {
		free(mem);
		return STORE_TOO_BIG; /* past the builder's own bound */
	}
	enum store_result res = STORE_OK;
	struct dbkey key;
	const struct stz_node *c = &s->nodes[kids[i]];
	if (len > M.o.max_size) {
		res = STORE_TOO_BIG;
	} else if (dbkey_item(&key, owner, stz_str(s, c->ns), c->ns.len) != XS_OK) {
		res = STORE_FAILED;
	} else {
		MDB_val k = dbkey_val(&key), old, v = { len, mem };
		uint64_t before = mdb_get(t, M.dbi, &k, &old) == 0 ? old.mv_size : 0;
		uint64_t after = *total - (before <= *total ? before : *total) + len;
		if (after > M.o.max_total)
			res = STORE_QUOTA;
		else if (mdb_put(t, M.dbi, &k, &v, 0) != 0)
			res = STORE_FAILED;
		else
			*total = after;
	}
	free(mem);
	return res;
}

static int do_set(struct iq_req *req, const struct dbkey *owner, const uint32_t *kids,
                  uint32_t n)
{
	const struct stz *s = req->stz;
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	uint64_t total = meta_total(t, owner);
	enum store_result res = STORE_OK;
	for (uint32_t i = 0; res == STORE_OK && i < n; i++) {
		bool seen = false; /* this namespace's group was stored with an earlier child */
		for (uint32_t j = 0; !seen && j < i; j++)
			seen = same_ns(s, kids[i], kids[j]);
		if (!seen)
			res = store_group(t, owner, s, kids, n, i, &total);
	}
	if (res == STORE_OK && meta_put(t, owner, total) != XS_OK)
		res = STORE_FAILED;
	if (mod_db_end(t, res == STORE_OK) != XS_OK && res == STORE_OK)
		res = STORE_FAILED;
	switch (res) {
	case STORE_OK:
		return mod_iq_result_empty(req);
	case STORE_TOO_BIG:
		return mod_iq_error_text(req, "not-acceptable", "private XML data too large for one namespace");
	case STORE_QUOTA:
		return mod_iq_error_text(req, "not-acceptable", "private XML storage quota exceeded");
	default:
		log_error("private: cannot store data of %s", stz_from(s));
		return mod_iq_error(req, "internal-server-error");
	}
}

/* Copies the stored group's elements into b; XS_PASS when nothing is stored. */
static int copy_stored(struct stz_builder *b, const struct dbkey *owner, const struct stz *s,
                       uint32_t child)
{
	const struct stz_node *c = &s->nodes[child];
	struct dbkey key;
	if (dbkey_item(&key, owner, stz_str(s, c->ns), c->ns.len) != XS_OK)
		return XS_ERROR;
	MDB_txn *t = mod_db_read();
	if (t == NULL)
		return XS_ERROR;
	MDB_val k = dbkey_val(&key), v;
	int rc = mdb_get(t, M.dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0)
		return XS_ERROR;
	void *mem;
	struct stz g;
	rc = view_value(&v, &mem, &g);
	for (uint32_t e = rc == XS_OK ? stz_first_child(&g, 0) : 0; e; e = stz_next_sibling(&g, 0, e))
		if (!g.nodes[e].is_text && stz_b_copy(b, &g, e) != XS_OK)
			rc = XS_ERROR;
	free(mem);
	if (rc != XS_OK)
		log_error("private: a stored entry of %s cannot be read", stz_from(s));
	return rc;
}

static int do_get(struct iq_req *req, const struct dbkey *owner, uint32_t child)
{
	const struct stz *s = req->stz;
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_PRIVATE);
	if (rc == XS_OK) {
		rc = copy_stored(b, owner, s, child);
		if (rc == XS_PASS) { /* nothing stored: the empty element comes back */
			const struct stz_node *c = &s->nodes[child];
			rc = stz_b_open(b, stz_str(s, c->name), c->name.len, stz_str(s, c->ns), c->ns.len);
			if (rc == XS_OK)
				rc = stz_b_close(b);
		}
	}
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static int on_private(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	struct dbkey owner;
	int rc = owner_of(req, &owner);
	if (rc == XS_PASS)
		return mod_iq_error(req, "forbidden");
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	if (!stz_node_is(s, req->payload, "query", NS_PRIVATE))
		return mod_iq_error(req, "bad-request");
	uint32_t kids[MAX_CHILDREN];
	uint32_t n = query_children(s, req->payload, kids, MAX_CHILDREN);
	if (n == 0)
		return mod_iq_error_text(req, "not-acceptable", "the query holds no element");
	if (s->h->type == STZ_T_GET && n > 1)
		return mod_iq_error_text(req, "bad-request", "one namespace at a time");
	if (n > MAX_CHILDREN)
		return mod_iq_error_text(req, "not-acceptable", "too many elements in one request");
	for (uint32_t i = 0; i < n; i++)
		if (!ns_allowed(stz_str(s, s->nodes[kids[i]].ns)))
			return mod_iq_error_text(req, "not-acceptable", "this namespace cannot be stored");
	if (s->h->type == STZ_T_GET)
		return do_get(req, &owner, kids[0]);
	/* A session without an account (SASL ANONYMOUS): nothing would ever
	 * remove what it stored. */
	char bare[JID_MAX + 1];
	int u = xmpp_from_account(s, bare, sizeof(bare)) > 0 ? mod_account_exists(bare) : XS_ERROR;
	if (u != XS_OK)
		return mod_iq_error_text(req, u == XS_PASS ? "not-allowed" : "internal-server-error",
		                         u == XS_PASS ? "private storage is kept for registered accounts only"
		                                      : NULL);
	return do_set(req, &owner, kids, n);
}

/* ---- account removal */

static int on_user_removed(struct hook_args *a, void *arg)
{
	(void)arg;
	struct dbkey owner;
	if (a->jid == NULL || dbkey_owner(&owner, a->jid, strlen(a->jid)) != XS_OK)
		return XS_PASS;
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return XS_PASS;
	bool ok = dbkey_range_delete(t, M.dbi, &owner, NULL, NULL, NULL) == XS_OK;
	if (mod_db_end(t, ok) != XS_OK || !ok)
		log_error("private: cannot delete the data of %s", a->jid);
	return XS_PASS;
}

/* ---- module */

static int private_init(struct mod_ctx *ctx)
{
	M.ctx = ctx;
	if (mod_db_table(ctx, "private", 0, &M.dbi) != XS_OK ||
	    mod_iq_add(ctx, NULL, NS_PRIVATE, on_private, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_PRIVATE) != XS_OK ||
	    mod_hook_add(ctx, HOOK_USER_REMOVED, NULL, 50, on_user_removed, NULL) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "private",
	.init = private_init,
	.opts = OPTS,
	.conf = &M.o,
	.conf_size = sizeof(M.o),
	.opts_check = opts_check,
};

/* blocking.c — Blocking Command (XEP-0191, urn:xmpp:blocking).
 *
 * An account keeps a list of JIDs it blocks:
 *   get <blocklist/>         the list; the session is remembered as one that
 *                            requested it (it gets the pushes below)
 *   set <block>items</block> adds them (at least one item, else bad-request;
 *                            a JID that does not prepare: jid-malformed)
 *   set <unblock>items</unblock> removes them; an empty <unblock/> removes all
 * Requests come with no 'to' or the account's own bare JID; another
 * account's JID gets <forbidden/>.  After a change every session of the
 * account that requested the list gets the change as an IQ-set push
 * (<block/> or <unblock/> with the items of the request).  Blocking a
 * contact sends it unavailable presence from each available resource and
 * unblocking sends it their current presence (XEP-0191 "User Blocks
 * Contact", "User Unblocks Contact") — only to a contact allowed to see the
 * user's presence (subscription from or both, HOOK_ROSTER_GET); domains get
 * neither.
 *
 * Enforcement, in HOOK_FILTER_PACKET (every stanza the router routes):
 *   - to an account that blocks the sender: presence is dropped silently,
 *     a message and an IQ get/set are answered <service-unavailable/> as if
 *     the account did not exist, an IQ result/error is dropped ("User Blocks
 *     Contact");
 *   - from an account to a JID it blocks: a stanza its client sent is
 *     answered <not-acceptable/> + <blocked xmlns='urn:xmpp:blocking:errors'/>
 *     (type cancel, as in the XEP's example) and not routed; one the server
 *     made on its behalf (a presence broadcast, a probe) is dropped silently.
 * JIDs match as XEP-0191 "JID Matching" says: the item equals the full JID,
 * the bare JID, domain/resource, or the domain or one of its parent domains.
 * The account's own JIDs and the server's own domains are never blocked (the
 * user could not even unblock), nor are errors the server makes (our own
 * bounces, which go from the blocker to the blocked).
 * Cost: while no account blocks anything, one integer test per stanza; else
 * one hash probe per party (the accounts with a non-empty list are kept in
 * memory, loaded at start), and database reads only for a stanza to or from
 * such an account.
 *
 * In memory only (lost when the router restarts): which sessions requested
 * the list (keyed by full JID and connection, forgotten when the session
 * closes).  After a router restart a client gets pushes again once it has
 * fetched the list again.
 *
 * Options (modules: {blocking: {...}}):
 *   max_items: 1..1000000   [10000]  items in one account's list
 *
 * Storage, table "blocklist", keys as lib/dbkey.h lays them out (O = SHA-256
 * of the account's bare JID; the item is the blocked JID):
 *   O (32 bytes)     -> struct blk_meta (item count) + the bare JID's text
 *   O + item JID     -> the item JID (prepared), when the key fits 511 bytes
 *   O + 0x00 + SHA-256(item JID) -> the item JID, when it does not.
 * No key of an account reaches O + 0xff, which lets the start-up scan jump
 * from one account to the next.
 * The account's removal (HOOK_USER_REMOVED) deletes the whole range. */
#include "router/module.h"
#include "lib/db.h"
#include "lib/dbkey.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_BLOCKING         "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS  "urn:xmpp:blocking:errors"

#define META_VERSION        1
#define MAX_ITEMS_DEFAULT   10000
#define MAX_ITEMS_LIMIT     1000000

struct blk_meta {
	uint32_t version;
	uint32_t count;
	/* followed by the owner's bare JID */
};

/* ---- a set of strings with a 64-bit value (chained hash table) */

struct sset_ent {
	struct sset_ent *next;
	uint64_t val;
	size_t len;
	char key[];          /* NUL-terminated */
};

struct sset {
	struct sset_ent **b;
	size_t nb, n;
};

static uint64_t hash_seed;

static uint64_t sset_hash(const char *k, size_t len)
{
	uint64_t h = 14695981039346656037ull ^ hash_seed; /* FNV-1a, seeded */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
	h ^= h >> 29;
	return h * 0xbf58476d1ce4e5b9ull;
}

static struct sset_ent *sset_find(const struct sset *s, const char *k, size_t len)
{
	if (s->n == 0)
		return NULL;
	for (struct sset_ent *e = s->b[sset_hash(k, len) & (s->nb - 1)]; e; e = e->next)
		if (e->len == len && memcmp(e->key, k, len) == 0)
			return e;
	return NULL;
}

static int sset_grow(struct sset *s)
{
	size_t nb = s->nb ? s->nb * 2 : 64;
	struct sset_ent **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return XS_ERROR;
	for (size_t i = 0; i < s->nb; i++) {
		while (s->b[i]) {
			struct sset_ent *e = s->b[i];
			s->b[i] = e->next;
			size_t j = sset_hash(e->key, e->len) & (nb - 1);
			e->next = b[j];
			b[j] = e;
		}
	}
	free(s->b);
	s->b = b;
	s->nb = nb;
	return XS_OK;
}

/* Adds k (or updates its value). */
static int sset_put(struct sset *s, const char *k, size_t len, uint64_t val)
{
	struct sset_ent *e = sset_find(s, k, len);
	if (e) {
		e->val = val;
		return XS_OK;
	}
	if (s->n >= s->nb && sset_grow(s) != XS_OK)
		return XS_ERROR;
	e = malloc(sizeof(*e) + len + 1);
	if (e == NULL)
		return XS_ERROR;
	e->val = val;
	e->len = len;
	memcpy(e->key, k, len);
	e->key[len] = '\0';
	size_t j = sset_hash(k, len) & (s->nb - 1);
	e->next = s->b[j];
	s->b[j] = e;
	s->n++;
	return XS_OK;
}

static void sset_del(struct sset *s, const char *k, size_t len)
{
	if (s->n == 0)
		return;
	for (struct sset_ent **p = &s->b[sset_hash(k, len) & (s->nb - 1)]; *p; p = &(*p)->next) {
		struct sset_ent *e = *p;
		if (e->len == len && memcmp(e->key, k, len) == 0) {
			*p = e->next;
			free(e);
			s->n--;
			return;
		}
	}
}

static void sset_free(struct sset *s)
{
	for (size_t i = 0; i < s->nb; i++) {
		while (s->b[i]) {
			struct sset_ent *e = s->b[i];
			s->b[i] = e->next;
			free(e);
		}
	}
	free(s->b);
	*s = (struct sset){ 0 };
}

/* ---- module state */

/* An unavailable presence this module routes to a contact it has just
 * blocked: the filter lets exactly that one through. */
struct bypass {
	char *from, *to;
};

struct opts {
	uint32_t max_items;
};

static const struct cfgopt OPTS[] = {
	CFGOPT_UINT("max_items", struct opts, max_items, MAX_ITEMS_DEFAULT, 1, MAX_ITEMS_LIMIT),
	CFGOPT_END
};

static struct {
	struct mod_ctx *ctx;
	MDB_dbi dbi;
	struct opts o;
	struct sset owners;      /* bare JIDs of accounts with a non-empty list */
	struct sset requested;   /* full JID -> conn of sessions that fetched the list */
	struct bypass *bypass;
	size_t nbypass, bypass_cap;
	uint64_t push_seq;
} M;

/* ---- JIDs and keys */

static bool item_exists(MDB_txn *t, const struct dbkey *owner, const char *item, size_t len)
{
	struct dbkey key;
	if (dbkey_item(&key, owner, item, len) != XS_OK)
		return false;
	MDB_val k = dbkey_val(&key), v;
	return mdb_get(t, M.dbi, &k, &v) == 0;
}

/* Whether `jid` matches an item of the owner's list (XEP-0191 'JID Matching'). */
static bool jid_blocked(MDB_txn *t, const struct dbkey *owner, const char *jid)
{
	size_t blen = jid_bare_len(jid);
	bool has_res = jid[blen] == '/';
	const char *at = memchr(jid, '@', blen);
	const char *domain = at ? at + 1 : jid;
	size_t dlen = blen - (size_t)(domain - jid);
	if (dlen == 0)
		return false;
	if (has_res && item_exists(t, owner, jid, strlen(jid)))
		return true;                                          /* user@domain/resource */
	if (at && item_exists(t, owner, jid, blen))
		return true;                                          /* user@domain */
	if (at && has_res && item_exists(t, owner, domain, strlen(domain)))
		return true;                                          /* domain/resource */
	/* The domain and each parent domain. */
	for (const char *d = domain; d < domain + dlen;) {
		if (item_exists(t, owner, d, dlen - (size_t)(d - domain)))
			return true;
		const char *dot = memchr(d, '.', dlen - (size_t)(d - domain));
		if (dot == NULL)
			break;
		d = dot + 1;
	}
	return false;
}

/* ---- storage */

static int meta_get(MDB_txn *t, const struct dbkey *owner, uint32_t *count)
{
	MDB_val k = dbkey_val(owner), v;
	struct blk_meta m;
	*count = 0;
	int rc = mdb_get(t, M.dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_OK;
	if (rc != 0 || v.mv_size < sizeof(m))
		return XS_ERROR;
	memcpy(&m, v.mv_data, sizeof(m));
	*count = m.count;
	return XS_OK;
}

static int meta_put(MDB_txn *t, const struct dbkey *owner, const char *bare, uint32_t count)
{
	MDB_val k = dbkey_val(owner);
	if (count == 0) {
		int rc = mdb_del(t, M.dbi, &k, NULL);
		return rc == 0 || rc == MDB_NOTFOUND ? XS_OK : XS_ERROR;
	}
	size_t blen = strlen(bare);
	MDB_val v = { sizeof(struct blk_meta) + blen, NULL };
	if (mdb_put(t, M.dbi, &k, &v, MDB_RESERVE) != 0)
		return XS_ERROR;
	struct blk_meta m = { .version = META_VERSION, .count = count };
	memcpy(v.mv_data, &m, sizeof(m));
	memcpy((char *)v.mv_data + sizeof(m), bare, blen);
	return XS_OK;
}

/* Start-up: every account with a list goes into the owners set.  From each
 * account's meta record the scan jumps past its items (H + 0xff).  A read
 * transaction of its own: mod_db_read() would begin the batch transaction,
 * and modules initialised after this one could no longer open tables. */
static int load_owners(void)
{
	struct db *db = mod_data_db();
	MDB_txn *t;
	if (db == NULL || mdb_txn_begin(db->env, NULL, MDB_RDONLY, &t) != 0) {
		log_error("blocking: cannot read the blocklist table");
		return XS_ERROR;
	}
	MDB_cursor *cur;
	if (mdb_cursor_open(t, M.dbi, &cur) != 0) {
		mdb_txn_abort(t);
		return XS_ERROR;
	}
	MDB_val k, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	int res = XS_OK;
	while (rc == 0 && res == XS_OK) {
		uint8_t next[DBKEY_OWNER_LEN + 1];
		if (k.mv_size < DBKEY_OWNER_LEN) { /* not ours: skip it */
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		memcpy(next, k.mv_data, DBKEY_OWNER_LEN);
		if (k.mv_size == DBKEY_OWNER_LEN && v.mv_size > sizeof(struct blk_meta))
			res = sset_put(&M.owners, (const char *)v.mv_data + sizeof(struct blk_meta),
			               v.mv_size - sizeof(struct blk_meta), 0);
		next[DBKEY_OWNER_LEN] = 0xff;
		k.mv_size = sizeof(next);
		k.mv_data = next;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(t);
	if (res == XS_OK && rc != MDB_NOTFOUND && rc != 0)
		res = XS_ERROR;
	if (res == XS_OK)
		log_info("blocking: %zu accounts block someone", M.owners.n);
	return res;
}

/* ---- the request's items */

struct items {
	char **v;
	uint32_t n, cap;
};

static void items_free(struct items *it)
{
	for (uint32_t i = 0; i < it->n; i++)
		free(it->v[i]);
	free(it->v);
	*it = (struct items){ 0 };
}

static int items_add(struct items *it, const char *s, size_t len)
{
	if (it->n == it->cap) {
		uint32_t cap = it->cap ? it->cap * 2 : 8;
		char **v = realloc(it->v, cap * sizeof(*v));
		if (v == NULL)
			return XS_ERROR;
		it->v = v;
		it->cap = cap;
	}
	char *c = strndup(s, len);
	if (c == NULL)
		return XS_ERROR;
	it->v[it->n++] = c;
	return XS_OK;
}

/* Prepares each <item jid=''/> of the payload into it (duplicates once).
 * XS_OK, XS_PASS (a bad item: *cond says which error), XS_ERROR. */
static int parse_items(const struct stz *s, uint32_t payload, struct items *it, const char **cond)
{
	struct sset seen = { 0 };
	int rc = XS_OK;
	static struct jid j;
	char text[JID_MAX + 1];
	for (uint32_t c = stz_first_child(s, payload); rc == XS_OK && c;
	     c = stz_next_sibling(s, payload, c)) {
		if (s->nodes[c].is_text)
			continue;
		const char *jid = stz_node_is(s, c, "item", NS_BLOCKING) ? stz_attr(s, c, "jid") : NULL;
		if (jid == NULL) {
			*cond = "bad-request";
			rc = XS_PASS;
		} else if (jid_parse(jid, strlen(jid), &j) != XS_OK) {
			*cond = "jid-malformed";
			rc = XS_PASS;
		} else {
			int len = jid_full(&j, text, sizeof(text));
			if (len < 0)
				rc = XS_ERROR;
			else if (sset_find(&seen, text, (size_t)len) == NULL &&
			         (sset_put(&seen, text, (size_t)len, 0) != XS_OK ||
			          items_add(it, text, (size_t)len) != XS_OK))
				rc = XS_ERROR;
		}
	}
	sset_free(&seen);
	return rc;
}

/* ---- pushes and presence */

struct push {
	const char *bare;
	const char *verb;        /* "block" or "unblock" */
	const struct items *it;
};

static int build_push(struct stz_builder *b, const struct push *p, const char *to)
{
	char id[32];
	snprintf(id, sizeof(id), "blk-push-%llu", (unsigned long long)++M.push_seq);
	int rc = stz_b_openz(b, "iq", STZ_NS_CLIENT);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "set");
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "id", id);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "from", p->bare);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "to", to);
	if (rc == XS_OK)
		rc = stz_b_openz(b, p->verb, NS_BLOCKING);
	for (uint32_t i = 0; rc == XS_OK && p->it && i < p->it->n; i++) {
		rc = stz_b_openz(b, "item", NS_BLOCKING);
		if (rc == XS_OK)
			rc = stz_b_attrz(b, "jid", p->it->v[i]);
		if (rc == XS_OK)
			rc = stz_b_close(b);
	}
	while (rc == XS_OK && stz_b_depth(b) > 0)
		rc = stz_b_close(b);
	return rc;
}

static bool push_visit(const struct mod_session *ms, void *arg)
{
	const struct push *p = arg;
	const struct sset_ent *e = sset_find(&M.requested, ms->full, strlen(ms->full));
	if (e == NULL || e->val != ms->conn)
		return true;
	struct stz_builder *b = mod_builder(M.ctx);
	if (build_push(b, p, ms->full) != XS_OK || mod_deliver_built(&ms->conn, 1, b) != XS_OK)
		log_warn("blocking: cannot push a blocklist change to %s", ms->full);
	return true;
}

static void push_all(const char *bare, const char *verb, const struct items *it)
{
	struct push p = { .bare = bare, .verb = verb, .it = it };
	mod_sessions(bare, push_visit, &p);
}

static void bypass_clear(void)
{
	for (size_t i = 0; i < M.nbypass; i++) {
		free(M.bypass[i].from);
		free(M.bypass[i].to);
	}
	M.nbypass = 0;
}

static int bypass_add(const char *from, const char *to)
{
	if (M.nbypass == M.bypass_cap) {
		size_t cap = M.bypass_cap ? M.bypass_cap * 2 : 16;
		struct bypass *v = realloc(M.bypass, cap * sizeof(*v));
		if (v == NULL)
			return XS_ERROR;
		M.bypass = v;
		M.bypass_cap = cap;
	}
	struct bypass *b = &M.bypass[M.nbypass];
	b->from = strdup(from);
	b->to = strdup(to);
	if (b->from == NULL || b->to == NULL) {
		free(b->from);
		free(b->to);
		return XS_ERROR;
	}
	M.nbypass++;
	return XS_OK;
}

/* Whether s is an unavailable presence this module routed on purpose. */
static bool bypass_take(const struct stz *s)
{
	if (M.nbypass == 0 || s->h->kind != STZ_PRESENCE || s->h->type != STZ_T_UNAVAILABLE)
		return false;
	for (size_t i = 0; i < M.nbypass; i++) {
		if (strcmp(M.bypass[i].from, stz_from(s)) == 0 && strcmp(M.bypass[i].to, stz_to(s)) == 0) {
			free(M.bypass[i].from);
			free(M.bypass[i].to);
			M.bypass[i] = M.bypass[--M.nbypass];
			return true;
		}
	}
	return false;
}

struct presence_job {
	const char *to;
	bool available;          /* send the current presence, else unavailable */
};

static bool presence_visit(const struct mod_session *ms, void *arg)
{
	const struct presence_job *j = arg;
	if (!ms->available)
		return true;
	struct stz_builder *b = mod_builder(M.ctx);
	struct stz p;
	bool have = j->available && mod_session_presence(ms->full, &p) == XS_OK;
	if (j->available && !have)
		return true;
	int rc = stz_b_openz(b, "presence", STZ_NS_CLIENT);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "from", ms->full);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "to", j->to);
	if (rc == XS_OK && !j->available)
		rc = stz_b_attrz(b, "type", "unavailable");
	for (uint32_t c = have ? stz_first_child(&p, 0) : 0; rc == XS_OK && c;
	     c = stz_next_sibling(&p, 0, c))
		rc = stz_b_copy(b, &p, c);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	if (rc == XS_OK && !j->available)
		rc = bypass_add(ms->full, j->to);
	if (rc != XS_OK || mod_route(b) != XS_OK)
		log_warn("blocking: cannot send presence from %s to %s", ms->full, j->to);
	return true;
}

/* 'User Blocks / Unblocks Contact': presence to a contact that may see the user's presence. */
static void tell_contact(const char *bare, const char *item, bool available)
{
	char peer[JID_MAX + 1];
	if (!jid_has_node(item) || jid_bare_copy(item, peer, sizeof(peer)) < 0)
		return; /* a domain: no contact to tell */
	enum mod_sub sub = mod_subscription(bare, peer);
	if (sub != MOD_SUB_FROM && sub != MOD_SUB_BOTH)
		return;
	struct presence_job j = { .to = item, .available = available };
	mod_sessions(bare, presence_visit, &j);
}

/* ---- requests */

static int do_get(struct iq_req *req, const char *bare, const struct dbkey *owner)
{
	const struct stz *s = req->stz;
	MDB_txn *t = mod_db_read();
	MDB_cursor *cur;
	if (t == NULL || mdb_cursor_open(t, M.dbi, &cur) != 0)
		return mod_iq_error(req, "internal-server-error");
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "blocklist", NS_BLOCKING);
	bool any = sset_find(&M.owners, bare, strlen(bare)) != NULL;
	MDB_val k = dbkey_val(owner), v;
	int mrc = any ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
	while (rc == XS_OK && mrc == 0 && dbkey_in_range(&k, owner)) {
		if (dbkey_is_entry(&k, owner)) {
			rc = stz_b_openz(b, "item", NS_BLOCKING);
			if (rc == XS_OK)
				rc = stz_b_attr(b, "jid", 3, "", 0, v.mv_data, v.mv_size);
			if (rc == XS_OK)
				rc = stz_b_close(b);
		}
		mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != XS_OK || (mrc != 0 && mrc != MDB_NOTFOUND))
		return mod_iq_error(req, "internal-server-error");
	if (s->h->conn != 0 &&
	    sset_put(&M.requested, stz_from(s), strlen(stz_from(s)), s->h->conn) != XS_OK)
		log_warn("blocking: out of memory remembering %s", stz_from(s));
	return mod_iq_result_send(req);
}

static int do_block(struct iq_req *req, const char *bare, const struct dbkey *owner,
                    const struct items *it, struct items *added)
{
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	uint32_t count;
	bool ok = meta_get(t, owner, &count) == XS_OK;
	bool full = false;
	for (uint32_t i = 0; ok && !full && i < it->n; i++) {
		size_t len = strlen(it->v[i]);
		struct dbkey key;
		ok = dbkey_item(&key, owner, it->v[i], len) == XS_OK;
		MDB_val k = dbkey_val(&key), v = { len, it->v[i] };
		if (!ok || mdb_get(t, M.dbi, &k, &v) == 0)
			continue; /* already blocked */
		v = (MDB_val){ len, it->v[i] };
		if (count >= M.o.max_items)
			full = true;
		else if (mdb_put(t, M.dbi, &k, &v, 0) != 0 || items_add(added, it->v[i], len) != XS_OK)
			ok = false;
		else
			count++;
	}
	ok = ok && !full && meta_put(t, owner, bare, count) == XS_OK;
	if (mod_db_end(t, ok) != XS_OK)
		ok = false;
	if (!ok || full)
		items_free(added); /* nothing changed: nothing to push or announce */
	if (full)
		return mod_iq_error_text(req, "not-acceptable", "the blocklist is full");
	if (!ok)
		return mod_iq_error(req, "internal-server-error");
	if (count > 0 && sset_put(&M.owners, bare, strlen(bare), 0) != XS_OK)
		log_error("blocking: out of memory: the block of %s is not enforced until restart",
		          bare);
	return mod_iq_result_empty(req);
}

static int do_unblock(struct iq_req *req, const char *bare, const struct dbkey *owner,
                      const struct items *it, struct items *removed)
{
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	uint32_t count;
	bool ok = meta_get(t, owner, &count) == XS_OK;
	for (uint32_t i = 0; ok && i < it->n; i++) {
		size_t len = strlen(it->v[i]);
		struct dbkey key;
		ok = dbkey_item(&key, owner, it->v[i], len) == XS_OK;
		MDB_val k = dbkey_val(&key);
		int rc = ok ? mdb_del(t, M.dbi, &k, NULL) : MDB_NOTFOUND;
		if (rc == 0) {
			count = count ? count - 1 : 0;
			ok = items_add(removed, it->v[i], len) == XS_OK;
		} else if (rc != MDB_NOTFOUND) {
			ok = false;
		}
	}
	ok = ok && meta_put(t, owner, bare, count) == XS_OK;
	if (mod_db_end(t, ok) != XS_OK)
		ok = false;
	if (!ok) {
		items_free(removed);
		return mod_iq_error(req, "internal-server-error");
	}
	if (count == 0)
		sset_del(&M.owners, bare, strlen(bare));
	return mod_iq_result_empty(req);
}

static void collect_item(const MDB_val *key, const MDB_val *val, void *arg)
{
	(void)key;
	struct items *it = arg;
	if (items_add(it, val->mv_data, val->mv_size) != XS_OK)
		log_warn("blocking: out of memory listing unblocked items");
}

static int do_unblock_all(struct iq_req *req, const char *bare, const struct dbkey *owner,
                          struct items *removed)
{
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	bool ok = dbkey_range_delete(t, M.dbi, owner, collect_item, removed, NULL) == XS_OK;
	if (mod_db_end(t, ok) != XS_OK)
		ok = false;
	if (!ok) {
		items_free(removed);
		return mod_iq_error(req, "internal-server-error");
	}
	sset_del(&M.owners, bare, strlen(bare));
	return mod_iq_result_empty(req);
}

static int do_set(struct iq_req *req, const char *bare, const struct dbkey *owner)
{
	const struct stz *s = req->stz;
	uint32_t p = req->payload;
	bool block = stz_node_is(s, p, "block", NS_BLOCKING);
	if (!block && !stz_node_is(s, p, "unblock", NS_BLOCKING))
		return mod_iq_error(req, "bad-request");
	struct items it = { 0 }, changed = { 0 };
	const char *cond = NULL;
	int rc = parse_items(s, p, &it, &cond);
	if (rc == XS_PASS || (rc == XS_OK && block && it.n == 0)) {
		items_free(&it);
		return mod_iq_error(req, cond ? cond : "bad-request");
	}
	if (rc != XS_OK) {
		items_free(&it);
		return mod_iq_error(req, "internal-server-error");
	}
	bypass_clear(); /* anything left from an earlier request was never routed */
	bool all = !block && it.n == 0;
	if (block)
		rc = do_block(req, bare, owner, &it, &changed);
	else if (all)
		rc = do_unblock_all(req, bare, owner, &changed);
	else
		rc = do_unblock(req, bare, owner, &it, &changed);
	if (rc == XS_DONE && changed.n > 0) {
		push_all(bare, block ? "block" : "unblock", all ? NULL : &it);
		for (uint32_t i = 0; i < changed.n; i++)
			tell_contact(bare, changed.v[i], !block);
	}
	items_free(&it);
	items_free(&changed);
	return rc;
}

static int on_blocking(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	char bare[JID_MAX + 1];
	int blen = req->preauth_conn == 0 ? xmpp_from_account(s, bare, sizeof(bare)) : -1;
	if (blen < 0 || (stz_has_to(s) && strcmp(stz_to(s), bare) != 0))
		return mod_iq_error(req, "forbidden");
	struct dbkey owner;
	if (dbkey_owner(&owner, bare, (size_t)blen) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	if (s->h->type == STZ_T_GET) {
		if (!stz_node_is(s, req->payload, "blocklist", NS_BLOCKING))
			return mod_iq_error(req, "bad-request");
		return do_get(req, bare, &owner);
	}
	/* A session without an account (SASL ANONYMOUS): nothing would ever
	 * remove its list. */
	int u = mod_account_exists(bare);
	if (u != XS_OK)
		return mod_iq_error_text(req, u == XS_PASS ? "not-allowed" : "internal-server-error",
		                         u == XS_PASS ? "blocklists are kept for registered accounts only"
		                                      : NULL);
	return do_set(req, bare, &owner);
}

/* ---- enforcement */

/* Whether the other party is one the owner can never block: a JID of the
 * owner's own account, or a local server domain itself. */
static bool exempt(const char *owner, size_t olen, const char *other)
{
	size_t blen = jid_bare_len(other);
	if (blen == olen && memcmp(owner, other, olen) == 0)
		return true;
	if (memchr(other, '@', blen) != NULL)
		return false;
	char dom[JID_PART_MAX + 1];
	if (blen >= sizeof(dom))
		return false;
	memcpy(dom, other, blen);
	dom[blen] = '\0';
	return mod_is_local_host(dom);
}

/* Whether the account `owner` (its bare JID is a prefix of `jid`) blocks `other`. */
static bool blocks(const char *owner, size_t olen, const char *other)
{
	if (exempt(owner, olen, other))
		return false;
	struct dbkey key;
	if (dbkey_owner(&key, owner, olen) != XS_OK)
		return false;
	MDB_txn *t = mod_db_read();
	return t != NULL && jid_blocked(t, &key, other);
}

static int on_filter(struct hook_args *a, void *arg)
{
	(void)arg;
	if (M.owners.n == 0)
		return XS_PASS;
	const struct stz *s = a->stz;
	if (s == NULL || s->h->from.len == 0 || s->h->to.len == 0)
		return XS_PASS;
	if (s->h->conn == 0 && s->h->type == STZ_T_ERROR)
		return XS_PASS; /* the server's own errors: our bounces among them */
	const char *from = stz_from(s), *to = stz_to(s);
	size_t flen = jid_bare_len(from), tlen = jid_bare_len(to);
	if (flen == tlen && memcmp(from, to, flen) == 0)
		return XS_PASS;
	uint8_t kind = s->h->kind, type = s->h->type;
	/* Inbound: the recipient blocks the sender ('User Blocks Contact'). */
	if (sset_find(&M.owners, to, tlen) && blocks(to, tlen, from)) {
		bool answer = kind == STZ_MESSAGE ||
		              (kind == STZ_IQ && (type == STZ_T_GET || type == STZ_T_SET));
		if (answer && mod_bounce(s, "service-unavailable") == XS_ERROR)
			log_warn("blocking: cannot bounce a stanza from %s", from);
		return XS_DROP;
	}
	/* Outbound: the sender blocks the recipient. */
	if (sset_find(&M.owners, from, flen) && blocks(from, flen, to)) {
		if (s->h->conn == 0)
			return bypass_take(s) ? XS_PASS : XS_DROP;
		if (mod_bounce_ext(s, "not-acceptable", "cancel", "blocked", NS_BLOCKING_ERRORS,
		                   NULL) == XS_ERROR)
			log_warn("blocking: cannot answer a stanza from %s", from);
		return XS_DROP;
	}
	return XS_PASS;
}

/* ---- sessions and accounts */

static int on_session_closed(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid)
		sset_del(&M.requested, a->jid, strlen(a->jid));
	return XS_PASS;
}

static int on_user_removed(struct hook_args *a, void *arg)
{
	(void)arg;
	struct dbkey owner;
	if (a->jid == NULL || dbkey_owner(&owner, a->jid, strlen(a->jid)) != XS_OK)
		return XS_PASS;
	sset_del(&M.owners, a->jid, strlen(a->jid));
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return XS_PASS;
	bool ok = dbkey_range_delete(t, M.dbi, &owner, NULL, NULL, NULL) == XS_OK;
	if (mod_db_end(t, ok) != XS_OK || !ok)
		log_error("blocking: cannot delete the blocklist of %s", a->jid);
	return XS_PASS;
}

/* ---- module */

static void blocking_stop(struct mod_ctx *ctx)
{
	(void)ctx;
	sset_free(&M.owners);
	sset_free(&M.requested);
	bypass_clear();
	free(M.bypass);
	M.bypass = NULL;
	M.bypass_cap = 0;
}

static int blocking_init(struct mod_ctx *ctx)
{
	M.ctx = ctx;
	if (gnutls_rnd(GNUTLS_RND_NONCE, &hash_seed, sizeof(hash_seed)) != 0)
		hash_seed = (uint64_t)mod_now();
	if (mod_db_table(ctx, "blocklist", 0, &M.dbi) != XS_OK || load_owners() != XS_OK) {
		blocking_stop(ctx);
		return XS_ERROR;
	}
	if (mod_iq_add(ctx, NULL, NS_BLOCKING, on_blocking, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_BLOCKING) != XS_OK ||
	    mod_hook_add(ctx, HOOK_FILTER_PACKET, NULL, 10, on_filter, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_SESSION_CLOSED, NULL, 50, on_session_closed, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_USER_REMOVED, NULL, 50, on_user_removed, NULL) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "blocking",
	.init = blocking_init,
	.stop = blocking_stop,
	.opts = OPTS,
	.conf = &M.o,
	.conf_size = sizeof(M.o),
};

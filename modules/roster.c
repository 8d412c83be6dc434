/* roster.c — the roster (RFC 6121 §2, versioning §2.6), presence
 * subscriptions (§3 and Appendix A, with pre-approval §3.4) and presence to
 * contacts (§4: broadcast, probes, directed presence).
 *
 * jabber:iq:roster is answered only for the account itself: no 'to' or
 * to = the sender's bare JID, else <forbidden/> (§2.3.3; a get is treated
 * the same).  get: every item on the roster with 'ver' (§2.6), or an empty
 * result when the client's 'ver' is current (§2.6.3); the session becomes an
 * "interested resource" (MOD_SESS_ROSTER) that gets roster pushes.  A
 * roster too big for one stanza (the router's builder bound, 4 x
 * max_stanza_size) is answered resource-constraint (cancel), never cut short.
 * set (§2.3.3): not exactly one <item/>, or a 'jid' that is not a valid bare
 * JID: bad-request; duplicate groups: bad-request; an empty group, a group
 * or name longer than the limits, more groups than max_groups:
 * not-acceptable.  'subscription' values other than "remove", 'ask' and
 * 'approved' in a set are ignored (§2.1.2.5: the server MUST ignore them).
 * A set that would add an item past max_items gets <resource-constraint/>
 * of type cancel: §2.3.3 names no condition for a full roster, the server
 * lacks room for it (RFC 6120 §8.3.3.18) and retrying cannot help.  remove (§2.5.2): unsubscribe and/or
 * unsubscribed to the contact as the state demands (and unavailable from the
 * user's available resources when the contact was subscribed); an item not
 * on the roster: item-not-found (§2.5.3).  Pushes go to every interested
 * resource (one iq set each, no 'from', random id, new 'ver').
 *
 * Subscriptions follow the tables of Appendix A (outbound A.2, inbound
 * A.3).  Outbound subscription stanzas leave stamped with the user's bare
 * JID.  A subscribed sent without a pending inbound request pre-approves
 * (§3.4), an unsubscribed then cancels it; an inbound subscribe from a
 * pre-approved or already subscribed contact is answered with subscribed
 * and not delivered.  A pending inbound request is stored (its stanza, at
 * most 4096 bytes, else a bare subscribe is made again) and delivered anew
 * to every resource that sends initial presence until the user answers.
 * Whenever a contact loses its subscription to the user, it gets
 * unavailable from the user's available resources (§3.2.2, §3.3.3).
 * An account deleted sends unsubscribe/unsubscribed to its contacts.
 *
 * Options (modules: {roster: {...}}):
 *   max_items      [2000]  items on one roster, 1..100000; also bounds the
 *                          pending inbound requests kept for one account
 *   max_groups     [32]    groups of one item, 0..255
 *   max_name_len   [1023]  bytes of an item's name, 1..4096
 *   max_group_len  [1023]  bytes of one group name, 1..4096
 *
 * Storage: table "roster" of the data env, keys as lib/dbkey.h lays them out
 * (O = SHA-256 of the owner's bare JID, so one owner is one range; the item
 * is the contact's bare JID C):
 *   O                    -> meta: u8 layout (1), u8 pad[3], u32 items,
 *                           u32 hidden, u32 pad, u64 ver          (24 bytes)
 *   O + C                -> item, C = the contact bare JID (1..479 bytes)
 *   O + 0x00 + SHA-256(C)   for a longer contact JID
 * item: u8 layout (1), u8 sub (TO 1 | FROM 2), u8 flags, u8 pad,
 *   u16 jid_len, u16 name_len, u16 ngroups, u16 pad, u32 groups_len,
 *   u32 req_len, then the contact JID, the name, the groups (u16 length +
 *   bytes each) and the stored pending subscribe (stz encoding).
 *   flags: ASK 1 (pending out), PENDING 2 (pending in), APPROVED 4
 *   (pre-approved), LISTED 8 (on the user's roster; a record without it is
 *   only a pending inbound request, never shown, §3.1.3).  Host byte order;
 *   every length is checked when read back.  meta counts LISTED records
 *   (items) and the others (hidden); ver is bumped by every change visible
 *   in the roster and starts from the creation time of the meta record, so
 *   that an account deleted and made again does not reuse old versions.
 *
 * Directed presence (§4.6) is tracked in memory: full JID -> the JIDs it
 * sent available presence to that its subscriptions do not cover (at most
 * 128 each); they get unavailable when the session goes unavailable or
 * ends.  A router restart forgets them. */
#include "router/module.h"
#include "lib/dbkey.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <gnutls/crypto.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_ROSTER "jabber:iq:roster"

enum { SUB_TO = 1, SUB_FROM = 2 };
enum { F_ASK = 1, F_PENDING = 2, F_APPROVED = 4, F_LISTED = 8 };

#define BARE_MAX     (2 * JID_PART_MAX + 1)
#define REQ_MAX      4096                       /* stored pending subscribe */
#define REC_LAYOUT   1
#define REC_HDR      20
#define META_LAYOUT  1
#define META_SIZE    24
#define DIRECTED_MAX 128                        /* directed presence targets per session */
#define DIR_BUCKETS  1024

struct opts {
	uint32_t max_items, max_groups, max_name, max_group;
};

struct dsess { /* directed presence of one full JID */
	struct dsess *next;
	char *full;
	char **to;
	uint32_t n, cap;
};

static struct {
	struct mod_ctx *ctx;
	MDB_dbi dbi;
	struct opts o;
	struct dsess *dir[DIR_BUCKETS];
	uint64_t idseq;
} R;

/* ------------------------------------------------------------ small helpers */

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, sizeof(v)); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, sizeof(v)); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, sizeof(v)); return v; }
static void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof(v)); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof(v)); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof(v)); }

static void make_id(char *out, size_t cap)
{
	uint8_t r[8];
	if (gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof(r)) != 0)
		memcpy(r, &R.idseq, sizeof(r));
	R.idseq++;
	snprintf(out, cap, "push-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
	         r[5], r[6], r[7]);
}

/* ------------------------------------------------------------ records */

struct item {
	uint8_t sub, flags;
	uint16_t ngroups;
	const char *jid, *name;
	size_t jid_len, name_len;
	const uint8_t *groups, *req;
	size_t groups_len, req_len;
};

static int item_decode(const void *data, size_t size, struct item *it)
{
	const uint8_t *p = data;
	if (size < REC_HDR || p[0] != REC_LAYOUT)
		return XS_ERROR;
	it->sub = p[1] & (SUB_TO | SUB_FROM);
	it->flags = p[2] & (F_ASK | F_PENDING | F_APPROVED | F_LISTED);
	it->jid_len = rd16(p + 4);
	it->name_len = rd16(p + 6);
	it->ngroups = rd16(p + 8);
	it->groups_len = rd32(p + 12);
	it->req_len = rd32(p + 16);
	uint64_t total = (uint64_t)REC_HDR + it->jid_len + it->name_len + it->groups_len + it->req_len;
	if (total != size || it->jid_len == 0 || it->jid_len > BARE_MAX || it->req_len > REQ_MAX)
		return XS_ERROR;
	it->jid = (const char *)p + REC_HDR;
	it->name = it->jid + it->jid_len;
	it->groups = (const uint8_t *)it->name + it->name_len;
	it->req = it->groups + it->groups_len;
	return XS_OK;
}

static uint8_t *item_encode(const struct item *it, size_t *size)
{
	size_t n = REC_HDR + it->jid_len + it->name_len + it->groups_len + it->req_len;
	uint8_t *p = malloc(n);
	if (p == NULL) {
		log_error("roster: out of memory (%zu bytes)", n);
		return NULL;
	}
	memset(p, 0, REC_HDR);
	p[0] = REC_LAYOUT;
	p[1] = it->sub;
	p[2] = it->flags;
	wr16(p + 4, (uint16_t)it->jid_len);
	wr16(p + 6, (uint16_t)it->name_len);
	wr16(p + 8, it->ngroups);
	wr32(p + 12, (uint32_t)it->groups_len);
	wr32(p + 16, (uint32_t)it->req_len);
	uint8_t *w = p + REC_HDR;
	memcpy(w, it->jid, it->jid_len);
	w += it->jid_len;
	if (it->name_len)
		memcpy(w, it->name, it->name_len);
	w += it->name_len;
	if (it->groups_len)
		memcpy(w, it->groups, it->groups_len);
	w += it->groups_len;
	if (it->req_len)
		memcpy(w, it->req, it->req_len);
	*size = n;
	return p;
}

/* Walks the groups of an item; stops at the first malformed one. */
struct giter {
	const uint8_t *p;
	size_t left;
	uint32_t n;
};

static struct giter groups_of(const struct item *it)
{
	return (struct giter){ .p = it->groups, .left = it->groups_len, .n = it->ngroups };
}

static bool group_next(struct giter *g, const char **s, size_t *len)
{
	if (g->n == 0 || g->left < 2)
		return false;
	size_t l = rd16(g->p);
	if (l == 0 || l > g->left - 2)
		return false;
	*s = (const char *)g->p + 2;
	*len = l;
	g->p += 2 + l;
	g->left -= 2 + l;
	g->n--;
	return true;
}

/* A record is kept while it is on the roster or holds a pending request. */
static bool item_alive(const struct item *it)
{
	return (it->flags & (F_LISTED | F_PENDING)) != 0;
}

static bool listed(const struct item *it, bool exists)
{
	return exists && (it->flags & F_LISTED);
}

/* Whether what the roster shows of the item changed (§2.1.2). */
static bool visible_changed(const struct item *a, bool a_exists, const struct item *b, bool b_exists)
{
	bool al = listed(a, a_exists), bl = listed(b, b_exists);
	if (al != bl)
		return true;
	if (!al)
		return false;
	return a->sub != b->sub || (a->flags & (F_ASK | F_APPROVED)) != (b->flags & (F_ASK | F_APPROVED)) ||
	       !same(a->name, a->name_len, b->name, b->name_len) || a->ngroups != b->ngroups ||
	       !same((const char *)a->groups, a->groups_len, (const char *)b->groups, b->groups_len);
}

struct meta {
	uint64_t ver;
	uint32_t items, hidden;
	bool exists;
};

static int meta_get(MDB_txn *t, const struct dbkey *ok, struct meta *m)
{
	memset(m, 0, sizeof(*m));
	MDB_val k = dbkey_val(ok), v;
	int rc = mdb_get(t, R.dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_OK;
	if (rc != 0) {
		log_error("roster: reading a roster version: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	const uint8_t *p = v.mv_data;
	if (v.mv_size != META_SIZE || p[0] != META_LAYOUT) {
		log_error("roster: a roster meta record has a bad layout (%zu bytes)", v.mv_size);
		return XS_ERROR;
	}
	m->items = rd32(p + 4);
	m->hidden = rd32(p + 8);
	m->ver = rd64(p + 16);
	m->exists = true;
	return XS_OK;
}

static int meta_put(MDB_txn *t, const struct dbkey *ok, const struct meta *m)
{
	uint8_t p[META_SIZE] = { META_LAYOUT };
	wr32(p + 4, m->items);
	wr32(p + 8, m->hidden);
	wr64(p + 16, m->ver);
	MDB_val k = dbkey_val(ok), v = { sizeof(p), p };
	int rc = mdb_put(t, R.dbi, &k, &v, 0);
	if (rc != 0) {
		log_error("roster: writing a roster version: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

static void ver_text(const struct meta *m, char *out, size_t cap)
{
	snprintf(out, cap, "%" PRIu64, m->exists ? m->ver : 0);
}

/* One (owner, contact) record being changed inside a child transaction. */
struct pair {
	MDB_txn *t;
	struct dbkey ok, ik;
	struct meta meta;
	const char *contact; /* the caller's string: stays valid after a delete */
	size_t clen;
	struct item old;   /* valid until the first write */
	bool exists;
	uint8_t *buf;      /* the record written (owned; free with pair_done) */
	struct item nw;    /* decoded from buf */
	bool nw_exists;
};

static int pair_load(struct pair *p, MDB_txn *t, const char *owner, size_t olen, const char *contact,
                     size_t clen)
{
	memset(p, 0, sizeof(*p));
	p->t = t;
	p->contact = contact;
	p->clen = clen;
	if (clen == 0 || clen > BARE_MAX || dbkey_owner(&p->ok, owner, olen) != XS_OK ||
	    dbkey_item(&p->ik, &p->ok, contact, clen) != XS_OK || meta_get(t, &p->ok, &p->meta) != XS_OK)
		return XS_ERROR;
	MDB_val k = dbkey_val(&p->ik), v;
	int rc = mdb_get(t, R.dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		p->old = (struct item){ .jid = contact, .jid_len = clen };
		return XS_OK;
	}
	if (rc != 0) {
		log_error("roster: reading an item: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	if (item_decode(v.mv_data, v.mv_size, &p->old) != XS_OK ||
	    !same(p->old.jid, p->old.jid_len, contact, clen)) {
		log_error("roster: a roster record of %.*s is corrupt or collides", (int)olen, owner);
		return XS_ERROR;
	}
	p->exists = true;
	return XS_OK;
}

/* Writes `nw` (deleted when it is no longer alive) and the meta; `bump`:
 * the visible roster changed, so its version moves. */
static int pair_store(struct pair *p, const struct item *nw, bool bump)
{
	struct meta m = p->meta;
	if (p->exists) {
		uint32_t *c = (p->old.flags & F_LISTED) ? &m.items : &m.hidden;
		if (*c > 0)
			(*c)--;
	}
	bool keep = item_alive(nw);
	MDB_val k = dbkey_val(&p->ik);
	int rc = 0;
	if (keep) {
		size_t n;
		uint8_t *buf = item_encode(nw, &n); /* before the put: nw may point into the db */
		if (buf == NULL)
			return XS_ERROR;
		MDB_val v = { n, buf };
		rc = mdb_put(p->t, R.dbi, &k, &v, 0);
		free(p->buf);
		p->buf = buf;
		if (rc == 0 && item_decode(buf, n, &p->nw) != XS_OK)
			return XS_ERROR;
		p->nw_exists = rc == 0;
		if (nw->flags & F_LISTED)
			m.items++;
		else
			m.hidden++;
	} else if (p->exists) {
		rc = mdb_del(p->t, R.dbi, &k, NULL);
	}
	if (rc != 0) {
		log_error("roster: writing an item: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	if (bump || !m.exists) {
		if (!m.exists)
			m.ver = (uint64_t)mod_now() << 16;
		m.ver++;
		m.exists = true;
	}
	if (meta_put(p->t, &p->ok, &m) != XS_OK)
		return XS_ERROR;
	p->meta = m;
	return XS_OK;
}

static void pair_done(struct pair *p)
{
	free(p->buf);
	p->buf = NULL;
}

/* The subscription bits `owner` gives `contact` (0 when none or unreadable). */
static uint8_t lookup_sub(MDB_txn *t, const char *owner, size_t olen, const char *contact, size_t clen)
{
	struct dbkey ok, ik;
	if (t == NULL || clen == 0 || clen > BARE_MAX || dbkey_owner(&ok, owner, olen) != XS_OK ||
	    dbkey_item(&ik, &ok, contact, clen) != XS_OK)
		return 0;
	MDB_val k = dbkey_val(&ik), v;
	struct item it;
	if (mdb_get(t, R.dbi, &k, &v) != 0 || item_decode(v.mv_data, v.mv_size, &it) != XS_OK ||
	    !same(it.jid, it.jid_len, contact, clen))
		return 0;
	return it.sub;
}

/* ------------------------------------------------------------ stanzas */

/* <presence> with from, to and type (NULL: src's own, if any), the other
 * attributes of src's root (id, xml:lang) and its children. */
static int build_presence(struct stz_builder *b, const struct stz *src, const char *from,
                          size_t flen, const char *to, size_t tlen, const char *type)
{
	int rc = stz_b_openz(b, "presence", STZ_NS_CLIENT);
	if (rc == XS_OK)
		rc = stz_b_attr(b, "from", 4, "", 0, from, flen);
	if (rc == XS_OK)
		rc = stz_b_attr(b, "to", 2, "", 0, to, tlen);
	if (rc == XS_OK && type)
		rc = stz_b_attrz(b, "type", type);
	if (src) {
		const struct stz_node *n = &src->nodes[0];
		for (uint32_t a = n->attr_first; rc == XS_OK && a < n->attr_first + n->nattrs; a++) {
			const struct stz_attr *at = &src->attrs[a];
			const char *name = stz_str(src, at->name);
			if (at->ns.len == 0 && (strcmp(name, "from") == 0 || strcmp(name, "to") == 0 ||
			                        (type && strcmp(name, "type") == 0)))
				continue;
			rc = stz_b_attr(b, name, at->name.len, stz_str(src, at->ns), at->ns.len,
			                stz_str(src, at->value), at->value.len);
		}
		for (uint32_t c = stz_first_child(src, 0); rc == XS_OK && c != 0;
		     c = stz_next_sibling(src, 0, c))
			rc = stz_b_copy(b, src, c);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

static void route_presence(const struct stz *src, const char *from, size_t flen, const char *to,
                           size_t tlen, const char *type)
{
	struct stz_builder *b = mod_builder(R.ctx);
	if (build_presence(b, src, from, flen, to, tlen, type) != XS_OK || mod_route(b) != XS_OK)
		log_warn("roster: cannot send presence from %.*s to %.*s", (int)flen, from, (int)tlen, to);
}

static int put_item(struct stz_builder *b, const struct item *it, bool remove)
{
	static const char *const subs[] = { "none", "to", "from", "both" };
	int rc = stz_b_openz(b, "item", NS_ROSTER);
	if (rc == XS_OK)
		rc = stz_b_attr(b, "jid", 3, "", 0, it->jid, it->jid_len);
	if (rc == XS_OK && !remove && it->name_len)
		rc = stz_b_attr(b, "name", 4, "", 0, it->name, it->name_len);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "subscription", remove ? "remove" : subs[it->sub & 3]);
	if (rc == XS_OK && !remove && (it->flags & F_ASK))
		rc = stz_b_attrz(b, "ask", "subscribe");
	if (rc == XS_OK && !remove && (it->flags & F_APPROVED))
		rc = stz_b_attrz(b, "approved", "true");
	struct giter g = groups_of(it);
	const char *gs;
	size_t gl;
	while (rc == XS_OK && !remove && group_next(&g, &gs, &gl)) {
		rc = stz_b_openz(b, "group", NS_ROSTER);
		if (rc == XS_OK)
			rc = stz_b_text(b, gs, gl);
		if (rc == XS_OK)
			rc = stz_b_close(b);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

struct push {
	const struct item *it;
	bool remove;
	char ver[24];
};

static bool push_visit(const struct mod_session *s, void *arg)
{
	const struct push *p = arg;
	if (!(s->flags & MOD_SESS_ROSTER))
		return true;
	char id[40];
	make_id(id, sizeof(id));
	struct stz_builder *b = mod_builder(R.ctx);
	int rc = stz_b_openz(b, "iq", STZ_NS_CLIENT);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "set");
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "to", s->full);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "id", id);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "query", NS_ROSTER);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "ver", p->ver);
	if (rc == XS_OK)
		rc = put_item(b, p->it, p->remove);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	if (rc != XS_OK || mod_deliver_built(&s->conn, 1, b) != XS_OK)
		log_warn("roster: cannot push a roster item to %s", s->full);
	return true;
}

/* Roster push (§2.1.6) of `it` (or its removal) to the interested resources. */
static void push(const char *owner, const struct item *it, bool remove, const struct meta *m)
{
	struct push p = { .it = it, .remove = remove };
	ver_text(m, p.ver, sizeof(p.ver));
	if (mod_sessions(owner, push_visit, &p) != XS_OK)
		log_warn("roster: cannot list the sessions of %s for a roster push", owner);
}

/* Pushes whatever `p` changed in what the roster shows. */
static void push_change(const char *owner, struct pair *p, bool vis)
{
	if (!vis)
		return;
	if (listed(&p->nw, p->nw_exists)) {
		push(owner, &p->nw, false, &p->meta);
	} else {
		struct item gone = { .jid = p->contact, .jid_len = p->clen };
		push(owner, &gone, true, &p->meta);
	}
}

/* Presence of each available resource of an account to `to`: its last
 * presence, or unavailable. */
struct fwd {
	const char *to;
	size_t tlen;
	bool unavailable;
};

static bool fwd_visit(const struct mod_session *s, void *arg)
{
	const struct fwd *f = arg;
	if (!s->available)
		return true;
	if (f->unavailable) {
		route_presence(NULL, s->full, strlen(s->full), f->to, f->tlen, "unavailable");
		return true;
	}
	struct stz last;
	if (mod_session_presence(s->full, &last) == XS_OK)
		route_presence(&last, s->full, strlen(s->full), f->to, f->tlen, NULL);
	return true;
}

static void send_presences(const char *owner, const char *to, size_t tlen, bool unavailable)
{
	struct fwd f = { .to = to, .tlen = tlen, .unavailable = unavailable };
	if (mod_sessions(owner, fwd_visit, &f) != XS_OK)
		log_warn("roster: cannot list the sessions of %s", owner);
}

/* A subscription stanza from the account's bare JID (RFC 6121 §3.1.2). */
static void route_sub(const char *owner, const char *peer, size_t plen, const struct stz *src,
                      enum stz_type t)
{
	route_presence(src, owner, strlen(owner), peer, plen, stz_type_name(t));
}

/* ------------------------------------------------------------ subscriptions */

struct change {
	uint8_t sub, flags;
	bool route;            /* outbound: send it on */
	bool deliver;          /* inbound: deliver to the available resources */
	bool reply_subscribed; /* inbound subscribe answered for the user */
	bool send_presence;    /* the contact just got a subscription: tell it */
	bool send_unavailable; /* the contact just lost its subscription */
};

/* RFC 6121 Appendix A.2 (with §3.4 pre-approval). */
static void out_transition(enum stz_type t, uint8_t sub, uint8_t flags, struct change *c)
{
	*c = (struct change){ .sub = sub, .flags = flags };
	switch (t) {
	case STZ_T_SUBSCRIBE:
		c->route = true; /* even when subscribed: the contact re-answers (resync) */
		if (!(sub & SUB_TO))
			c->flags |= F_ASK | F_LISTED;
		break;
	case STZ_T_SUBSCRIBED:
		if (sub & SUB_FROM)
			break;
		if (flags & F_PENDING) {
			c->sub |= SUB_FROM;
			c->flags = (flags & ~(F_PENDING | F_APPROVED)) | F_LISTED;
			c->route = c->send_presence = true;
		} else {
			c->flags |= F_APPROVED | F_LISTED;
		}
		break;
	case STZ_T_UNSUBSCRIBE:
		c->route = true;
		c->sub &= (uint8_t)~SUB_TO;
		c->flags &= (uint8_t)~F_ASK;
		break;
	case STZ_T_UNSUBSCRIBED:
		if ((sub & SUB_FROM) || (flags & F_PENDING)) {
			c->route = true;
			c->send_unavailable = (sub & SUB_FROM) != 0;
			c->sub &= (uint8_t)~SUB_FROM;
			c->flags &= (uint8_t)~F_PENDING;
		} else {
			c->flags &= (uint8_t)~F_APPROVED; /* cancels a pre-approval, not routed */
		}
		break;
	default:
		break;
	}
}

/* RFC 6121 Appendix A.3 (with §3.4 pre-approval). */
static void in_transition(enum stz_type t, uint8_t sub, uint8_t flags, struct change *c)
{
	*c = (struct change){ .sub = sub, .flags = flags };
	switch (t) {
	case STZ_T_SUBSCRIBE:
		if (sub & SUB_FROM) {
			c->reply_subscribed = true;
		} else if (flags & F_APPROVED) {
			c->sub |= SUB_FROM;
			c->flags &= (uint8_t)~(F_APPROVED | F_PENDING);
			c->reply_subscribed = c->send_presence = true;
		} else if (!(flags & F_PENDING)) {
			c->flags |= F_PENDING;
			c->deliver = true;
		}
		break;
	case STZ_T_SUBSCRIBED:
		if (flags & F_ASK) {
			c->flags &= (uint8_t)~F_ASK;
			c->sub |= SUB_TO;
			c->deliver = true;
		}
		break;
	case STZ_T_UNSUBSCRIBE:
		if ((sub & SUB_FROM) || (flags & F_PENDING)) {
			c->deliver = true;
			c->send_unavailable = (sub & SUB_FROM) != 0;
			c->sub &= (uint8_t)~SUB_FROM;
			c->flags &= (uint8_t)~F_PENDING;
		}
		break;
	case STZ_T_UNSUBSCRIBED:
		if ((sub & SUB_TO) || (flags & F_ASK)) {
			c->deliver = true;
			c->sub &= (uint8_t)~SUB_TO;
			c->flags &= (uint8_t)~F_ASK;
		}
		break;
	default:
		break;
	}
}

static bool is_sub_type(enum stz_type t)
{
	return t == STZ_T_SUBSCRIBE || t == STZ_T_SUBSCRIBED || t == STZ_T_UNSUBSCRIBE ||
	       t == STZ_T_UNSUBSCRIBED;
}

/* The record after a change: a stored request only while pending in. */
static struct item apply(const struct pair *p, const struct change *c)
{
	struct item nw = p->old;
	nw.sub = c->sub;
	nw.flags = c->flags;
	if (!(nw.flags & F_PENDING)) {
		nw.req = NULL;
		nw.req_len = 0;
	}
	return nw;
}

/* Ends the child transaction: writes `nw` (NULL: nothing changed, nothing
 * to commit, so the batch stays clean).  On failure the pair is released. */
/* Ends txn, having stored nw when the subscription state changed, and
 * pushes what the roster shows of it.  XS_OK, or XS_ERROR (p is done). */
static int commit(MDB_txn *txn, struct pair *p, const struct item *nw, const char *owner)
{
	if (nw->sub == p->old.sub && nw->flags == p->old.flags) {
		mod_db_end(txn, false);
		return XS_OK;
	}
	bool vis = visible_changed(&p->old, p->exists, nw, item_alive(nw));
	int rc = pair_store(p, nw, vis);
	if (mod_db_end(txn, rc == XS_OK) != XS_OK || rc != XS_OK) {
		pair_done(p);
		return XS_ERROR;
	}
	push_change(owner, p, vis);
	return XS_OK;
}

/* The presence a subscription change sends the contact (§3.1.5, §3.2.2, §3.3.3). */
static void presence_after(const struct change *c, const char *owner, const char *peer,
                           size_t plen)
{
	if (c->send_presence)
		send_presences(owner, peer, plen, false);
	if (c->send_unavailable)
		send_presences(owner, peer, plen, true);
}

static bool creates_listed(const struct pair *p, const struct item *nw)
{
	return !listed(&p->old, p->exists) && (nw->flags & F_LISTED);
}

/* A registered account, or one of live SASL ANONYMOUS sessions (its roster
 * goes when the last of them ends: HOOK_USER_REMOVED). */
static bool account_exists(const char *bare)
{
	enum mod_account kind;
	return mod_account(bare, &kind) == XS_OK && kind != MOD_ACCOUNT_NONE;
}

/* The start of a subscription hook (a->jid the owner, a->peer the contact):
 * the pair loaded in a new child transaction *txn, the transition of its
 * state the stanza makes (Appendix A.2 outbound, A.3 inbound) in *c and the
 * record it leads to in *nw.  XS_OK; XS_PASS for a stanza that is not about
 * subscriptions; XS_DROP when the stanza is dropped (to oneself, an inbound
 * one to no such account, a database failure). */
static int sub_begin(const struct hook_args *a, bool inbound, MDB_txn **txn, struct pair *p,
                     struct change *c, struct item *nw)
{
	const struct stz *s = a->stz;
	const char *owner = a->jid, *peer = a->peer;
	if (s == NULL || owner == NULL || peer == NULL || !is_sub_type((enum stz_type)s->h->type))
		return XS_PASS;
	size_t olen = strlen(owner), plen = strlen(peer);
	if (plen == 0 || same(owner, olen, peer, plen))
		return XS_DROP; /* no subscription to oneself */
	if (mod_db_begin(txn) != XS_OK)
		return XS_DROP;
	/* RFC 6121 §8.5.1: subscription stanzas to no such user are ignored. */
	if ((inbound && !account_exists(owner)) ||
	    pair_load(p, *txn, owner, olen, peer, plen) != XS_OK) {
		mod_db_end(*txn, false);
		return XS_DROP;
	}
	enum stz_type t = (enum stz_type)s->h->type;
	if (inbound)
		in_transition(t, p->old.sub, p->old.flags, c);
	else
		out_transition(t, p->old.sub, p->old.flags, c);
	*nw = apply(p, c);
	return XS_OK;
}

static int on_sub_out(struct hook_args *a, void *arg)
{
	(void)arg;
	MDB_txn *txn;
	struct pair p;
	struct change c;
	struct item nw;
	int rc = sub_begin(a, false, &txn, &p, &c, &nw);
	if (rc != XS_OK)
		return rc;
	const struct stz *s = a->stz;
	const char *owner = a->jid, *peer = a->peer;
	size_t plen = p.clen;
	if (creates_listed(&p, &nw) && p.meta.items >= R.o.max_items) {
		mod_db_end(txn, false);
		mod_bounce_ext(s, "resource-constraint", "cancel", NULL, NULL, "the roster is full");
		return XS_DROP;
	}
	if (commit(txn, &p, &nw, owner) != XS_OK)
		return XS_DROP;
	if (c.route)
		route_sub(owner, peer, plen, s, (enum stz_type)s->h->type);
	presence_after(&c, owner, peer, plen);
	pair_done(&p);
	return XS_DROP;
}

static int on_sub_in(struct hook_args *a, void *arg)
{
	(void)arg;
	MDB_txn *txn;
	struct pair p;
	struct change c;
	struct item nw;
	int rc = sub_begin(a, true, &txn, &p, &c, &nw);
	if (rc != XS_OK)
		return rc;
	const struct stz *s = a->stz;
	const char *owner = a->jid, *peer = a->peer;
	size_t plen = p.clen;
	if ((nw.flags & F_PENDING) && !(p.old.flags & F_PENDING)) {
		nw.req = (const uint8_t *)s->h;
		nw.req_len = s->h->size <= REQ_MAX ? s->h->size : 0;
		if (!p.exists && p.meta.hidden >= R.o.max_items) {
			log_info("roster: %s has too many pending subscription requests; one from %s dropped",
			         owner, peer);
			mod_db_end(txn, false);
			return XS_DROP;
		}
	}
	if (commit(txn, &p, &nw, owner) != XS_OK)
		return XS_DROP;
	if (c.reply_subscribed)
		route_sub(owner, peer, plen, NULL, STZ_T_SUBSCRIBED);
	presence_after(&c, owner, peer, plen);
	pair_done(&p);
	return c.deliver ? XS_PASS : XS_DROP;
}

/* ------------------------------------------------------------ probes */

/* Answers a probe of `owner` (bare) by `prober` (full or bare) when the
 * prober may see the owner's presence (§4.3.2). */
static void probe_answer(MDB_txn *t, const char *owner, const char *prober)
{
	size_t olen = strlen(owner), pbl = jid_bare_len(prober);
	if (!same(owner, olen, prober, pbl) && !(lookup_sub(t, owner, olen, prober, pbl) & SUB_FROM))
		return;
	send_presences(owner, prober, strlen(prober), false);
}

static int on_probe(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->stz == NULL || a->jid == NULL)
		return XS_PASS;
	const char *prober = stz_from(a->stz);
	if (*prober)
		probe_answer(mod_db_read(), a->jid, prober);
	return XS_DONE;
}

static bool is_local_jid(const char *j, size_t len)
{
	const char *at = memchr(j, '@', len);
	const char *d = at ? at + 1 : j;
	char dom[JID_PART_MAX + 1];
	size_t dl = len - (size_t)(d - j);
	if (dl == 0 || dl > JID_PART_MAX)
		return false;
	memcpy(dom, d, dl);
	dom[dl] = '\0';
	return mod_is_local_host(dom);
}

/* ------------------------------------------------------------ directed presence */

static uint32_t dir_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % DIR_BUCKETS;
}

static struct dsess **dir_find(const char *full)
{
	struct dsess **pp = &R.dir[dir_hash(full)];
	while (*pp && strcmp((*pp)->full, full) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void dsess_free(struct dsess *d)
{
	for (uint32_t i = 0; i < d->n; i++)
		free(d->to[i]);
	free(d->to);
	free(d->full);
	free(d);
}

static void dir_add(const char *full, const char *to)
{
	struct dsess **pp = dir_find(full);
	struct dsess *d = *pp;
	if (d == NULL) {
		d = calloc(1, sizeof(*d));
		if (d == NULL || (d->full = strdup(full)) == NULL) {
			free(d);
			return;
		}
		*pp = d;
	}
	for (uint32_t i = 0; i < d->n; i++)
		if (strcmp(d->to[i], to) == 0)
			return;
	if (d->n >= DIRECTED_MAX) {
		log_debug("roster: %s sent directed presence to more than %d JIDs; %s not tracked",
		          full, DIRECTED_MAX, to);
		return;
	}
	if (d->n == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 4;
		char **n = realloc(d->to, cap * sizeof(*n));
		if (n == NULL)
			return;
		d->to = n;
		d->cap = cap;
	}
	char *copy = strdup(to);
	if (copy)
		d->to[d->n++] = copy;
}

static void dir_del(const char *full, const char *to)
{
	struct dsess **pp = dir_find(full);
	struct dsess *d = *pp;
	if (d == NULL)
		return;
	for (uint32_t i = 0; i < d->n; i++) {
		if (strcmp(d->to[i], to) == 0) {
			free(d->to[i]);
			d->to[i] = d->to[--d->n];
			break;
		}
	}
	if (d->n == 0) {
		*pp = d->next;
		dsess_free(d);
	}
}

/* Unavailable (a copy of `src`, or a bare one) to every directed presence
 * recipient of `full`, but its contacts (subscription from) when the
 * broadcast just told them; forgets them all. */
static void dir_flush(const char *full, const struct stz *src, bool contacts_told)
{
	struct dsess **pp = dir_find(full);
	struct dsess *d = *pp;
	if (d == NULL)
		return;
	*pp = d->next;
	size_t flen = strlen(full), fbl = jid_bare_len(full);
	for (uint32_t i = 0; i < d->n; i++) {
		size_t tl = strlen(d->to[i]);
		if (contacts_told &&
		    (lookup_sub(mod_db_read(), full, fbl, d->to[i], jid_bare_len(d->to[i])) & SUB_FROM))
			continue;
		route_presence(src, full, flen, d->to[i], tl, "unavailable");
	}
	dsess_free(d);
}

static int on_send(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || s->h->kind != STZ_PRESENCE || a->jid == NULL)
		return XS_PASS;
	uint8_t t = s->h->type;
	if (t != STZ_T_NONE && t != STZ_T_UNAVAILABLE)
		return XS_PASS;
	/* RFC 6121 §4.6.4: a broadcast unavailable reaches everyone it sent
	 * directed presence to, also from a session that was never available
	 * (for which the core runs no broadcast). */
	if (!stz_has_to(s)) {
		struct mod_session ms; /* not from a connection a newer one replaced */
		if (t == STZ_T_UNAVAILABLE && mod_session(a->jid, &ms) == XS_OK &&
		    ms.conn == s->h->conn && !ms.available)
			dir_flush(a->jid, s, false);
		return XS_PASS;
	}
	const char *full = a->jid, *to = stz_to(s);
	size_t fbl = jid_bare_len(full), tbl = jid_bare_len(to);
	if (same(full, fbl, to, tbl))
		return XS_PASS; /* the account's own resources */
	if (t == STZ_T_UNAVAILABLE) {
		dir_del(full, to);
		return XS_PASS;
	}
	/* Contacts too: a session that is not available reaches them only so,
	 * and they must see it go (dir_flush spares them after a broadcast). */
	dir_add(full, to);
	return XS_PASS;
}

static int on_closed(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid) /* a session that was available was flushed by its broadcast */
		dir_flush(a->jid, NULL, false);
	return XS_PASS;
}

/* ------------------------------------------------------------ broadcast */

struct bcast {
	MDB_txn *t;
	const struct stz *s;
	const char *full;
	size_t flen, blen;
	bool initial;
	bool have_conn;
	uint64_t conn;
};

/* A pending inbound request delivered again to a new available resource. */
static void redeliver(struct bcast *bc, const struct item *it)
{
	if (!bc->have_conn) {
		struct mod_session ms;
		if (mod_session(bc->full, &ms) != XS_OK)
			return;
		bc->conn = ms.conn;
		bc->have_conn = true;
	}
	if (it->req_len > 0) {
		void *mem = aligned_alloc(8, (it->req_len + 7) & ~(size_t)7);
		if (mem == NULL)
			return;
		memcpy(mem, it->req, it->req_len);
		struct stz req;
		if (stz_view(&req, mem, it->req_len) == XS_OK && req.h->kind == STZ_PRESENCE &&
		    req.h->type == STZ_T_SUBSCRIBE)
			mod_deliver(&bc->conn, 1, &req);
		else
			log_warn("roster: a stored subscription request to %.*s is unreadable",
			         (int)bc->blen, bc->full);
		free(mem);
		return;
	}
	struct stz_builder *b = mod_builder(R.ctx);
	if (build_presence(b, NULL, it->jid, it->jid_len, bc->full, bc->blen, "subscribe") == XS_OK)
		mod_deliver_built(&bc->conn, 1, b);
}

static void broadcast_item(struct bcast *bc, const struct item *it)
{
	if (same(it->jid, it->jid_len, bc->full, bc->blen))
		return; /* the core handles the account's own resources */
	if (it->sub & SUB_FROM)
		route_presence(bc->s, bc->full, bc->flen, it->jid, it->jid_len, NULL);
	if (!bc->initial)
		return;
	if (it->sub & SUB_TO) {
		if (is_local_jid(it->jid, it->jid_len)) {
			char contact[BARE_MAX + 1];
			memcpy(contact, it->jid, it->jid_len);
			contact[it->jid_len] = '\0';
			probe_answer(bc->t, contact, bc->full);
		} else {
			route_presence(NULL, bc->full, bc->flen, it->jid, it->jid_len, "probe");
		}
	}
	if (it->flags & F_PENDING)
		redeliver(bc, it);
}

/* One range scan over the owner's records. */
static void broadcast_scan(struct bcast *bc)
{
	struct dbkey ok;
	MDB_cursor *cur;
	if (bc->t == NULL || bc->blen == 0 || bc->blen > BARE_MAX ||
	    dbkey_owner(&ok, bc->full, bc->blen) != XS_OK)
		return;
	int rc = mdb_cursor_open(bc->t, R.dbi, &cur);
	if (rc != 0) {
		log_error("roster: cursor: %s", mdb_strerror(rc));
		return;
	}
	MDB_val k = dbkey_val(&ok), v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && dbkey_in_range(&k, &ok);
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct item it;
		if (!dbkey_is_entry(&k, &ok))
			continue; /* the meta record */
		if (item_decode(v.mv_data, v.mv_size, &it) != XS_OK) {
			log_warn("roster: a corrupt roster record of %.*s skipped", (int)bc->blen, bc->full);
			continue;
		}
		broadcast_item(bc, &it);
	}
	mdb_cursor_close(cur);
}

static int on_broadcast(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || a->jid == NULL || s->h->kind != STZ_PRESENCE)
		return XS_PASS;
	struct bcast bc = { .t = mod_db_read(), .s = s, .full = a->jid, .flen = strlen(a->jid),
	                    .blen = jid_bare_len(a->jid),
	                    .initial = a->initial && s->h->type == STZ_T_NONE };
	broadcast_scan(&bc);
	if (s->h->type == STZ_T_UNAVAILABLE)
		dir_flush(bc.full, s, true);
	return XS_PASS;
}

/* ------------------------------------------------------------ other modules */

static int on_roster_get(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid == NULL || a->peer == NULL)
		return XS_PASS;
	uint8_t sub = lookup_sub(mod_db_read(), a->jid, strlen(a->jid), a->peer, strlen(a->peer));
	a->result = (sub & SUB_TO ? MOD_SUB_TO : 0) | (sub & SUB_FROM ? MOD_SUB_FROM : 0);
	return XS_DONE;
}

/* Contacts learn that the subscriptions are gone (their rosters follow). */
static void removed_notify(const MDB_val *key, const MDB_val *v, void *arg)
{
	(void)key;
	const char *owner = arg;
	struct item it;
	if (item_decode(v->mv_data, v->mv_size, &it) != XS_OK)
		return;
	/* A contact that saw the account's presence sees it go (RFC 6121
	 * §3.2.2): its sessions end only after this hook. */
	if (it.sub & SUB_FROM)
		send_presences(owner, it.jid, it.jid_len, true);
	if ((it.sub & SUB_TO) || (it.flags & F_ASK))
		route_sub(owner, it.jid, it.jid_len, NULL, STZ_T_UNSUBSCRIBE);
	if ((it.sub & SUB_FROM) || (it.flags & F_PENDING))
		route_sub(owner, it.jid, it.jid_len, NULL, STZ_T_UNSUBSCRIBED);
}

static int on_user_removed(struct hook_args *a, void *arg)
{
	(void)arg;
	const char *owner = a->jid;
	struct dbkey ok;
	MDB_txn *txn;
	if (owner == NULL || dbkey_owner(&ok, owner, strlen(owner)) != XS_OK || mod_db_begin(&txn) != XS_OK)
		return XS_PASS;
	size_t n = 0;
	bool good = dbkey_range_delete(txn, R.dbi, &ok, removed_notify, (void *)owner, &n) == XS_OK;
	if (!good)
		log_error("roster: deleting the roster of %s failed", owner);
	/* Nothing deleted: nothing to commit. */
	if (mod_db_end(txn, good && n > 0) == XS_OK)
		log_info("roster: the roster of %s deleted (%zu records)", owner, n);
	return XS_PASS;
}

/* ------------------------------------------------------------ jabber:iq:roster */

static int roster_get(struct iq_req *req, const char *owner, size_t olen)
{
	const struct stz *s = req->stz;
	mod_session_flags(stz_from(s), MOD_SESS_ROSTER, 0);
	const char *cver = stz_attr(s, req->payload, "ver");
	struct dbkey ok;
	MDB_txn *t = mod_db_read();
	MDB_cursor *cur;
	if (t == NULL || dbkey_owner(&ok, owner, olen) != XS_OK || mdb_cursor_open(t, R.dbi, &cur) != 0)
		return mod_iq_error(req, "internal-server-error");
	MDB_val k = dbkey_val(&ok), v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	struct meta m = { 0 };
	if (rc == 0 && dbkey_in_range(&k, &ok) && !dbkey_is_entry(&k, &ok)) {
		if (v.mv_size == META_SIZE && ((const uint8_t *)v.mv_data)[0] == META_LAYOUT) {
			m.ver = rd64((const uint8_t *)v.mv_data + 16);
			m.exists = true;
		} else {
			log_warn("roster: the roster meta record of %s is corrupt", owner);
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	char ver[24];
	ver_text(&m, ver, sizeof(ver));
	if (cver && strcmp(cver, ver) == 0) { /* §2.6.3: up to date, changes come as pushes */
		mdb_cursor_close(cur);
		return mod_iq_result_empty(req);
	}
	struct stz_builder *b = mod_iq_result_begin(req);
	int brc = stz_b_openz(b, "query", NS_ROSTER);
	if (brc == XS_OK)
		brc = stz_b_attrz(b, "ver", ver);
	for (; brc == XS_OK && rc == 0 && dbkey_is_entry(&k, &ok);
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct item it;
		if (item_decode(v.mv_data, v.mv_size, &it) != XS_OK) {
			log_warn("roster: a corrupt roster record of %s skipped", owner);
			continue;
		}
		if (it.flags & F_LISTED)
			brc = put_item(b, &it, false);
	}
	mdb_cursor_close(cur);
	if (brc == XS_OK)
		brc = stz_b_close(b);
	if (brc != XS_OK) {
		log_warn("roster: the roster of %s does not fit in one stanza", owner);
		return mod_iq_error_ext(req, "resource-constraint", "cancel", NULL, NULL,
		                        "the roster is too large to send");
	}
	return mod_iq_result_send(req);
}

/* The element's text (its first text child) and its length. */
static const char *text_of(const struct stz *s, uint32_t node, size_t *len)
{
	for (uint32_t c = stz_first_child(s, node); c != 0; c = stz_next_sibling(s, node, c)) {
		if (s->nodes[c].is_text) {
			*len = s->nodes[c].name.len;
			return stz_str(s, s->nodes[c].name);
		}
	}
	*len = 0;
	return "";
}

/* Packs the <group/>s of `item` as stored (u16 length + bytes each).
 * NULL with *cond set when the request breaks a rule of §2.3.3. */
static uint8_t *groups_pack(const struct stz *s, uint32_t item, size_t *len, uint16_t *count,
                            const char **cond)
{
	size_t cap = 1, n = 0;
	uint16_t k = 0;
	uint8_t *out = malloc(cap);
	*cond = "internal-server-error";
	if (out == NULL)
		return NULL;
	for (uint32_t c = stz_first_child(s, item); c != 0; c = stz_next_sibling(s, item, c)) {
		if (!stz_node_is(s, c, "group", NS_ROSTER))
			continue;
		size_t gl;
		const char *g = text_of(s, c, &gl);
		if (gl == 0 || gl > R.o.max_group || k >= R.o.max_groups) {
			*cond = "not-acceptable";
			goto fail;
		}
		const uint8_t *p = out;
		for (uint16_t i = 0; i < k; i++) {
			size_t l = rd16(p);
			if (same((const char *)p + 2, l, g, gl)) {
				*cond = "bad-request";
				goto fail;
			}
			p += 2 + l;
		}
		if (n + 2 + gl > cap) {
			size_t ncap = (n + 2 + gl) * 2;
			uint8_t *bigger = realloc(out, ncap);
			if (bigger == NULL)
				goto fail;
			out = bigger;
			cap = ncap;
		}
		wr16(out + n, (uint16_t)gl);
		memcpy(out + n + 2, g, gl);
		n += 2 + gl;
		k++;
	}
	*len = n;
	*count = k;
	return out;
fail:
	free(out);
	return NULL;
}

static int roster_remove(struct iq_req *req, const char *owner, size_t olen, const char *contact,
                         size_t clen)
{
	MDB_txn *txn;
	struct pair p;
	if (mod_db_begin(&txn) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	if (pair_load(&p, txn, owner, olen, contact, clen) != XS_OK) {
		mod_db_end(txn, false);
		return mod_iq_error(req, "internal-server-error");
	}
	if (!listed(&p.old, p.exists)) {
		mod_db_end(txn, false);
		return mod_iq_error(req, "item-not-found");
	}
	uint8_t sub = p.old.sub, flags = p.old.flags;
	struct item gone = { .jid = contact, .jid_len = clen };
	int rc = pair_store(&p, &gone, true);
	if (mod_db_end(txn, rc == XS_OK) != XS_OK || rc != XS_OK) {
		pair_done(&p);
		return mod_iq_error(req, "internal-server-error");
	}
	/* §2.5.2: the contact learns the subscriptions are cancelled. */
	if ((sub & SUB_TO) || (flags & F_ASK))
		route_sub(owner, contact, clen, NULL, STZ_T_UNSUBSCRIBE);
	if ((sub & SUB_FROM) || (flags & F_PENDING))
		route_sub(owner, contact, clen, NULL, STZ_T_UNSUBSCRIBED);
	if (sub & SUB_FROM)
		send_presences(owner, contact, clen, true);
	push(owner, &gone, true, &p.meta);
	pair_done(&p);
	return mod_iq_result_empty(req);
}

static int roster_set(struct iq_req *req, const char *owner, size_t olen)
{
	const struct stz *s = req->stz;
	uint32_t item = 0, nitems = 0;
	for (uint32_t c = stz_first_child(s, req->payload); c != 0;
	     c = stz_next_sibling(s, req->payload, c)) {
		if (stz_node_is(s, c, "item", NS_ROSTER)) {
			item = c;
			nitems++;
		}
	}
	if (nitems != 1)
		return mod_iq_error(req, "bad-request");
	const char *jattr = stz_attr(s, item, "jid");
	struct jid *j = malloc(sizeof(*j));
	if (j == NULL)
		return mod_iq_error(req, "internal-server-error");
	char contact[BARE_MAX + 1];
	int clen = -1;
	if (jattr && jid_parse(jattr, strlen(jattr), j) == XS_OK && j->resource[0] == '\0')
		clen = jid_bare(j, contact, sizeof(contact));
	free(j);
	if (clen <= 0)
		return mod_iq_error(req, "bad-request");
	const char *sa = stz_attr(s, item, "subscription");
	if (sa && strcmp(sa, "remove") == 0)
		return roster_remove(req, owner, olen, contact, (size_t)clen);

	const char *name = stz_attr(s, item, "name");
	size_t nlen = name ? strlen(name) : 0;
	if (nlen > R.o.max_name)
		return mod_iq_error(req, "not-acceptable");
	size_t glen;
	uint16_t ngroups;
	const char *cond;
	uint8_t *groups = groups_pack(s, item, &glen, &ngroups, &cond);
	if (groups == NULL)
		return mod_iq_error(req, cond);

	MDB_txn *txn;
	struct pair p;
	if (mod_db_begin(&txn) != XS_OK) {
		free(groups);
		return mod_iq_error(req, "internal-server-error");
	}
	if (pair_load(&p, txn, owner, olen, contact, (size_t)clen) != XS_OK) {
		mod_db_end(txn, false);
		free(groups);
		return mod_iq_error(req, "internal-server-error");
	}
	struct item nw = p.old;
	nw.flags |= F_LISTED;
	nw.name = name;
	nw.name_len = nlen;
	nw.groups = groups;
	nw.groups_len = glen;
	nw.ngroups = ngroups;
	if (creates_listed(&p, &nw) && p.meta.items >= R.o.max_items) {
		mod_db_end(txn, false);
		free(groups);
		char text[64];
		snprintf(text, sizeof(text), "the roster is full (%" PRIu32 " items)", R.o.max_items);
		return mod_iq_error_ext(req, "resource-constraint", "cancel", NULL, NULL, text);
	}
	int rc = pair_store(&p, &nw, true);
	free(groups);
	if (mod_db_end(txn, rc == XS_OK) != XS_OK || rc != XS_OK) {
		pair_done(&p);
		return mod_iq_error(req, "internal-server-error");
	}
	push(owner, &p.nw, false, &p.meta);
	pair_done(&p);
	return mod_iq_result_empty(req);
}

static int on_iq(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	if (req->preauth_conn != 0)
		return XS_PASS;
	const char *from = stz_from(s);
	size_t olen = jid_bare_len(from);
	char owner[BARE_MAX + 1];
	if (olen == 0 || olen > BARE_MAX)
		return mod_iq_error(req, "bad-request");
	memcpy(owner, from, olen);
	owner[olen] = '\0';
	/* §2.3.3: only the account itself reads or changes its roster. */
	if (stz_has_to(s) && strcmp(stz_to(s), owner) != 0)
		return mod_iq_error(req, "forbidden");
	if (!stz_node_is(s, req->payload, "query", NS_ROSTER))
		return mod_iq_error(req, "bad-request");
	if (s->h->type == STZ_T_GET)
		return roster_get(req, owner, olen);
	if (s->h->type == STZ_T_SET)
		return roster_set(req, owner, olen);
	return mod_iq_error(req, "bad-request");
}

/* ------------------------------------------------------------ options and init */

static const struct cfgopt OPTS[] = {
	CFGOPT_UINT("max_items", struct opts, max_items, 2000, 1, 100000),
	CFGOPT_UINT("max_groups", struct opts, max_groups, 32, 0, 255),
	CFGOPT_UINT("max_name_len", struct opts, max_name, 1023, 1, 4096),
	CFGOPT_UINT("max_group_len", struct opts, max_group, 1023, 1, 4096),
	CFGOPT_END
};

static int roster_init(struct mod_ctx *ctx)
{
	/* Everything but the options, which the router filled. */
	struct opts o = R.o;
	memset(&R, 0, sizeof(R));
	R.o = o;
	R.ctx = ctx;
	if (mod_db_table(ctx, "roster", 0, &R.dbi) != XS_OK)
		return XS_ERROR;
	struct {
		enum hook_id id;
		hook_fn *fn;
	} hooks[] = {
		{ HOOK_PRESENCE_BROADCAST, on_broadcast }, { HOOK_SUBSCRIPTION_OUT, on_sub_out },
		{ HOOK_SUBSCRIPTION_IN, on_sub_in },       { HOOK_PRESENCE_PROBE, on_probe },
		{ HOOK_ROSTER_GET, on_roster_get },        { HOOK_USER_REMOVED, on_user_removed },
		{ HOOK_USER_SEND_PACKET, on_send },        { HOOK_SESSION_CLOSED, on_closed },
	};
	for (size_t i = 0; i < XS_ARRAY_LEN(hooks); i++)
		if (mod_hook_add(ctx, hooks[i].id, NULL, 50, hooks[i].fn, NULL) != XS_OK)
			return XS_ERROR;
	return mod_iq_add(ctx, NULL, NS_ROSTER, on_iq, NULL);
}

static void roster_stop(struct mod_ctx *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < DIR_BUCKETS; i++) {
		while (R.dir[i]) {
			struct dsess *d = R.dir[i];
			R.dir[i] = d->next;
			dsess_free(d);
		}
	}
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "roster",
	.init = roster_init,
	.stop = roster_stop,
	.opts = OPTS,
	.conf = &R.o,
	.conf_size = sizeof(R.o),
};

/* store.c — roster records: encoding, the (owner, contact) pair changed in
 * a child transaction, the meta record and its version (store.h). */
#include "modules/roster/store.h"
#include "modules/roster/state.h"
#include "lib/log.h"
#include "router/module.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_LAYOUT   1
#define REC_HDR      20

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, sizeof(v)); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, sizeof(v)); return v; }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof(v)); }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, sizeof(v)); }

int roster_item_decode(const void *data, size_t size, struct roster_item *it)
{
	const uint8_t *p = data;
	if (size < REC_HDR || p[0] != REC_LAYOUT)
		return XS_ERROR;
	it->sub = p[1] & (SUB_TO | SUB_FROM);
	it->flags = p[2] & (F_ASK | F_PENDING | F_APPROVED | F_LISTED);
	it->jid_len = roster_rd16(p + 4);
	it->name_len = roster_rd16(p + 6);
	it->ngroups = roster_rd16(p + 8);
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

static uint8_t *item_encode(const struct roster_item *it, size_t *size)
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
	roster_wr16(p + 4, (uint16_t)it->jid_len);
	roster_wr16(p + 6, (uint16_t)it->name_len);
	roster_wr16(p + 8, it->ngroups);
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

struct roster_giter roster_groups(const struct roster_item *it)
{
	return (struct roster_giter){ .p = it->groups, .left = it->groups_len, .n = it->ngroups };
}

bool roster_group_next(struct roster_giter *g, const char **s, size_t *len)
{
	if (g->n == 0 || g->left < 2)
		return false;
	size_t l = roster_rd16(g->p);
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
bool roster_item_alive(const struct roster_item *it)
{
	return (it->flags & (F_LISTED | F_PENDING)) != 0;
}

bool roster_listed(const struct roster_item *it, bool exists)
{
	return exists && (it->flags & F_LISTED);
}

/* Whether what the roster shows of the item changed (§2.1.2). */
bool roster_visible_changed(const struct roster_item *a, bool a_exists,
                            const struct roster_item *b, bool b_exists)
{
	bool al = roster_listed(a, a_exists), bl = roster_listed(b, b_exists);
	if (al != bl)
		return true;
	if (!al)
		return false;
	return a->sub != b->sub ||
	       (a->flags & (F_ASK | F_APPROVED)) != (b->flags & (F_ASK | F_APPROVED)) ||
	       !roster_same(a->name, a->name_len, b->name, b->name_len) || a->ngroups != b->ngroups ||
	       !roster_same((const char *)a->groups, a->groups_len, (const char *)b->groups,
	                    b->groups_len);
}

int roster_meta_decode(const void *data, size_t size, struct roster_meta *m)
{
	const uint8_t *p = data;
	if (size != META_SIZE || p[0] != META_LAYOUT)
		return XS_ERROR;
	m->items = rd32(p + 4);
	m->hidden = rd32(p + 8);
	m->ver = rd64(p + 16);
	m->exists = true;
	return XS_OK;
}

static int meta_get(MDB_txn *t, const struct dbkey *ok, struct roster_meta *m)
{
	memset(m, 0, sizeof(*m));
	MDB_val k = dbkey_val(ok), v;
	int rc = mdb_get(t, roster_state.dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_OK;
	if (rc != 0) {
		log_error("roster: reading a roster version: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	if (roster_meta_decode(v.mv_data, v.mv_size, m) != XS_OK) {
		log_error("roster: a roster meta record has a bad layout (%zu bytes)", v.mv_size);
		return XS_ERROR;
	}
	return XS_OK;
}

static int meta_put(MDB_txn *t, const struct dbkey *ok, const struct roster_meta *m)
{
	uint8_t p[META_SIZE] = { META_LAYOUT };
	wr32(p + 4, m->items);
	wr32(p + 8, m->hidden);
	wr64(p + 16, m->ver);
	MDB_val k = dbkey_val(ok), v = { sizeof(p), p };
	int rc = mdb_put(t, roster_state.dbi, &k, &v, 0);
	if (rc != 0) {
		log_error("roster: writing a roster version: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

void roster_ver_text(const struct roster_meta *m, char *out, size_t cap)
{
	snprintf(out, cap, "%" PRIu64, m->exists ? m->ver : 0);
}

int roster_pair_load(struct roster_pair *p, MDB_txn *t, const char *owner, size_t olen,
                     const char *contact, size_t clen)
{
	memset(p, 0, sizeof(*p));
	p->t = t;
	p->contact = contact;
	p->clen = clen;
	if (clen == 0 || clen > BARE_MAX || dbkey_owner(&p->ok, owner, olen) != XS_OK ||
	    dbkey_item(&p->ik, &p->ok, contact, clen) != XS_OK || meta_get(t, &p->ok, &p->meta) != XS_OK)
		return XS_ERROR;
	MDB_val k = dbkey_val(&p->ik), v;
	int rc = mdb_get(t, roster_state.dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		p->old = (struct roster_item){ .jid = contact, .jid_len = clen };
		return XS_OK;
	}
	if (rc != 0) {
		log_error("roster: reading an item: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	if (roster_item_decode(v.mv_data, v.mv_size, &p->old) != XS_OK ||
	    !roster_same(p->old.jid, p->old.jid_len, contact, clen)) {
		log_error("roster: a roster record of %.*s is corrupt or collides", (int)olen, owner);
		return XS_ERROR;
	}
	p->exists = true;
	return XS_OK;
}

/* Writes `nw` (deleted when it is no longer alive) and the meta; `bump`:
 * the visible roster changed, so its version moves. */
int roster_pair_store(struct roster_pair *p, const struct roster_item *nw, bool bump)
{
	struct roster_meta m = p->meta;
	if (p->exists) {
		uint32_t *c = (p->old.flags & F_LISTED) ? &m.items : &m.hidden;
		if (*c > 0)
			(*c)--;
	}
	bool keep = roster_item_alive(nw);
	MDB_val k = dbkey_val(&p->ik);
	int rc = 0;
	if (keep) {
		size_t n;
		uint8_t *buf = item_encode(nw, &n); /* before the put: nw may point into the db */
		if (buf == NULL)
			return XS_ERROR;
		MDB_val v = { n, buf };
		rc = mdb_put(p->t, roster_state.dbi, &k, &v, 0);
		free(p->buf);
		p->buf = buf;
		if (rc == 0 && roster_item_decode(buf, n, &p->nw) != XS_OK)
			return XS_ERROR;
		p->nw_exists = rc == 0;
		if (nw->flags & F_LISTED)
			m.items++;
		else
			m.hidden++;
	} else if (p->exists) {
		rc = mdb_del(p->t, roster_state.dbi, &k, NULL);
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

void roster_pair_done(struct roster_pair *p)
{
	free(p->buf);
	p->buf = NULL;
}

/* The subscription bits `owner` gives `contact` (0 when none or unreadable). */
uint8_t roster_lookup_sub(MDB_txn *t, const char *owner, size_t olen, const char *contact,
                          size_t clen)
{
	struct dbkey ok, ik;
	if (t == NULL || clen == 0 || clen > BARE_MAX || dbkey_owner(&ok, owner, olen) != XS_OK ||
	    dbkey_item(&ik, &ok, contact, clen) != XS_OK)
		return 0;
	MDB_val k = dbkey_val(&ik), v;
	struct roster_item it;
	if (mdb_get(t, roster_state.dbi, &k, &v) != 0 ||
	    roster_item_decode(v.mv_data, v.mv_size, &it) != XS_OK ||
	    !roster_same(it.jid, it.jid_len, contact, clen))
		return 0;
	return it.sub;
}

bool roster_creates_listed(const struct roster_pair *p, const struct roster_item *nw)
{
	return !roster_listed(&p->old, p->exists) && (nw->flags & F_LISTED);
}

/* broadcast.c — presence broadcast to contacts and probe answers
 * (broadcast.h). */
#include "modules/roster/broadcast.h"
#include "modules/roster/directed.h"
#include "modules/roster/outbound.h"
#include "modules/roster/state.h"
#include "modules/roster/store.h"
#include "lib/jid.h"
#include "lib/log.h"

#include <stdlib.h>
#include <string.h>

/* Answers a probe of `owner` (bare) by `prober` (full or bare) when the
 * prober may see the owner's presence (§4.3.2). */
static void probe_answer(MDB_txn *t, const char *owner, const char *prober)
{
	size_t olen = strlen(owner), pbl = jid_bare_len(prober);
	if (!roster_same(owner, olen, prober, pbl) &&
	    !(roster_lookup_sub(t, owner, olen, prober, pbl) & SUB_FROM))
		return;
	presence_send_all(owner, prober, strlen(prober), false);
}

int broadcast_on_probe(struct hook_args *a, void *arg)
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
static void redeliver(struct bcast *bc, const struct roster_item *it)
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
	struct stz_builder *b = mod_builder(roster_state.ctx);
	if (presence_build(b, NULL, it->jid, it->jid_len, bc->full, bc->blen, "subscribe") == XS_OK)
		mod_deliver_built(&bc->conn, 1, b);
}

static void broadcast_item(struct bcast *bc, const struct roster_item *it)
{
	if (roster_same(it->jid, it->jid_len, bc->full, bc->blen))
		return; /* the core handles the account's own resources */
	if (it->sub & SUB_FROM)
		presence_route(bc->s, bc->full, bc->flen, it->jid, it->jid_len, NULL);
	if (!bc->initial)
		return;
	if (it->sub & SUB_TO) {
		if (is_local_jid(it->jid, it->jid_len)) {
			char contact[BARE_MAX + 1];
			memcpy(contact, it->jid, it->jid_len);
			contact[it->jid_len] = '\0';
			probe_answer(bc->t, contact, bc->full);
		} else {
			presence_route(NULL, bc->full, bc->flen, it->jid, it->jid_len, "probe");
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
	int rc = mdb_cursor_open(bc->t, roster_state.dbi, &cur);
	if (rc != 0) {
		log_error("roster: cursor: %s", mdb_strerror(rc));
		return;
	}
	MDB_val k = dbkey_val(&ok), v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && dbkey_in_range(&k, &ok);
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct roster_item it;
		if (!dbkey_is_entry(&k, &ok))
			continue; /* the meta record */
		if (roster_item_decode(v.mv_data, v.mv_size, &it) != XS_OK) {
			log_warn("roster: a corrupt roster record of %.*s skipped", (int)bc->blen, bc->full);
			continue;
		}
		broadcast_item(bc, &it);
	}
	mdb_cursor_close(cur);
}

int broadcast_on_presence(struct hook_args *a, void *arg)
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
		directed_flush(bc.full, s, true);
	return XS_PASS;
}

/* route.c — where a stanza goes (RFC 6120 §10, RFC 6121 §8).
 *
 * Everything the router routes passes route_stanza(): stanzas of local users
 * (from the up rings, `from` stamped by the worker, `to` already prepared)
 * and stanzas the router or its modules make. */
#include "router/router.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

#include <stdlib.h>
#include <string.h>

/* A prepared JID split in place, and its bare form copied out. */
struct jref {
	const char *node, *domain, *resource;
	size_t nlen, dlen, rlen;
	char bare[JID_MAX + 1];
};

static void split(const char *j, struct jref *r)
{
	const char *slash = strchr(j, '/');
	size_t head = slash ? (size_t)(slash - j) : strlen(j);
	const char *at = memchr(j, '@', head);
	r->node = j;
	r->nlen = at ? (size_t)(at - j) : 0;
	r->domain = at ? at + 1 : j;
	r->dlen = head - (size_t)(r->domain - j);
	r->resource = slash ? slash + 1 : "";
	r->rlen = slash ? strlen(slash + 1) : 0;
	size_t bl = head < sizeof(r->bare) ? head : sizeof(r->bare) - 1;
	memcpy(r->bare, j, bl);
	r->bare[bl] = '\0';
}

bool route_is_local(const char *domain, size_t len)
{
	const struct cfg *cfg = router_cfg();
	for (size_t i = 0; i < cfg->nhosts; i++)
		if (strlen(cfg->hosts[i]) == len && memcmp(cfg->hosts[i], domain, len) == 0)
			return true;
	return false;
}

static const char *local_host(const char *domain, size_t len)
{
	const struct cfg *cfg = router_cfg();
	for (size_t i = 0; i < cfg->nhosts; i++)
		if (strlen(cfg->hosts[i]) == len && memcmp(cfg->hosts[i], domain, len) == 0)
			return cfg->hosts[i];
	return cfg->hosts[0];
}

void route_deliver(const uint64_t *conns, uint32_t n, const struct stz *s)
{
	if (hooks_any(HOOK_USER_RECEIVE_PACKET)) {
		struct hook_args a = { .stz = s, .jid = stz_to(s) };
		if (hooks_run(HOOK_USER_RECEIVE_PACKET, &a) == XS_DROP)
			return;
	}
	/* One record per worker, listing that worker's recipients. */
	uint64_t local[64];
	const struct cfg *cfg = router_cfg();
	for (unsigned w = 0; w < cfg->workers; w++) {
		uint32_t k = 0;
		for (uint32_t i = 0; i < n; i++) {
			if (conn_id_worker(conns[i]) != w)
				continue;
			if (k == XS_ARRAY_LEN(local)) {
				log_warn("more than %zu recipients on one worker; rest dropped",
				         XS_ARRAY_LEN(local));
				break;
			}
			local[k++] = conns[i];
		}
		if (k == 0)
			continue;
		struct {
			struct msg_deliver d;
			uint64_t c[XS_ARRAY_LEN(local)];
		} head;
		head.d.nconns = k;
		head.d.pad = 0;
		memcpy(head.c, local, k * sizeof(uint64_t));
		router_down(w, MSG_DOWN_DELIVER, &head, (uint32_t)(sizeof(head.d) + k * sizeof(uint64_t)),
		            s->h, s->h->size);
	}
}

int route_built(struct stz_builder *b)
{
	size_t n = stz_b_size(b);
	if (n == 0)
		return XS_ERROR;
	void *mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	if (mem == NULL)
		return XS_ERROR;
	stz_b_write(b, mem, 0);
	struct stz s;
	int rc = stz_view(&s, mem, n);
	if (rc == XS_OK)
		route_stanza(&s);
	free(mem);
	return rc;
}

void route_error(const struct stz *s, const char *condition)
{
	if (!xmpp_may_answer_error(s))
		return;
	static struct stz_builder b;
	if (b.limit == 0)
		stz_b_init(&b, 4 * router_cfg()->max_stanza_size + 4096);
	const char *server = router_cfg()->hosts[0];
	if (xmpp_error_reply(&b, s, server, condition) != XS_OK) {
		log_warn("cannot build %s error for a stanza from %s", condition, stz_from(s));
		return;
	}
	route_built(&b);
}

/* ---- sessions of one account */

struct pick {
	uint64_t conns[64];
	uint32_t n;
	int32_t best;
	enum { PICK_ALL, PICK_AVAILABLE, PICK_NONNEG, PICK_BEST } mode;
};

static bool pick_visit(const char *full, const struct sess_rec *r, void *arg)
{
	(void)full;
	struct pick *p = arg;
	if (p->mode != PICK_ALL && !r->available)
		return true;
	if ((p->mode == PICK_NONNEG || p->mode == PICK_BEST) && r->priority < 0)
		return true;
	if (p->mode == PICK_BEST) {
		if (p->n > 0 && r->priority < p->best)
			return true;
		if (p->n == 0 || r->priority > p->best) {
			p->n = 0;
			p->best = r->priority;
		}
	}
	if (p->n < XS_ARRAY_LEN(p->conns))
		p->conns[p->n++] = r->conn;
	return true;
}

static uint32_t pick(const char *bare, int mode, struct pick *p)
{
	p->n = 0;
	p->best = 0;
	p->mode = mode;
	sess_foreach(bare, pick_visit, p);
	return p->n;
}

/* ---- messages */

static void message_bare(const struct stz *s, const struct jref *to)
{
	struct pick p;
	uint8_t t = s->h->type;
	if (t == STZ_T_GROUPCHAT) {
		route_error(s, "service-unavailable");
		return;
	}
	if (t == STZ_T_ERROR) {
		if (pick(to->bare, PICK_BEST, &p))
			route_deliver(p.conns, p.n, s);
		return;
	}
	if (pick(to->bare, t == STZ_T_HEADLINE ? PICK_NONNEG : PICK_BEST, &p)) {
		route_deliver(p.conns, p.n, s);
		return;
	}
	struct hook_args a = { .stz = s, .host = local_host(to->domain, to->dlen), .jid = to->bare };
	if (hooks_any(HOOK_OFFLINE_MESSAGE) && hooks_run(HOOK_OFFLINE_MESSAGE, &a) != XS_PASS)
		return;
	if (t != STZ_T_HEADLINE)
		route_error(s, "service-unavailable");
}

static void message(const struct stz *s, const struct jref *to, const char *to_full)
{
	if (to->nlen == 0) { /* to the server itself: nothing handles messages yet */
		route_error(s, "service-unavailable");
		return;
	}
	if (to->rlen > 0) {
		struct sess_rec r;
		if (sess_get(to_full, &r) == XS_OK) {
			route_deliver(&r.conn, 1, s);
			return;
		}
		if (s->h->type == STZ_T_GROUPCHAT) {
			route_error(s, "service-unavailable");
			return;
		}
	}
	message_bare(s, to);
}

/* ---- IQs */

static void iq(const struct stz *s, const struct jref *to, const char *to_full)
{
	uint8_t t = s->h->type;
	bool request = t == STZ_T_GET || t == STZ_T_SET;
	if (to->rlen > 0 && to->nlen > 0) {
		struct sess_rec r;
		if (sess_get(to_full, &r) == XS_OK)
			route_deliver(&r.conn, 1, s);
		else if (request)
			route_error(s, "service-unavailable");
		return;
	}
	if (!request)
		return; /* results and errors for the server or an account end here */
	if (iq_dispatch(s, local_host(to->domain, to->dlen)) != XS_DONE)
		route_error(s, "service-unavailable");
}

/* ---- presence */

static int32_t presence_priority(const struct stz *s)
{
	uint32_t n = stz_child(s, 0, "priority", STZ_NS_CLIENT);
	if (n == 0)
		return 0;
	long v = strtol(stz_text(s, n), NULL, 10);
	return v < -128 ? -128 : v > 127 ? 127 : (int32_t)v;
}

struct own {
	const char *self;
	uint64_t conn;
};

/* Sends another available resource's presence to a newly available one. */
static bool send_own(const char *full, const struct sess_rec *r, void *arg)
{
	struct own *o = arg;
	struct stz p;
	if (r->available && strcmp(full, o->self) != 0 && sess_presence_get(full, &p) == XS_OK)
		route_deliver(&o->conn, 1, &p);
	return true;
}

/* Presence without 'to': the user's own availability. */
static void presence_broadcast(const struct stz *s)
{
	uint8_t t = s->h->type;
	if (t != STZ_T_NONE && t != STZ_T_UNAVAILABLE)
		return;
	const char *from = stz_from(s);
	struct sess_rec r;
	if (sess_get(from, &r) != XS_OK)
		return;
	bool available = t == STZ_T_NONE;
	bool initial = available && !r.available;
	sess_set_presence(from, available, available ? presence_priority(s) : 0);
	if (available)
		sess_presence_put(from, s);
	else
		sess_presence_del(from);
	/* RFC 6121 §4.2.2: the user's available resources see it too, and a
	 * resource that just became available learns about the others (a user
	 * is implicitly subscribed to its own presence). */
	struct jref f;
	split(from, &f);
	struct pick p;
	if (pick(f.bare, PICK_AVAILABLE, &p))
		route_deliver(p.conns, p.n, s);
	if (initial) {
		struct own o = { .self = from, .conn = r.conn };
		sess_foreach(f.bare, send_own, &o);
	}
	if (!available)
		route_deliver(&r.conn, 1, s);
}

static void presence(const struct stz *s, const struct jref *to, const char *to_full)
{
	if (to->nlen == 0)
		return; /* directed presence to a server: nothing to track yet */
	if (s->h->type == STZ_T_PROBE) {
		struct hook_args a = { .stz = s, .host = local_host(to->domain, to->dlen), .jid = to->bare };
		hooks_run(HOOK_PRESENCE_PROBE, &a);
		return;
	}
	if (to->rlen > 0) {
		struct sess_rec r;
		if (sess_get(to_full, &r) == XS_OK)
			route_deliver(&r.conn, 1, s);
		return;
	}
	struct pick p;
	if (pick(to->bare, PICK_AVAILABLE, &p))
		route_deliver(p.conns, p.n, s);
}

void route_stanza(const struct stz *s)
{
	if (hooks_any(HOOK_FILTER_PACKET)) {
		struct hook_args a = { .stz = s };
		if (hooks_run(HOOK_FILTER_PACKET, &a) == XS_DROP)
			return;
	}
	const char *to = stz_to(s);
	if (*to == '\0') {
		/* No 'to': the sender's own account (RFC 6120 §10.3). */
		if (s->h->kind == STZ_PRESENCE) {
			presence_broadcast(s);
			return;
		}
		struct jref f;
		split(stz_from(s), &f);
		f.resource = "";
		f.rlen = 0;
		if (s->h->kind == STZ_IQ)
			iq(s, &f, f.bare);
		else if (s->h->kind == STZ_MESSAGE)
			message(s, &f, f.bare);
		return;
	}
	struct jref t;
	split(to, &t);
	if (!route_is_local(t.domain, t.dlen)) {
		/* No components or server-to-server yet. */
		if (s->h->kind != STZ_PRESENCE)
			route_error(s, "remote-server-not-found");
		return;
	}
	switch (s->h->kind) {
	case STZ_MESSAGE:
		message(s, &t, to);
		break;
	case STZ_IQ:
		iq(s, &t, to);
		break;
	case STZ_PRESENCE:
		presence(s, &t, to);
		break;
	default:
		break;
	}
}

void route_session_gone(const char *full, uint64_t conn)
{
	struct sess_rec r;
	if (sess_get(full, &r) != XS_OK || r.conn != conn)
		return; /* replaced by a newer session: nothing left to do */
	bool was_available = r.available;
	if (sess_unbind(full, conn) != XS_OK)
		return;
	struct hook_args a = { .jid = full };
	hooks_run(HOOK_SESSION_CLOSED, &a);
	if (!was_available)
		return;
	/* Tell the account's remaining resources (contacts come with rosters). */
	static struct stz_builder b;
	if (b.limit == 0)
		stz_b_init(&b, 4096);
	stz_b_reset(&b);
	if (stz_b_openz(&b, "presence", STZ_NS_CLIENT) != XS_OK ||
	    stz_b_attrz(&b, "from", full) != XS_OK || stz_b_attrz(&b, "type", "unavailable") != XS_OK ||
	    stz_b_close(&b) != XS_OK)
		return;
	size_t n = stz_b_size(&b);
	void *mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	if (mem == NULL)
		return;
	stz_b_write(&b, mem, 0);
	struct stz s;
	struct jref f;
	split(full, &f);
	struct pick p;
	if (stz_view(&s, mem, n) == XS_OK && pick(f.bare, PICK_AVAILABLE, &p))
		route_deliver(p.conns, p.n, &s);
	free(mem);
}

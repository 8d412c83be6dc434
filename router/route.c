/* route.c — the routing core (router/route.h). */
#include "router/route.h"
#include "router/down.h"
#include "router/registry.h"
#include "router/routes.h"
#include "router/sessions.h"
#include "router/state.h"
#include "router/trace.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

#include <inttypes.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define DELIVER_MAX 256 /* connections listed in one delivery record */

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

/* The local host a domain names (NUL-terminated), else the first host. */
static const char *local_host(const char *domain, size_t len)
{
	const struct route *r = routes_find(domain, len);
	return r && r->rec.kind == ROUTE_LOCAL ? r->domain : router_cfg()->hosts[0];
}

/* ---- the queue: what is routed while something else is being routed.
 *
 * A hook or an IQ handler that routes a stanza, delivers one or kicks a
 * session does not re-enter the router (and the modules) at once: the work
 * is queued and runs once the current stanza is done, in the order it was
 * asked for.  What one piece of work asks for runs before work queued
 * earlier by others (depth first, as a direct call would), so a result
 * routed before a kick reaches the client before the kick.  A delivery with
 * nothing queued ahead of it goes straight out (the common case: no copy). */

enum qkind { Q_ROUTE, Q_DELIVER, Q_DELIVER_EACH, Q_KICK };

struct qitem {
	struct qitem *next;
	enum qkind kind;
	uint32_t nconns;
	uint32_t reason;
	bool hooks;              /* Q_DELIVER: run HOOK_USER_RECEIVE_PACKET (a user's session) */
	uint64_t kick;
	/* Q_ROUTE: the stanza; Q_DELIVER: conns then the stanza; Q_DELIVER_EACH:
	 * conns, the stanza (8-byte aligned), then the recipients' JIDs, each
	 * NUL-terminated */
	alignas(8) char data[];
};

static struct {
	struct qitem *head, *tail;   /* waiting */
	struct qitem *lhead, *ltail; /* asked for by the work running now */
	unsigned depth;              /* > 0: inside routing */
	const char *preauth_host;    /* the stream host of the pre-auth request running */
} work;

static void enqueue(struct qitem *q)
{
	q->next = NULL;
	if (work.ltail)
		work.ltail->next = q;
	else
		work.lhead = q;
	work.ltail = q;
}

/* What the finished work asked for goes first. */
static void splice(void)
{
	if (work.lhead == NULL)
		return;
	work.ltail->next = work.head;
	work.head = work.lhead;
	if (work.tail == NULL)
		work.tail = work.ltail;
	work.lhead = work.ltail = NULL;
}

static struct qitem *qitem_new(enum qkind kind, size_t extra)
{
	struct qitem *q = malloc(sizeof(*q) + extra);
	if (q == NULL) {
		log_error("out of memory queueing a stanza; dropped");
		return NULL;
	}
	memset(q, 0, sizeof(*q));
	q->kind = kind;
	return q;
}

static void route_one(const struct stz *s);
static void deliver_now(const uint64_t *conns, uint32_t n, const struct stz *s, bool hooks);
static void deliver_each_now(const struct mod_recipient *to, uint32_t n, const struct stz *s);
static void deliver_each_item(const struct qitem *q);

static void kick_now(uint64_t conn, uint32_t reason)
{
	struct msg_kick k = { .conn = conn, .reason = reason };
	down_send(conn_id_worker(conn), MSG_DOWN_KICK, &k, sizeof(k), NULL, 0);
}

static void run_item(struct qitem *q)
{
	struct stz s;
	switch (q->kind) {
	case Q_ROUTE:
		if (stz_view(&s, q->data, ((const struct stz_hdr *)q->data)->size) == XS_OK)
			route_one(&s);
		break;
	case Q_DELIVER: {
		size_t off = (size_t)q->nconns * sizeof(uint64_t);
		if (stz_view(&s, q->data + off, ((const struct stz_hdr *)(q->data + off))->size) == XS_OK)
			deliver_now((const uint64_t *)q->data, q->nconns, &s, q->hooks);
		break;
	}
	case Q_DELIVER_EACH:
		deliver_each_item(q);
		break;
	case Q_KICK:
		kick_now(q->kick, q->reason);
		break;
	}
}

void route_enter(void)
{
	work.depth++;
}

void route_leave(void)
{
	if (work.depth > 1) {
		work.depth--;
		return;
	}
	splice();
	while (work.head) {
		struct qitem *q = work.head;
		work.head = q->next;
		if (work.head == NULL)
			work.tail = NULL;
		run_item(q);
		free(q);
		splice();
	}
	work.depth = 0;
	route_trace_set(0);
}

void route_stanza(const struct stz *s)
{
	if (work.depth > 0) {
		struct qitem *q = qitem_new(Q_ROUTE, s->h->size);
		if (q == NULL)
			return;
		memcpy(q->data, s->h, s->h->size);
		/* What a traced stanza causes is traced under its id. */
		if (s->h->trace == 0)
			((struct stz_hdr *)q->data)->trace = route_trace();
		enqueue(q);
		return;
	}
	route_enter();
	route_one(s);
	route_leave();
}

static void route_one_as(const struct stz *s, uint64_t trace);

void route_now(const struct stz *s)
{
	route_one_as(s, route_trace()); /* the id its send hooks were traced under */
}

/* hooks: the recipients are users' sessions (HOOK_USER_RECEIVE_PACKET
 * runs), not a component's or a remote server's connection. */
static void deliver(const uint64_t *conns, uint32_t n, const struct stz *s, bool hooks)
{
	if (n == 0)
		return;
	if (work.lhead == NULL) {
		deliver_now(conns, n, s, hooks);
		return;
	}
	size_t off = (size_t)n * sizeof(uint64_t);
	struct qitem *q = qitem_new(Q_DELIVER, off + s->h->size);
	if (q == NULL)
		return;
	q->nconns = n;
	q->hooks = hooks;
	memcpy(q->data, conns, off);
	memcpy(q->data + off, s->h, s->h->size);
	/* Traced (or not) as the work that asked for it. */
	((struct stz_hdr *)(q->data + off))->trace = s->h->trace ? s->h->trace : route_trace();
	enqueue(q);
}

void route_deliver(const uint64_t *conns, uint32_t n, const struct stz *s)
{
	deliver(conns, n, s, true);
}

void route_deliver_each(const struct mod_recipient *to, uint32_t n, const struct stz *s)
{
	if (n == 0)
		return;
	if (work.lhead == NULL) {
		deliver_each_now(to, n, s);
		return;
	}
	size_t off = (size_t)n * sizeof(uint64_t), size = ((size_t)s->h->size + 7) & ~(size_t)7;
	size_t jids = 0;
	for (uint32_t i = 0; i < n; i++)
		jids += strlen(to[i].full) + 1;
	struct qitem *q = qitem_new(Q_DELIVER_EACH, off + size + jids);
	if (q == NULL)
		return;
	q->nconns = n;
	char *j = q->data + off + size;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(q->data + i * sizeof(uint64_t), &to[i].conn, sizeof(uint64_t));
		size_t l = strlen(to[i].full) + 1;
		memcpy(j, to[i].full, l);
		j += l;
	}
	memcpy(q->data + off, s->h, s->h->size);
	((struct stz_hdr *)(q->data + off))->trace = s->h->trace ? s->h->trace : route_trace();
	enqueue(q);
}

static void deliver_each_item(const struct qitem *q)
{
	size_t off = (size_t)q->nconns * sizeof(uint64_t);
	const struct stz_hdr *h = (const struct stz_hdr *)(q->data + off);
	struct stz s;
	struct mod_recipient *to = malloc((size_t)q->nconns * sizeof(*to));
	if (to == NULL || stz_view(&s, q->data + off, h->size) != XS_OK) {
		free(to);
		return;
	}
	const char *j = q->data + off + (((size_t)h->size + 7) & ~(size_t)7);
	for (uint32_t i = 0; i < q->nconns; i++) {
		memcpy(&to[i].conn, q->data + i * sizeof(uint64_t), sizeof(uint64_t));
		to[i].full = j;
		j += strlen(j) + 1;
	}
	deliver_each_now(to, q->nconns, &s);
	free(to);
}

void route_kick(uint64_t conn, uint32_t reason)
{
	if (work.lhead == NULL) {
		kick_now(conn, reason);
		return;
	}
	struct qitem *q = qitem_new(Q_KICK, 0);
	if (q == NULL)
		return;
	q->kick = conn;
	q->reason = reason;
	enqueue(q);
}

static void deliver_records(const uint64_t *conns, uint32_t n, const struct stz *s, bool hooks);
static void deliver_each_records(const struct mod_recipient *to, uint32_t n,
                                 const struct stz *s);

/* s with the trace id `id` (a copy, in memory the caller frees), or NULL. */
static void *with_trace(const struct stz *s, uint64_t id, struct stz *out)
{
	char *copy = aligned_alloc(8, ((size_t)s->h->size + 7) & ~(size_t)7);
	if (copy == NULL)
		return NULL;
	memcpy(copy, s->h, s->h->size);
	((struct stz_hdr *)copy)->trace = id;
	if (stz_view(out, copy, s->h->size) != XS_OK) {
		free(copy);
		return NULL;
	}
	return copy;
}

static void deliver_each_now(const struct mod_recipient *to, uint32_t n, const struct stz *s)
{
	uint64_t id = s->h->trace ? s->h->trace : route_trace();
	if (id == 0 || s->h->trace == id) {
		deliver_each_records(to, n, s);
		return;
	}
	struct stz t;
	void *copy = with_trace(s, id, &t);
	if (copy)
		deliver_each_records(to, n, &t);
	free(copy);
}

/* A traced delivery is logged and carries its id to the worker, which logs
 * the write. */
static void deliver_now(const uint64_t *conns, uint32_t n, const struct stz *s, bool hooks)
{
	uint64_t id = s->h->trace ? s->h->trace : route_trace();
	if (id == 0) {
		deliver_records(conns, n, s, hooks);
		return;
	}
	log_trace("%016" PRIx64 " deliver %s type=%s to %s: %u connection(s), first %016" PRIx64, id,
	          stz_str(s, s->nodes[0].name), s->h->type ? stz_type_name(s->h->type) : "-",
	          stz_has_to(s) ? stz_to(s) : "-", n, conns[0]);
	if (s->h->trace == id) {
		deliver_records(conns, n, s, hooks);
		return;
	}
	struct stz t;
	void *copy = with_trace(s, id, &t);
	if (copy)
		deliver_records(conns, n, &t, hooks);
	free(copy);
}

/* The records of one fan-out to one worker: recipients are added in
 * order, and a record goes down when it lists DELIVER_MAX of them or when
 * the worker's list ends. */
struct fanout {
	struct msg_deliver d;
	uint64_t c[DELIVER_MAX];
};

static void fanout_flush(struct fanout *f, unsigned w, const struct stz *s)
{
	if (f->d.nconns == 0)
		return;
	down_send(w, MSG_DOWN_DELIVER, f, (uint32_t)(sizeof(f->d) + f->d.nconns * sizeof(uint64_t)),
	          s->h, s->h->size);
	f->d.nconns = 0;
}

static void fanout_add(struct fanout *f, unsigned w, const struct stz *s, uint64_t conn)
{
	f->c[f->d.nconns++] = conn;
	if (f->d.nconns == DELIVER_MAX)
		fanout_flush(f, w, s);
}

static void deliver_records(const uint64_t *conns, uint32_t n, const struct stz *s, bool hooks)
{
	if (hooks && hooks_any(HOOK_USER_RECEIVE_PACKET)) {
		struct hook_args a = { .stz = s, .jid = stz_to(s), .conns = conns, .nconns = n };
		if (hooks_run(HOOK_USER_RECEIVE_PACKET, &a) == XS_DROP)
			return;
	}
	/* One record per worker, listing that worker's recipients. */
	const struct cfg *cfg = router_cfg();
	struct fanout f = { .d = { .nconns = 0, .flags = 0 } };
	for (unsigned w = 0; w < cfg->workers; w++) {
		for (uint32_t i = 0; i < n; i++)
			if (conn_id_worker(conns[i]) == w)
				fanout_add(&f, w, s, conns[i]);
		fanout_flush(&f, w, s);
	}
}

/* One record per worker, with each recipient's own 'to' stamped by the
 * worker; the receive hooks run per recipient. */
static void deliver_each_records(const struct mod_recipient *to, uint32_t n, const struct stz *s)
{
	bool hooks = hooks_any(HOOK_USER_RECEIVE_PACKET);
	const struct cfg *cfg = router_cfg();
	struct fanout f = { .d = { .nconns = 0, .flags = MSG_DELIVER_STAMP_TO } };
	for (unsigned w = 0; w < cfg->workers; w++) {
		for (uint32_t i = 0; i < n; i++) {
			if (conn_id_worker(to[i].conn) != w)
				continue;
			if (hooks) {
				struct hook_args a = { .stz = s, .jid = to[i].full, .conns = &to[i].conn,
				                       .nconns = 1 };
				if (hooks_run(HOOK_USER_RECEIVE_PACKET, &a) == XS_DROP)
					continue;
			}
			fanout_add(&f, w, s, to[i].conn);
		}
		fanout_flush(&f, w, s);
	}
}

/* The builder's stanza, encoded into memory the caller frees (NULL when the
 * builder failed or memory ran out); it carries the current trace id. */
static void *encode(struct stz_builder *b, struct stz *out)
{
	size_t n = stz_b_size(b);
	void *mem = n ? aligned_alloc(8, (n + 7) & ~(size_t)7) : NULL;
	if (mem == NULL)
		return NULL;
	stz_b_write(b, mem, 0);
	((struct stz_hdr *)mem)->trace = route_trace(); /* an answer follows its cause */
	if (stz_view(out, mem, n) != XS_OK) {
		free(mem);
		return NULL;
	}
	return mem;
}

int route_built(struct stz_builder *b)
{
	if (work.depth > 0) { /* queued: encode straight into the queue item */
		size_t n = stz_b_size(b);
		struct qitem *q = n ? qitem_new(Q_ROUTE, n) : NULL;
		if (q == NULL)
			return XS_ERROR;
		stz_b_write(b, q->data, 0);
		((struct stz_hdr *)q->data)->trace = route_trace(); /* an answer follows its cause */
		enqueue(q);
		return XS_OK;
	}
	struct stz s;
	void *mem = encode(b, &s);
	if (mem == NULL)
		return XS_ERROR;
	route_stanza(&s);
	free(mem);
	return XS_OK;
}

int route_deliver_built(const uint64_t *conns, uint32_t n, struct stz_builder *b)
{
	struct stz s;
	void *mem = encode(b, &s);
	if (mem == NULL)
		return XS_ERROR;
	route_deliver(conns, n, &s);
	free(mem);
	return XS_OK;
}

int route_deliver_each_built(const struct mod_recipient *to, uint32_t n, struct stz_builder *b)
{
	struct stz s;
	void *mem = encode(b, &s);
	if (mem == NULL)
		return XS_ERROR;
	route_deliver_each(to, n, &s);
	free(mem);
	return XS_OK;
}

/* An error reply for a connection that has no session yet goes to it directly. */
static int send_built(struct stz_builder *b, uint64_t preauth_conn)
{
	return preauth_conn ? route_deliver_built(&preauth_conn, 1, b) : route_built(b);
}

int route_send(struct stz_builder *b, uint64_t preauth_conn)
{
	return send_built(b, preauth_conn);
}

/* The error RFC 6120 §8.3 prescribes for s, from s's 'to' (or, for a stanza
 * without one, the sender's account or the host), echoing s's children
 * unless they may hold secrets. */
static int error_reply(const struct stz *s, const char *condition, const char *type,
                       const char *app, const char *app_ns, const char *text, bool echo)
{
	if (!xmpp_may_answer_error(s))
		return XS_PASS;
	static struct stz_builder b;
	if (b.limit == 0)
		stz_b_init(&b, router_cfg()->max_encoded);
	char bare[JID_MAX + 1];
	const char *server = work.preauth_host ? work.preauth_host
	                     : xmpp_from_account(s, bare, sizeof(bare)) >= 0 ? bare
	                     : router_cfg()->hosts[0];
	int rc = echo ? xmpp_error_reply_ext(&b, s, server, condition, type, app, app_ns, text)
	              : xmpp_error_reply_bare(&b, s, server, condition, text);
	if (rc != XS_OK) {
		log_warn("cannot build %s error for a stanza from %s", condition, stz_from(s));
		return XS_ERROR;
	}
	/* No 'from': a connection that has not authenticated yet. */
	return send_built(&b, s->h->from.len == 0 ? s->h->conn : 0);
}

int route_error_ext(const struct stz *s, const char *condition, const char *type,
                    const char *app, const char *app_ns, const char *text)
{
	return error_reply(s, condition, type, app, app_ns, text, true);
}

int route_error_private(const struct stz *s, const char *condition, const char *text)
{
	return error_reply(s, condition, NULL, NULL, NULL, text, false);
}

void route_error(const struct stz *s, const char *condition)
{
	route_error_ext(s, condition, NULL, NULL, NULL, NULL);
}

/* ---- sessions of one account */

struct pick {
	uint64_t conns[DELIVER_MAX];
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

/* ---- messages (RFC 6121 §8.5) */

static void delivered(const struct stz *s, const char *bare, const uint64_t *conns, uint32_t n)
{
	route_deliver(conns, n, s);
	if (hooks_any(HOOK_MESSAGE_DELIVERED)) {
		struct hook_args a = { .stz = s, .jid = bare, .conns = conns, .nconns = n };
		hooks_run(HOOK_MESSAGE_DELIVERED, &a);
	}
}

static void message_bare(const struct stz *s, const struct jref *to)
{
	struct pick p;
	uint8_t t = s->h->type;
	if (t == STZ_T_GROUPCHAT) {
		route_error(s, "service-unavailable");
		return;
	}
	if (t == STZ_T_ERROR)
		return; /* §8.5.2.1.1: silently ignored */
	/* §8.5.2.1.1: the resources of highest non-negative priority (all of
	 * them when they tie); headline: every non-negative one. */
	if (pick(to->bare, t == STZ_T_HEADLINE ? PICK_NONNEG : PICK_BEST, &p)) {
		delivered(s, to->bare, p.conns, p.n);
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
	if (to->nlen == 0) { /* to the server itself: nothing handles messages */
		route_error(s, "service-unavailable");
		return;
	}
	if (to->rlen > 0) {
		struct sess_rec r;
		if (sess_get(to_full, &r) == XS_OK) {
			delivered(s, to->bare, &r.conn, 1);
			return;
		}
		/* §8.5.3.2.1: no such resource.  Only a chat goes on as if to the
		 * bare JID; normal and groupchat get an error, headline and error
		 * are ignored. */
		uint8_t t = s->h->type;
		if (t == STZ_T_HEADLINE || t == STZ_T_ERROR)
			return;
		if (t != STZ_T_CHAT) {
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
	if (iq_dispatch(s, local_host(to->domain, to->dlen), 0, NULL) != XS_DONE)
		route_error(s, "service-unavailable");
}

void route_preauth(const struct stz *s, const char *host, const struct msg_ip *ip)
{
	route_enter();
	work.preauth_host = host;
	if (iq_dispatch(s, host, s->h->conn, ip) != XS_DONE)
		route_error(s, "service-unavailable");
	work.preauth_host = NULL;
	route_leave();
}

/* ---- presence (RFC 6121 §4) */

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

/* The account's available resources see it (a user is implicitly subscribed
 * to its own presence, §4.2.2), then the hooks tell the contacts. */
static void own_presence_out(const struct stz *s, const char *full, bool initial)
{
	struct jref f;
	split(full, &f);
	struct pick p;
	if (pick(f.bare, PICK_AVAILABLE, &p))
		route_deliver(p.conns, p.n, s);
	struct hook_args a = { .stz = s, .host = local_host(f.domain, f.dlen), .jid = full,
	                       .initial = initial };
	hooks_run(HOOK_PRESENCE_BROADCAST, &a);
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
	/* From a connection a newer one replaced (a resource conflict) and not
	 * yet ended: it no longer speaks for that JID. */
	if (s->h->conn != 0 && r.conn != s->h->conn)
		return;
	bool available = t == STZ_T_NONE;
	bool initial = available && !r.available;
	if (!available && !r.available) {
		route_deliver(&r.conn, 1, s); /* nothing to tell anyone else */
		return;
	}
	sess_set_presence(from, available, available ? xmpp_presence_priority(s) : 0);
	if (available)
		sess_presence_put(from, s);
	else
		sess_presence_del(from);
	own_presence_out(s, from, initial);
	if (initial) {
		struct jref f;
		split(from, &f);
		struct own o = { .self = from, .conn = r.conn };
		sess_foreach(f.bare, send_own, &o);
	}
	if (!available)
		route_deliver(&r.conn, 1, s);
}

static bool is_subscription(uint8_t t)
{
	return t == STZ_T_SUBSCRIBE || t == STZ_T_SUBSCRIBED || t == STZ_T_UNSUBSCRIBE ||
	       t == STZ_T_UNSUBSCRIBED;
}

static void presence(const struct stz *s, const struct jref *to, const char *to_full)
{
	if (to->nlen == 0)
		return; /* directed presence to a server: nothing tracks it */
	uint8_t t = s->h->type;
	if (t == STZ_T_PROBE) {
		struct hook_args a = { .stz = s, .host = local_host(to->domain, to->dlen),
		                       .jid = to->bare };
		hooks_run(HOOK_PRESENCE_PROBE, &a);
		return;
	}
	if (is_subscription(t)) {
		/* Inbound subscription stanzas go to the account (§3): the
		 * roster decides; without one they reach its resources. */
		struct jref f;
		split(stz_from(s), &f);
		struct hook_args a = { .stz = s, .host = local_host(to->domain, to->dlen),
		                       .jid = to->bare, .peer = f.bare };
		if (hooks_run(HOOK_SUBSCRIPTION_IN, &a) == XS_DROP)
			return;
		struct pick p;
		if (pick(to->bare, PICK_AVAILABLE, &p))
			route_deliver(p.conns, p.n, s);
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

/* A subscription stanza a local user sent (§3): the roster updates itself and
 * sends it on, stamped with the bare JID. */
static bool subscription_out(const struct stz *s)
{
	if (s->h->conn == 0 || !is_subscription(s->h->type) || !stz_has_to(s))
		return false;
	struct jref f, t;
	split(stz_from(s), &f);
	split(stz_to(s), &t);
	struct hook_args a = { .stz = s, .host = local_host(f.domain, f.dlen), .jid = f.bare,
	                       .peer = t.bare };
	return hooks_run(HOOK_SUBSCRIPTION_OUT, &a) == XS_DROP;
}

static void route_one(const struct stz *s)
{
	route_one_as(s, 0);
}

/* A stanza for a domain that is not a local host: the domain table says
 * where it goes. */
static void route_remote(const struct stz *s, const struct jref *t)
{
	const struct route *r = routes_find(t->domain, t->dlen);
	int rc = XS_ERROR;
	if (r && r->rec.kind == ROUTE_SERVICE) {
		rc = domain_dispatch(s, t->domain, t->dlen);
	} else if (r && r->rec.conn != 0) {
		/* A component's or a remote server's stream takes it as it is. */
		deliver(&r->rec.conn, 1, s, false);
		return;
	}
	/* No route (a remote server being connected to has no queue yet, issue
	 * 16: the same as none).  Presence gets no error. */
	if (rc == XS_DONE || s->h->kind == STZ_PRESENCE)
		return;
	route_error(s, rc == XS_ERROR ? "remote-server-not-found" : "service-unavailable");
}

/* trace: the id to trace s under, 0 to decide from s. */
static void route_one_as(const struct stz *s, uint64_t trace)
{
	route_trace_set(trace ? trace : trace_of(s));
	uint64_t trace_cur = route_trace();
	if (trace_cur)
		log_trace("%016" PRIx64 " route %s type=%s from=%s to=%s", trace_cur,
		          stz_str(s, s->nodes[0].name), s->h->type ? stz_type_name(s->h->type) : "-",
		          s->h->from.len ? stz_from(s) : "-", stz_has_to(s) ? stz_to(s) : "-");
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
	if (s->h->kind == STZ_PRESENCE && subscription_out(s))
		return;
	struct jref t;
	split(to, &t);
	if (!routes_is_local(t.domain, t.dlen)) {
		route_remote(s, &t);
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
	route_enter();
	if (was_available) {
		/* Like the unavailable presence it did not send (RFC 6121 §4.5.3.2):
		 * its other resources and its contacts learn it left. */
		static struct stz_builder b;
		if (b.limit == 0)
			stz_b_init(&b, 4096);
		stz_b_reset(&b);
		size_t n = 0;
		if (stz_b_openz(&b, "presence", STZ_NS_CLIENT) == XS_OK &&
		    stz_b_attrz(&b, "from", full) == XS_OK &&
		    stz_b_attrz(&b, "type", "unavailable") == XS_OK && stz_b_close(&b) == XS_OK)
			n = stz_b_size(&b);
		void *mem = n ? aligned_alloc(8, (n + 7) & ~(size_t)7) : NULL;
		struct stz s;
		if (mem) {
			stz_b_write(&b, mem, 0);
			if (stz_view(&s, mem, n) == XS_OK)
				own_presence_out(&s, full, false);
		}
		free(mem);
	}
	struct hook_args a = { .jid = full };
	hooks_run(HOOK_SESSION_CLOSED, &a);
	/* The account of SASL ANONYMOUS sessions ends with the last of them:
	 * what it made meanwhile (a roster, subscriptions) goes as for an
	 * account removed, and its contacts are told (as ejabberd does). */
	struct jref f;
	struct pick p;
	split(full, &f);
	if ((r.flags & SESS_F_ANONYMOUS) && pick(f.bare, PICK_ALL, &p) == 0)
		route_user_removed(f.bare);
	route_leave();
}

void route_user_removed(const char *bare)
{
	route_enter();
	struct jref f;
	split(bare, &f);
	struct hook_args a = { .host = local_host(f.domain, f.dlen), .jid = bare };
	hooks_run(HOOK_USER_REMOVED, &a);
	route_leave();
}

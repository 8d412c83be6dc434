/* up.c — up-ring records (router/up.h). */
#include "router/up.h"
#include "router/registry.h"
#include "router/route.h"
#include "router/routes.h"
#include "router/sessions.h"
#include "router/state.h"
#include "router/down.h"
#include "router/trace.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bind_session(unsigned w, const struct ring_rec *rec)
{
	const struct msg_bind *m = rec->data;
	if (rec->len < sizeof(*m) || (size_t)m->bare_len + m->res_len + 2 != rec->len - sizeof(*m) ||
	    m->data[m->bare_len] != '\0' || m->data[m->bare_len + 1 + m->res_len] != '\0' ||
	    conn_id_worker(m->conn) != w) {
		log_error("up ring %u: bad bind record", w);
		return;
	}
	const char *bare = m->data, *res = m->data + m->bare_len + 1;
	struct {
		struct msg_bound b;
		char jid[JID_MAX + 2];
	} out = { 0 };
	out.b.conn = m->conn;
	/* The newest session wins a conflict (as ejabberd and Prosody do by
	 * default): the old one ends like any other, then is told why. */
	struct sess_rec old;
	char full[JID_MAX + 2];
	if (*res && (size_t)snprintf(full, sizeof(full), "%s/%s", bare, res) < sizeof(full) &&
	    sess_get(full, &old) == XS_OK && old.conn != m->conn) {
		log_info("%s: replaced by a new connection", full);
		route_session_gone(full, old.conn);
		route_kick(old.conn, KICK_CONFLICT);
	}
	uint8_t flags = m->flags & MSG_BIND_ANONYMOUS ? SESS_F_ANONYMOUS : 0;
	if (sess_bind(bare, res, m->conn, flags, out.jid, sizeof(out.jid)) != XS_OK) {
		out.b.status = BIND_FAILED;
		out.jid[0] = '\0';
	}
	out.b.jid_len = (uint32_t)strlen(out.jid);
	down_send(w, MSG_DOWN_BOUND, &out, (uint32_t)((sizeof(out.b) + out.b.jid_len + 1 + 7) & ~7u),
	          NULL, 0);
	if (out.b.status == BIND_OK) {
		struct hook_args a = { .jid = out.jid };
		route_enter();
		hooks_run(HOOK_SESSION_OPENED, &a);
		route_leave();
	}
}

static void closed(unsigned w, const struct ring_rec *rec)
{
	const struct msg_closed *m = rec->data;
	if (rec->len < sizeof(*m) + 1 || m->jid_len >= rec->len - sizeof(*m) ||
	    m->jid[m->jid_len] != '\0' || conn_id_worker(m->conn) != w) {
		log_error("up ring %u: bad closed record", w);
		return;
	}
	if (m->jid_len > 0)
		route_session_gone(m->jid, m->conn);
	routes_drop_conn(m->conn);
}

static void preauth(unsigned w, const struct ring_rec *rec)
{
	const struct msg_preauth *m = rec->data;
	const struct cfg *cfg = router_cfg();
	struct stz s;
	if (rec->len < sizeof(*m) ||
	    stz_view(&s, (const char *)rec->data + sizeof(*m), rec->len - sizeof(*m)) != XS_OK ||
	    conn_id_worker(m->conn) != w || s.h->conn != m->conn || m->host >= cfg->nhosts ||
	    s.h->kind != STZ_IQ || s.h->from.len != 0) {
		log_error("up ring %u: bad pre-authentication record", w);
		return;
	}
	route_preauth(&s, cfg->hosts[m->host], &m->ip);
}

static void stanza(unsigned w, const struct ring_rec *rec)
{
	router_stats()->stanzas++;
	struct stz s;
	if (stz_view(&s, rec->data, rec->len) != XS_OK || conn_id_worker(s.h->conn) != w) {
		log_error("up ring %u: bad stanza record (%u bytes)", w, rec->len);
		return;
	}
	route_enter();
	route_trace_begin(&s);
	struct hook_args a = { .stz = &s, .jid = stz_from(&s) };
	if (!hooks_any(HOOK_USER_SEND_PACKET) || hooks_run(HOOK_USER_SEND_PACKET, &a) != XS_DROP)
		route_now(&s);
	route_leave();
	route_trace_begin(NULL);
}

void up_record(unsigned w, const struct ring_rec *rec)
{
	switch (rec->type) {
	case MSG_UP_STANZA:
		stanza(w, rec);
		break;
	case MSG_UP_PREAUTH:
		preauth(w, rec);
		break;
	case MSG_UP_BIND:
		bind_session(w, rec);
		break;
	case MSG_UP_CLOSED:
		closed(w, rec);
		break;
	case MSG_UP_ROUTE_ADD:
	case MSG_UP_ROUTE_DEL:
		routes_up_record(w, rec->type, rec->data, rec->len);
		break;
	default:
		log_error("up ring %u: unknown record type %u", w, rec->type);
	}
}

struct gone {
	char (*jids)[JID_MAX + 2];
	uint64_t *conns;
	size_t n, cap;
	unsigned worker, gen;
	struct shm_segment *seg; /* set: any generation that does not run now */
};

static bool collect_dead(const char *full, const struct sess_rec *r, void *arg)
{
	struct gone *g = arg;
	unsigned w = conn_id_worker(r->conn), gen = conn_id_gen(r->conn);
	if (g->seg ? shm_worker_current(g->seg, w, gen) : w != g->worker || gen != (g->gen & 0xffff))
		return true;
	if (g->n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 64;
		void *nj = realloc(g->jids, nc * sizeof(*g->jids));
		if (nj == NULL)
			return false;
		g->jids = nj;
		void *ncn = realloc(g->conns, nc * sizeof(*g->conns));
		if (ncn == NULL)
			return false;
		g->conns = ncn;
		g->cap = nc;
	}
	strcpy(g->jids[g->n], full);
	g->conns[g->n++] = r->conn;
	return true;
}

/* Ends the sessions g names. */
static void end_sessions(struct gone *g)
{
	sess_foreach_all(collect_dead, g);
	for (size_t i = 0; i < g->n; i++)
		route_session_gone(g->jids[i], g->conns[i]);
}

size_t up_sessions_stale(struct shm_segment *seg)
{
	struct gone g = { .seg = seg };
	end_sessions(&g);
	if (g.n)
		log_info("%zu session(s) of workers gone while no router ran removed", g.n);
	free(g.jids);
	free(g.conns);
	return g.n;
}

void up_worker_died(unsigned w, unsigned gen)
{
	struct gone g = { .worker = w, .gen = gen };
	end_sessions(&g);
	size_t nroutes = routes_drop_worker(w, gen);
	log_info("worker %u (generation %u) died: %zu session(s), %zu route(s) removed", w, gen, g.n,
	         nroutes);
	free(g.jids);
	free(g.conns);
}

/* api.c — the module API (router/module.h) that is not registration
 * (router/registry.c): answers to IQs, routing and delivering, sessions, the
 * data env, service domains, timers and the rest. */
#include "router/api.h"
#include "router/modctx.h"
#include "router/data.h"
#include "router/registry.h"
#include "router/route.h"
#include "router/routes.h"
#include "router/sessions.h"
#include "router/state.h"
#include "router/timer.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/users.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The builder of IQ answers (mod_iq_result_begin). */
static struct stz_builder reply;

struct stz_builder *mod_iq_result_begin(struct iq_req *req)
{
	struct stz_builder *b = &reply;
	if (b->limit == 0)
		stz_b_init(b, router_cfg()->max_encoded);
	stz_b_reset(b);
	const struct stz *s = req->stz;
	stz_b_openz(b, "iq", STZ_NS_CLIENT);
	stz_b_attrz(b, "type", "result");
	if (s->h->id.len)
		stz_b_attrz(b, "id", stz_id(s));
	if (s->h->from.len)
		stz_b_attrz(b, "to", stz_from(s));
	/* No 'to': answered on behalf of the account, from its bare JID
	 * (RFC 6120 §10.3.3); before authentication, from the host. */
	char bare[JID_MAX + 1];
	stz_b_attrz(b, "from", stz_has_to(s) ? stz_to(s) : xmpp_from_account(s, bare, sizeof(bare)) >= 0
	                                                   ? bare : req->host);
	return b;
}

/* Every answer to an IQ request passes here (route_error* log what they
 * could not build or send). */
static int answered(struct iq_req *req)
{
	if (req->answered)
		log_warn("an IQ (%s) was answered twice by its handler", stz_str(req->stz,
		         req->stz->h->payload_ns));
	req->answered = true;
	return XS_DONE;
}

int mod_iq_result_send(struct iq_req *req)
{
	struct stz_builder *b = &reply;
	while (stz_b_depth(b) > 0)
		if (stz_b_close(b) != XS_OK)
			break;
	if (route_send(b, req->preauth_conn) != XS_OK) {
		log_warn("an IQ result (%s) could not be built or sent",
		         stz_str(req->stz, req->stz->h->payload_ns));
		route_error(req->stz, "internal-server-error");
	}
	return answered(req);
}

int mod_iq_result_empty(struct iq_req *req)
{
	mod_iq_result_begin(req);
	return mod_iq_result_send(req);
}

int mod_iq_error(struct iq_req *req, const char *condition)
{
	return mod_iq_error_ext(req, condition, NULL, NULL, NULL, NULL);
}

int mod_iq_error_text(struct iq_req *req, const char *condition, const char *text)
{
	return mod_iq_error_ext(req, condition, NULL, NULL, NULL, text);
}

int mod_iq_error_ext(struct iq_req *req, const char *condition, const char *type,
                     const char *app, const char *app_ns, const char *text)
{
	route_error_ext(req->stz, condition, type, app, app_ns, text);
	return answered(req);
}

int mod_iq_error_private(struct iq_req *req, const char *condition, const char *text)
{
	route_error_private(req->stz, condition, text);
	return answered(req);
}

int mod_bounce(const struct stz *s, const char *condition)
{
	return mod_bounce_ext(s, condition, NULL, NULL, NULL, NULL);
}

int mod_bounce_ext(const struct stz *s, const char *condition, const char *type,
                   const char *app, const char *app_ns, const char *text)
{
	return route_error_ext(s, condition, type, app, app_ns, text) == XS_ERROR ? XS_ERROR
	                                                                           : XS_OK;
}

int mod_route(struct stz_builder *b)
{
	return route_built(b);
}

int mod_route_stz(const struct stz *s)
{
	route_stanza(s);
	return XS_OK;
}

int mod_deliver(const uint64_t *conns, uint32_t n, const struct stz *s)
{
	route_deliver(conns, n, s);
	return XS_OK;
}

int mod_deliver_built(const uint64_t *conns, uint32_t n, struct stz_builder *b)
{
	return route_deliver_built(conns, n, b);
}

int mod_deliver_each(const struct mod_recipient *to, uint32_t n, const struct stz *s)
{
	route_deliver_each(to, n, s);
	return XS_OK;
}

int mod_deliver_each_built(const struct mod_recipient *to, uint32_t n, struct stz_builder *b)
{
	return route_deliver_each_built(to, n, b);
}

int mod_kick(const char *full, enum mod_kick_reason why)
{
	struct sess_rec r;
	if (sess_get(full, &r) != XS_OK)
		return XS_PASS;
	route_kick(r.conn, why == MOD_KICK_REMOVED ? KICK_REMOVED : KICK_ADMIN);
	return XS_OK;
}

struct stz_builder *mod_builder(struct mod_ctx *ctx)
{
	if (ctx->b.limit == 0)
		stz_b_init(&ctx->b, router_cfg()->max_encoded);
	stz_b_reset(&ctx->b);
	return &ctx->b;
}

/* ---- sessions */

struct sess_visit {
	mod_session_fn *fn;
	void *arg;
};

static void to_mod_session(const char *full, const struct sess_rec *r, struct mod_session *out)
{
	*out = (struct mod_session){ .full = full, .conn = r->conn, .since = r->since,
	                             .priority = r->priority, .available = r->available,
	                             .flags = r->flags };
}

static bool sess_adapter(const char *full, const struct sess_rec *r, void *arg)
{
	struct sess_visit *v = arg;
	struct mod_session ms;
	to_mod_session(full, r, &ms);
	return v->fn(&ms, v->arg);
}

int mod_sessions(const char *bare, mod_session_fn *fn, void *arg)
{
	struct sess_visit v = { fn, arg };
	return sess_foreach(bare, sess_adapter, &v);
}

int mod_session(const char *full, struct mod_session *out)
{
	struct sess_rec r;
	int rc = sess_get(full, &r);
	if (rc == XS_OK)
		to_mod_session(full, &r, out);
	return rc;
}

int mod_session_presence(const char *full, struct stz *out)
{
	return sess_presence_get(full, out);
}

int mod_session_flags(const char *full, uint8_t set, uint8_t clear)
{
	return sess_set_flags(full, set & ~SESS_F_ANONYMOUS, clear & ~SESS_F_ANONYMOUS);
}

/* ---- data env */

int mod_db_table(struct mod_ctx *ctx, const char *name, unsigned flags, MDB_dbi *out)
{
	if (data_table(name, flags, out) != XS_OK) {
		log_error("module %s: cannot open table %s", ctx->name, name);
		return XS_ERROR;
	}
	return XS_OK;
}

int mod_db_begin(MDB_txn **child)
{
	return data_begin(child);
}

int mod_db_end(MDB_txn *child, bool ok)
{
	return data_end(child, ok);
}

MDB_txn *mod_db_read(void)
{
	return data_read();
}

struct db *mod_data_db(void)
{
	return router_data_db();
}

/* ---- service domains: a route in the domain table, a handler in the
 * registry. */

int mod_domain_add(struct mod_ctx *ctx, const char *domain, const char *parent_host,
                   const char *name, domain_fn *fn, void *arg)
{
	if (routes_add_service(domain, ctx->name) != XS_OK)
		return XS_ERROR;
	if (registry_domain_add(ctx, domain, parent_host, name, fn, arg) != XS_OK) {
		log_error("module %s: domain %s: out of memory", ctx->name, domain);
		/* No handler serves it: no route may say one does. */
		routes_del_service(domain, ctx->name);
		return XS_ERROR;
	}
	return XS_OK;
}

/* ---- timers: one queue for every module, run by the router's loop */

uint64_t mod_timer_add(struct mod_ctx *ctx, uint32_t delay_ms, uint32_t period_ms,
                       mod_timer_fn *fn, void *arg)
{
	struct timerq *q = router_timers();
	if (q == NULL || fn == NULL)
		return 0;
	uint64_t id = timerq_add(q, timer_now_ms() + delay_ms, period_ms, ctx, fn, arg);
	if (id == 0)
		log_error("module %s: no memory for a timer", ctx->name);
	return id;
}

int mod_timer_cancel(struct mod_ctx *ctx, uint64_t id)
{
	struct timerq *q = router_timers();
	return q ? timerq_cancel(q, id, ctx) : XS_PASS;
}

/* ---- misc */

enum mod_sub mod_subscription(const char *owner_bare, const char *peer_bare)
{
	struct hook_args a = { .jid = owner_bare, .peer = peer_bare, .result = MOD_SUB_NONE };
	if (hooks_run(HOOK_ROSTER_GET, &a) != XS_DONE)
		return MOD_SUB_NONE;
	return (enum mod_sub)(a.result & 3);
}

int mod_account_exists(const char *bare)
{
	struct scram_creds cr;
	MDB_txn *t = data_read();
	int rc = t ? users_get(router_data_db(), t, bare, &cr) : XS_ERROR;
	explicit_bzero(&cr, sizeof(cr));
	return rc;
}

_Static_assert(MOD_SESS_ANONYMOUS == SESS_F_ANONYMOUS, "one bit for anonymous sessions");

static bool anonymous_visit(const char *full, const struct sess_rec *r, void *arg)
{
	(void)full;
	bool *found = arg;
	*found = r->flags & SESS_F_ANONYMOUS;
	return !*found;
}

int mod_account(const char *bare, enum mod_account *out)
{
	*out = MOD_ACCOUNT_NONE;
	int rc = mod_account_exists(bare);
	if (rc == XS_OK)
		*out = MOD_ACCOUNT_REGISTERED;
	if (rc != XS_PASS)
		return rc == XS_ERROR ? XS_ERROR : XS_OK;
	bool anonymous = false;
	if (sess_foreach(bare, anonymous_visit, &anonymous) != XS_OK)
		return XS_ERROR;
	if (anonymous)
		*out = MOD_ACCOUNT_ANONYMOUS;
	return XS_OK;
}

bool mod_is_local_host(const char *domain)
{
	return routes_is_local(domain, strlen(domain));
}

int64_t mod_now(void)
{
	return (int64_t)time(NULL);
}

int64_t mod_uptime(void)
{
	return (int64_t)time(NULL) - router_started();
}

const char *mod_name(const struct mod_ctx *ctx)
{
	return ctx->name;
}

void api_free(void)
{
	stz_b_free(&reply);
}

/* iqprobe.c — a module for the end-to-end tests only (never installed): IQ
 * handlers that break the plugin contract's easy cases on purpose, so a test
 * can see that every IQ is answered exactly once (router/module.h).
 *
 * <iq type='get'><probe xmlns='urn:xmppd:test:iqprobe' do='WHAT'/></iq>, WHAT:
 *   too-large       a result larger than any stanza may be: sending it fails
 *                   (the client must get one internal-server-error, nothing else)
 *   answer-then-pass  an empty result, then the handler declines anyway (one
 *                   result, no service-unavailable after it)
 *   decline         declines without answering (one service-unavailable)
 *
 * and the router's services to modules (router/module.h), each answered
 * with an empty result at once:
 *   timer ms=N [count=K] [tag=T]   after N ms (then every N ms, K times in
 *                   all) a headline <message><timer xmlns=NS tag=T n=I/>
 *                   </message> to the requester; a reload cancels them
 *   refuse-reload   the next reload returns XS_ERROR (the timers stay)
 *   timer-on-reload ms=N [tag=T]  the next reload arms that one-shot timer
 *                   itself (it stays: only older timers are cancelled)
 *   each            <message><each xmlns=NS/></message> to every session of
 *                   the requester's account through mod_deliver_each: the
 *                   receive hook of this module drops it for a resource
 *                   named "drop-me" (it runs per recipient)
 *   route           the domain route.HOST is added at once (mod_domain_add
 *                   at run time): it answers IQs of this namespace */
#include "router/module.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_IQPROBE "urn:xmppd:test:iqprobe"
#define PENDING_MAX 16

static struct mod_ctx *probe_ctx;

static const char *first_host(void)
{
	const char *const *hosts;
	return mod_hosts(&hosts) ? hosts[0] : "";
}

/* Timers asked for; a slot's arg outlives a reload (which frees the slots
 * without looking at timers: the router must have cancelled them, or they
 * would fire anyway and the test would see it). */
static struct pending {
	bool used;
	unsigned n, count;
	char to[3072];
	char tag[64];
} pending[PENDING_MAX];

static void fire(uint64_t id, void *arg)
{
	struct pending *p = arg;
	p->n++;
	struct stz_builder *b = mod_builder(probe_ctx);
	char n[16];
	snprintf(n, sizeof(n), "%u", p->n);
	if (stz_b_openz(b, "message", STZ_NS_CLIENT) != XS_OK ||
	    stz_b_attrz(b, "type", "headline") != XS_OK ||
	    stz_b_attrz(b, "from", first_host()) != XS_OK ||
	    stz_b_attrz(b, "to", p->to) != XS_OK || stz_b_openz(b, "timer", NS_IQPROBE) != XS_OK ||
	    stz_b_attrz(b, "tag", p->tag) != XS_OK || stz_b_attrz(b, "n", n) != XS_OK ||
	    stz_b_close(b) != XS_OK || stz_b_close(b) != XS_OK || mod_route(b) != XS_OK)
		return;
	if (p->count <= 1 || p->n == p->count) {
		if (p->count > 1)
			mod_timer_cancel(probe_ctx, id);
		p->used = false;
	}
}

/* Arms a timer for `to`: XS_OK, XS_PASS (no free slot, a bad address),
 * XS_ERROR (the router refused it). */
static int arm(const char *to, const char *tag, uint32_t delay, unsigned k)
{
	struct pending *p = NULL;
	for (size_t i = 0; i < PENDING_MAX && p == NULL; i++)
		if (!pending[i].used)
			p = &pending[i];
	if (p == NULL || strlen(to) >= sizeof(p->to))
		return XS_PASS;
	*p = (struct pending){ .used = true, .count = k };
	snprintf(p->to, sizeof(p->to), "%s", to);
	snprintf(p->tag, sizeof(p->tag), "%s", tag ? tag : "");
	if (mod_timer_add(probe_ctx, delay, k > 1 ? delay : 0, fire, p) == 0) {
		p->used = false;
		return XS_ERROR;
	}
	return XS_OK;
}

static int timer(struct iq_req *req)
{
	const char *ms = stz_attr(req->stz, req->payload, "ms");
	const char *count = stz_attr(req->stz, req->payload, "count");
	if (ms == NULL)
		return mod_iq_error(req, "bad-request");
	unsigned k = count ? (unsigned)strtoul(count, NULL, 10) : 1;
	int rc = arm(stz_from(req->stz), stz_attr(req->stz, req->payload, "tag"),
	             (uint32_t)strtoul(ms, NULL, 10), k);
	if (rc != XS_OK)
		return mod_iq_error(req, rc == XS_PASS ? "bad-request" : "internal-server-error");
	return mod_iq_result_empty(req);
}

/* What the next reload does. */
static struct {
	bool refuse;
	uint32_t ms;             /* > 0: arm a timer */
	char to[3072];
	char tag[64];
} next_reload;

static int on_reload_ask(struct iq_req *req, bool refuse)
{
	if (refuse) {
		next_reload.refuse = true;
		return mod_iq_result_empty(req);
	}
	const char *ms = stz_attr(req->stz, req->payload, "ms");
	const char *tag = stz_attr(req->stz, req->payload, "tag");
	if (ms == NULL || strtoul(ms, NULL, 10) == 0 ||
	    strlen(stz_from(req->stz)) >= sizeof(next_reload.to))
		return mod_iq_error(req, "bad-request");
	next_reload.ms = (uint32_t)strtoul(ms, NULL, 10);
	snprintf(next_reload.to, sizeof(next_reload.to), "%s", stz_from(req->stz));
	snprintf(next_reload.tag, sizeof(next_reload.tag), "%s", tag ? tag : "");
	return mod_iq_result_empty(req);
}

/* ---- each: one stanza to every session of the account */

struct collect {
	struct mod_recipient to[16];
	char jids[16][3072];
	uint32_t n;
};

static bool collect(const struct mod_session *s, void *arg)
{
	struct collect *c = arg;
	if (c->n == 16)
		return false;
	snprintf(c->jids[c->n], sizeof(c->jids[0]), "%s", s->full);
	c->to[c->n] = (struct mod_recipient){ .conn = s->conn, .full = c->jids[c->n] };
	c->n++;
	return true;
}

static int each(struct iq_req *req)
{
	char bare[3072];
	snprintf(bare, sizeof(bare), "%s", stz_from(req->stz));
	char *slash = strchr(bare, '/');
	if (slash)
		*slash = '\0';
	static struct collect c;
	c.n = 0;
	if (mod_sessions(bare, collect, &c) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	struct stz_builder *b = mod_builder(probe_ctx);
	if (stz_b_openz(b, "message", STZ_NS_CLIENT) != XS_OK ||
	    stz_b_attrz(b, "type", "headline") != XS_OK ||
	    stz_b_attrz(b, "from", first_host()) != XS_OK || stz_b_attrz(b, "to", bare) != XS_OK ||
	    stz_b_openz(b, "each", NS_IQPROBE) != XS_OK || stz_b_close(b) != XS_OK ||
	    stz_b_close(b) != XS_OK || mod_deliver_each_built(c.to, c.n, b) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_empty(req);
}

/* user_receive_packet: per recipient with mod_deliver_each. */
static int on_receive(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || s->h->kind != STZ_MESSAGE || stz_child(s, 0, "each", NS_IQPROBE) == 0)
		return XS_PASS;
	const char *slash = a->jid ? strchr(a->jid, '/') : NULL;
	if (a->nconns != 1 || slash == NULL)
		return XS_PASS; /* not a per-recipient run: the test sees it delivered */
	return strcmp(slash + 1, "drop-me") == 0 ? XS_DROP : XS_PASS;
}

/* ---- route: a service domain added at run time */

static int on_route_iq(struct iq_req *req, void *arg)
{
	(void)arg;
	return mod_iq_result_empty(req);
}

static int route(struct iq_req *req)
{
	char domain[1100];
	snprintf(domain, sizeof(domain), "route.%s", first_host());
	if (mod_domain_add(probe_ctx, domain, first_host(), "iqprobe route", NULL, NULL) !=
	        XS_OK ||
	    mod_iq_add(probe_ctx, domain, NS_IQPROBE, on_route_iq, NULL) != XS_OK)
		return mod_iq_error(req, "conflict");
	return mod_iq_result_empty(req);
}

/* Text past the builder's bound: the builder refuses it and stays refused. */
static int too_large(struct iq_req *req)
{
	size_t n = mod_max_encoded() + 1;
	char *text = malloc(n);
	if (text == NULL)
		return mod_iq_error(req, "internal-server-error");
	memset(text, 'x', n);
	struct stz_builder *b = mod_iq_result_begin(req);
	if (stz_b_openz(b, "probe", NS_IQPROBE) == XS_OK)
		(void)stz_b_text(b, text, n); /* fails: what mod_iq_result_send must handle */
	free(text);
	return mod_iq_result_send(req);
}

static int on_probe(struct iq_req *req, void *arg)
{
	(void)arg;
	const char *what = stz_attr(req->stz, req->payload, "do");
	if (what == NULL)
		return mod_iq_error(req, "bad-request");
	if (strcmp(what, "too-large") == 0)
		return too_large(req);
	if (strcmp(what, "answer-then-pass") == 0) {
		mod_iq_result_empty(req);
		return XS_PASS;
	}
	if (strcmp(what, "decline") == 0)
		return XS_PASS;
	if (strcmp(what, "timer") == 0)
		return timer(req);
	if (strcmp(what, "refuse-reload") == 0 || strcmp(what, "timer-on-reload") == 0)
		return on_reload_ask(req, what[0] == 'r');
	if (strcmp(what, "each") == 0)
		return each(req);
	if (strcmp(what, "route") == 0)
		return route(req);
	return mod_iq_error(req, "bad-request");
}

static int iqprobe_init(struct mod_ctx *ctx)
{
	probe_ctx = ctx;
	if (mod_hook_add(ctx, HOOK_USER_RECEIVE_PACKET, NULL, 0, on_receive, NULL) != XS_OK)
		return XS_ERROR;
	return mod_iq_add(ctx, NULL, NS_IQPROBE, on_probe, NULL);
}

/* The router cancels the timers armed before this call once it returns
 * XS_OK (then their slots are free), none when it refuses (they stay). */
static int iqprobe_reload(struct mod_ctx *ctx, const void *old_conf)
{
	(void)ctx;
	(void)old_conf;
	if (next_reload.refuse) {
		next_reload.refuse = false;
		return XS_ERROR;
	}
	for (size_t i = 0; i < PENDING_MAX; i++)
		pending[i].used = false;
	if (next_reload.ms) {
		uint32_t ms = next_reload.ms;
		next_reload.ms = 0;
		if (arm(next_reload.to, next_reload.tag, ms, 1) != XS_OK)
			return XS_ERROR;
	}
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "iqprobe",
	.init = iqprobe_init,
	.reload = iqprobe_reload,
};

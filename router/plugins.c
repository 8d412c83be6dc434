/* plugins.c — modules (dlopen), hook chains, the IQ handler table and the
 * disco feature list. */
#include "router/router.h"
#include "router/modopts.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/users.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mod_ctx {
	const struct xmppd_module *mod;
	void *dl;
	struct stz_builder b;    /* mod_builder */
	char name[64];
};

struct hook {
	char *host;              /* NULL: every host */
	int priority;
	hook_fn *fn;
	void *arg;
	struct mod_ctx *owner;
};

struct iq_entry {
	struct iq_entry *next;   /* hash chain */
	char *host;              /* NULL: every host */
	char *ns;
	iq_fn *fn;
	void *arg;
};

struct feature {
	char *host;
	char *var;
};

struct domain {
	char *domain;
	char *parent;            /* the local host whose disco#items lists it */
	char *name;
	domain_fn *fn;
	void *arg;
};

#define IQ_BUCKETS 256

static struct {
	struct mod_ctx *mods;
	size_t nmods;
	struct hook *hooks[HOOK_COUNT];
	size_t nhooks[HOOK_COUNT];
	struct iq_entry *iq[IQ_BUCKETS];
	struct feature *features;
	size_t nfeatures;
	struct domain *domains;
	size_t ndomains;
	struct iq_req *cur_req;
	struct stz_builder reply;
} P;

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool host_matches(const char *want, const char *host)
{
	return want == NULL || host == NULL || strcmp(want, host) == 0;
}

int mod_hook_add(struct mod_ctx *ctx, enum hook_id hook, const char *host, int priority,
                 hook_fn *fn, void *arg)
{
	if ((unsigned)hook >= HOOK_COUNT || fn == NULL)
		return XS_ERROR;
	struct hook *nh = realloc(P.hooks[hook], (P.nhooks[hook] + 1) * sizeof(*nh));
	if (nh == NULL)
		return XS_ERROR;
	P.hooks[hook] = nh;
	/* Keep the chain sorted; equal priorities run in registration order. */
	size_t i = P.nhooks[hook];
	while (i > 0 && nh[i - 1].priority > priority) {
		nh[i] = nh[i - 1];
		i--;
	}
	nh[i] = (struct hook){ .host = dup_or_null(host), .priority = priority, .fn = fn,
	                       .arg = arg, .owner = ctx };
	P.nhooks[hook]++;
	return XS_OK;
}

bool hooks_any(enum hook_id hook)
{
	return P.nhooks[hook] > 0;
}

static const char *const hook_names[HOOK_COUNT] = {
	[HOOK_USER_SEND_PACKET] = "user_send_packet",
	[HOOK_USER_RECEIVE_PACKET] = "user_receive_packet",
	[HOOK_FILTER_PACKET] = "filter_packet",
	[HOOK_PRESENCE_PROBE] = "presence_probe",
	[HOOK_SESSION_OPENED] = "session_opened",
	[HOOK_SESSION_CLOSED] = "session_closed",
	[HOOK_ROSTER_GET] = "roster_get",
	[HOOK_DISCO_INFO] = "disco_info",
	[HOOK_DISCO_ITEMS] = "disco_items",
	[HOOK_OFFLINE_MESSAGE] = "offline_message",
	[HOOK_PRESENCE_BROADCAST] = "presence_broadcast",
	[HOOK_SUBSCRIPTION_OUT] = "subscription_out",
	[HOOK_SUBSCRIPTION_IN] = "subscription_in",
	[HOOK_MESSAGE_DELIVERED] = "message_delivered",
	[HOOK_USER_REMOVED] = "user_removed",
};

static const char *result_name(int rc)
{
	return rc == XS_DONE ? "done" : rc == XS_DROP ? "drop" : rc == XS_PASS ? "pass" : "error";
}

int hooks_run(enum hook_id hook, struct hook_args *args)
{
	uint64_t trace = args->stz ? route_trace() : 0;
	for (size_t i = 0; i < P.nhooks[hook]; i++) {
		struct hook *h = &P.hooks[hook][i];
		if (!host_matches(h->host, args->host))
			continue;
		int rc = h->fn(args, h->arg);
		if (trace)
			log_trace("%016" PRIx64 " hook %s %s: %s", trace, hook_names[hook],
			          h->owner ? h->owner->name : "?", result_name(rc));
		if (rc == XS_DONE || rc == XS_DROP)
			return rc;
	}
	return XS_PASS;
}

int mod_hook_run(enum hook_id hook, struct hook_args *args)
{
	if ((unsigned)hook >= HOOK_COUNT)
		return XS_ERROR;
	return hooks_run(hook, args);
}

int mod_iq_add(struct mod_ctx *ctx, const char *host, const char *ns, iq_fn *fn, void *arg)
{
	uint32_t b = hash_str(ns) % IQ_BUCKETS;
	for (struct iq_entry *e = P.iq[b]; e; e = e->next) {
		if (strcmp(e->ns, ns) == 0 && ((e->host == NULL && host == NULL) ||
		                               (e->host && host && strcmp(e->host, host) == 0))) {
			log_error("module %s: IQ namespace %s already has a handler", ctx->name, ns);
			return XS_ERROR;
		}
	}
	struct iq_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return XS_ERROR;
	e->host = dup_or_null(host);
	e->ns = strdup(ns);
	e->fn = fn;
	e->arg = arg;
	e->next = P.iq[b];
	P.iq[b] = e;
	return XS_OK;
}

int iq_dispatch(const struct stz *s, const char *host, uint64_t preauth_conn,
                const struct msg_ip *ip)
{
	uint32_t payload = 0;
	for (uint32_t c = stz_first_child(s, 0); c; c = stz_next_sibling(s, 0, c))
		if (!s->nodes[c].is_text) {
			payload = c;
			break;
		}
	if (payload == 0)
		return XS_PASS;
	const char *ns = stz_str(s, s->h->payload_ns);
	struct iq_entry *generic = NULL, *specific = NULL;
	for (struct iq_entry *e = P.iq[hash_str(ns) % IQ_BUCKETS]; e; e = e->next) {
		if (strcmp(e->ns, ns) != 0)
			continue;
		if (e->host == NULL)
			generic = e;
		else if (strcmp(e->host, host) == 0)
			specific = e;
	}
	/* A service domain has only the handlers registered for it. */
	struct iq_entry *e = specific ? specific : route_is_local(host, strlen(host)) ? generic : NULL;
	if (e == NULL)
		return XS_PASS;
	struct iq_req req = { .stz = s, .host = host, .payload = payload,
	                      .preauth_conn = preauth_conn, .ip = ip };
	/* Answered is answered: the core adds no second error to it. */
	int rc = e->fn(&req, e->arg) == XS_DONE || req.answered ? XS_DONE : XS_PASS;
	if (route_trace())
		log_trace("%016" PRIx64 " iq handler %s for %s: %s", route_trace(), ns, host,
		          rc == XS_DONE ? "answered" : "declined");
	return rc;
}

int mod_feature_add(struct mod_ctx *ctx, const char *host, const char *var)
{
	(void)ctx;
	struct feature *nf = realloc(P.features, (P.nfeatures + 1) * sizeof(*nf));
	if (nf == NULL)
		return XS_ERROR;
	P.features = nf;
	nf[P.nfeatures].host = dup_or_null(host);
	nf[P.nfeatures].var = strdup(var);
	if (nf[P.nfeatures].var == NULL)
		return XS_ERROR;
	P.nfeatures++;
	return XS_OK;
}

size_t mod_features(const char *host, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < P.nfeatures && n < max; i++)
		if (host_matches(P.features[i].host, host))
			out[n++] = P.features[i].var;
	return n;
}

struct stz_builder *mod_iq_result_begin(struct iq_req *req)
{
	struct stz_builder *b = &P.reply;
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
	struct stz_builder *b = &P.reply;
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

/* ---- service domains */

int mod_domain_add(struct mod_ctx *ctx, const char *domain, const char *parent_host,
                   const char *name, domain_fn *fn, void *arg)
{
	if (route_is_local(domain, strlen(domain)) || domain_exists(domain, strlen(domain))) {
		log_error("module %s: domain %s is already served", ctx->name, domain);
		return XS_ERROR;
	}
	struct domain *nd = realloc(P.domains, (P.ndomains + 1) * sizeof(*nd));
	if (nd == NULL)
		return XS_ERROR;
	P.domains = nd;
	struct domain *d = &nd[P.ndomains];
	*d = (struct domain){ .domain = strdup(domain), .parent = dup_or_null(parent_host),
	                      .name = strdup(name ? name : ""), .fn = fn, .arg = arg };
	if (d->domain == NULL || d->name == NULL || (parent_host && d->parent == NULL)) {
		free(d->domain);
		free(d->parent);
		free(d->name);
		return XS_ERROR;
	}
	P.ndomains++;
	return XS_OK;
}

static struct domain *domain_find(const char *domain, size_t len)
{
	for (size_t i = 0; i < P.ndomains; i++)
		if (strlen(P.domains[i].domain) == len && memcmp(P.domains[i].domain, domain, len) == 0)
			return &P.domains[i];
	return NULL;
}

bool domain_exists(const char *domain, size_t len)
{
	return domain_find(domain, len) != NULL;
}

int domain_dispatch(const struct stz *s, const char *domain, size_t len)
{
	struct domain *d = domain_find(domain, len);
	if (d == NULL)
		return XS_ERROR;
	if (d->fn && d->fn(s, d->arg) == XS_DONE)
		return XS_DONE;
	uint8_t t = s->h->type;
	if (s->h->kind == STZ_IQ && (t == STZ_T_GET || t == STZ_T_SET)) {
		/* Only the domain's own handlers, and never to a JID at it. */
		const char *to = stz_to(s);
		if (strlen(to) == len && iq_dispatch(s, d->domain, 0, NULL) == XS_DONE)
			return XS_DONE;
	}
	return XS_PASS;
}

void mod_domains(const char *host, mod_domain_visit *fn, void *arg)
{
	for (size_t i = 0; i < P.ndomains; i++)
		if (host_matches(P.domains[i].parent, host))
			fn(P.domains[i].domain, P.domains[i].name, arg);
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

static void *open_module(const struct cfg *cfg, const struct cfg_module *m,
                         const struct xmppd_module **out)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.so", cfg->modules_dir, m->name);
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		log_error("%s:%d: module %s: %s", cfg->path, m->line, m->name, dlerror());
		return NULL;
	}
	const struct xmppd_module *mod = dlsym(dl, "xmppd_module");
	if (mod == NULL || mod->abi != XMPPD_MODULE_ABI || mod->init == NULL) {
		log_error("%s:%d: module %s: no xmppd_module descriptor of ABI %d in %s", cfg->path,
		          m->line, m->name, XMPPD_MODULE_ABI, path);
		dlclose(dl);
		return NULL;
	}
	*out = mod;
	return dl;
}

int plugins_check(const struct cfg *cfg)
{
	int rc = XS_OK;
	for (size_t i = 0; i < cfg->nmodules; i++) {
		const struct xmppd_module *mod;
		void *dl = open_module(cfg, &cfg->modules[i], &mod);
		if (dl == NULL) {
			rc = XS_ERROR;
			continue;
		}
		if (modopts_check(mod, &cfg->modules[i].opts, cfg->path) != XS_OK)
			rc = XS_ERROR;
		dlclose(dl);
	}
	return rc;
}

bool mod_is_local_host(const char *domain)
{
	return route_is_local(domain, strlen(domain));
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

int plugins_load(const struct cfg *cfg)
{
	P.mods = calloc(cfg->nmodules ? cfg->nmodules : 1, sizeof(*P.mods));
	if (P.mods == NULL)
		return XS_ERROR;
	for (size_t i = 0; i < cfg->nmodules; i++) {
		const struct cfg_module *m = &cfg->modules[i];
		const struct xmppd_module *mod;
		void *dl = open_module(cfg, m, &mod);
		if (dl == NULL)
			return XS_ERROR;
		struct mod_ctx *ctx = &P.mods[P.nmods];
		ctx->mod = mod;
		ctx->dl = dl;
		snprintf(ctx->name, sizeof(ctx->name), "%s", m->name);
		P.nmods++;
		if (modopts_init(mod, &m->opts, cfg->path) != XS_OK || mod->init(ctx) != XS_OK) {
			log_error("module %s: init failed", m->name);
			return XS_ERROR;
		}
		log_info("module %s loaded", m->name);
	}
	return XS_OK;
}

void plugins_reload(const struct cfg *cfg)
{
	for (size_t i = 0; i < P.nmods; i++) {
		const struct cfg_module *m = NULL;
		for (size_t j = 0; j < cfg->nmodules && m == NULL; j++)
			if (strcmp(cfg->modules[j].name, P.mods[i].name) == 0)
				m = &cfg->modules[j];
		if (m == NULL)
			continue; /* removed from the file: needs a restart */
		int rc = modopts_reload(&P.mods[i], P.mods[i].mod, &m->opts, cfg->path);
		if (rc == XS_PASS) {
			log_info("reload: module %s has no live options", P.mods[i].name);
			continue;
		}
		if (rc != XS_OK)
			log_error("reload: module %s refused its new options; it keeps the old ones",
			          P.mods[i].name);
		else
			log_info("reload: module %s: options applied", P.mods[i].name);
	}
}

void plugins_stop(void)
{
	for (size_t i = P.nmods; i-- > 0;) {
		if (P.mods[i].mod->stop)
			P.mods[i].mod->stop(&P.mods[i]);
		modopts_free(P.mods[i].mod);
	}
	/* Every registration points into module code: forget them all before
	 * the code is unmapped. */
	for (int h = 0; h < HOOK_COUNT; h++) {
		for (size_t i = 0; i < P.nhooks[h]; i++)
			free(P.hooks[h][i].host);
		free(P.hooks[h]);
		P.hooks[h] = NULL;
		P.nhooks[h] = 0;
	}
	for (int b = 0; b < IQ_BUCKETS; b++) {
		while (P.iq[b]) {
			struct iq_entry *e = P.iq[b];
			P.iq[b] = e->next;
			free(e->host);
			free(e->ns);
			free(e);
		}
	}
	for (size_t i = 0; i < P.nfeatures; i++) {
		free(P.features[i].host);
		free(P.features[i].var);
	}
	free(P.features);
	P.features = NULL;
	P.nfeatures = 0;
	for (size_t i = 0; i < P.ndomains; i++) {
		free(P.domains[i].domain);
		free(P.domains[i].parent);
		free(P.domains[i].name);
	}
	free(P.domains);
	P.domains = NULL;
	P.ndomains = 0;
	for (size_t i = 0; i < P.nmods; i++) {
		stz_b_free(&P.mods[i].b);
		dlclose(P.mods[i].dl);
	}
	free(P.mods);
	P.mods = NULL;
	P.nmods = 0;
	stz_b_free(&P.reply);
}

/* registry.c — hook chains, the IQ handler table, disco features and the
 * handlers of service domains (router/registry.h). */
#include "router/registry.h"
#include "router/modctx.h"
#include "router/routes.h"
#include "router/trace.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define IQ_BUCKETS 256

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

static struct {
	struct hook *hooks[HOOK_COUNT];
	size_t nhooks[HOOK_COUNT];
	struct iq_entry *iq[IQ_BUCKETS];
	struct feature *features;
	size_t nfeatures;
	struct domain *domains;
	size_t ndomains;
} registry;

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

/* ---- hooks */

int mod_hook_add(struct mod_ctx *ctx, enum hook_id hook, const char *host, int priority,
                 hook_fn *fn, void *arg)
{
	if ((unsigned)hook >= HOOK_COUNT || fn == NULL)
		return XS_ERROR;
	struct hook *nh = realloc(registry.hooks[hook], (registry.nhooks[hook] + 1) * sizeof(*nh));
	if (nh == NULL)
		return XS_ERROR;
	registry.hooks[hook] = nh;
	/* Keep the chain sorted; equal priorities run in registration order. */
	size_t i = registry.nhooks[hook];
	while (i > 0 && nh[i - 1].priority > priority) {
		nh[i] = nh[i - 1];
		i--;
	}
	nh[i] = (struct hook){ .host = dup_or_null(host), .priority = priority, .fn = fn,
	                       .arg = arg, .owner = ctx };
	registry.nhooks[hook]++;
	return XS_OK;
}

bool hooks_any(enum hook_id hook)
{
	return registry.nhooks[hook] > 0;
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
	for (size_t i = 0; i < registry.nhooks[hook]; i++) {
		struct hook *h = &registry.hooks[hook][i];
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

/* ---- IQ handlers */

int mod_iq_add(struct mod_ctx *ctx, const char *host, const char *ns, iq_fn *fn, void *arg)
{
	uint32_t b = hash_str(ns) % IQ_BUCKETS;
	for (struct iq_entry *e = registry.iq[b]; e; e = e->next) {
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
	e->next = registry.iq[b];
	registry.iq[b] = e;
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
	for (struct iq_entry *e = registry.iq[hash_str(ns) % IQ_BUCKETS]; e; e = e->next) {
		if (strcmp(e->ns, ns) != 0)
			continue;
		if (e->host == NULL)
			generic = e;
		else if (strcmp(e->host, host) == 0)
			specific = e;
	}
	/* A service domain has only the handlers registered for it. */
	struct iq_entry *e = specific ? specific : routes_is_local(host, strlen(host)) ? generic : NULL;
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

/* ---- disco features */

int mod_feature_add(struct mod_ctx *ctx, const char *host, const char *var)
{
	(void)ctx;
	struct feature *nf = realloc(registry.features, (registry.nfeatures + 1) * sizeof(*nf));
	if (nf == NULL)
		return XS_ERROR;
	registry.features = nf;
	nf[registry.nfeatures].host = dup_or_null(host);
	nf[registry.nfeatures].var = strdup(var);
	if (nf[registry.nfeatures].var == NULL)
		return XS_ERROR;
	registry.nfeatures++;
	return XS_OK;
}

size_t mod_features(const char *host, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < registry.nfeatures && n < max; i++)
		if (host_matches(registry.features[i].host, host))
			out[n++] = registry.features[i].var;
	return n;
}

/* ---- service domains */

int registry_domain_add(struct mod_ctx *ctx, const char *domain, const char *parent_host,
                        const char *name, domain_fn *fn, void *arg)
{
	(void)ctx;
	struct domain *nd = realloc(registry.domains, (registry.ndomains + 1) * sizeof(*nd));
	if (nd == NULL)
		return XS_ERROR;
	registry.domains = nd;
	struct domain *d = &nd[registry.ndomains];
	*d = (struct domain){ .domain = strdup(domain), .parent = dup_or_null(parent_host),
	                      .name = strdup(name ? name : ""), .fn = fn, .arg = arg };
	if (d->domain == NULL || d->name == NULL || (parent_host && d->parent == NULL)) {
		free(d->domain);
		free(d->parent);
		free(d->name);
		return XS_ERROR;
	}
	registry.ndomains++;
	return XS_OK;
}

static struct domain *domain_find(const char *domain, size_t len)
{
	for (size_t i = 0; i < registry.ndomains; i++)
		if (strlen(registry.domains[i].domain) == len &&
		    memcmp(registry.domains[i].domain, domain, len) == 0)
			return &registry.domains[i];
	return NULL;
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
	for (size_t i = 0; i < registry.ndomains; i++)
		if (host_matches(registry.domains[i].parent, host))
			fn(registry.domains[i].domain, registry.domains[i].name, arg);
}

void registry_clear(void)
{
	for (int h = 0; h < HOOK_COUNT; h++) {
		for (size_t i = 0; i < registry.nhooks[h]; i++)
			free(registry.hooks[h][i].host);
		free(registry.hooks[h]);
		registry.hooks[h] = NULL;
		registry.nhooks[h] = 0;
	}
	for (int b = 0; b < IQ_BUCKETS; b++) {
		while (registry.iq[b]) {
			struct iq_entry *e = registry.iq[b];
			registry.iq[b] = e->next;
			free(e->host);
			free(e->ns);
			free(e);
		}
	}
	for (size_t i = 0; i < registry.nfeatures; i++) {
		free(registry.features[i].host);
		free(registry.features[i].var);
	}
	free(registry.features);
	registry.features = NULL;
	registry.nfeatures = 0;
	for (size_t i = 0; i < registry.ndomains; i++) {
		free(registry.domains[i].domain);
		free(registry.domains[i].parent);
		free(registry.domains[i].name);
	}
	free(registry.domains);
	registry.domains = NULL;
	registry.ndomains = 0;
}

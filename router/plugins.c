/* plugins.c — modules (dlopen), hook chains, the IQ handler table and the
 * disco feature list. */
#include "router/router.h"
#include "lib/log.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mod_ctx {
	const struct xmppd_module *mod;
	void *dl;
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

#define IQ_BUCKETS 256

static struct {
	struct mod_ctx *mods;
	size_t nmods;
	struct hook *hooks[HOOK_COUNT];
	size_t nhooks[HOOK_COUNT];
	struct iq_entry *iq[IQ_BUCKETS];
	struct feature *features;
	size_t nfeatures;
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

int hooks_run(enum hook_id hook, struct hook_args *args)
{
	for (size_t i = 0; i < P.nhooks[hook]; i++) {
		struct hook *h = &P.hooks[hook][i];
		if (!host_matches(h->host, args->host))
			continue;
		int rc = h->fn(args, h->arg);
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

int iq_dispatch(const struct stz *s, const char *host)
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
	struct iq_entry *e = specific ? specific : generic;
	if (e == NULL)
		return XS_PASS;
	struct iq_req req = { .stz = s, .host = host, .payload = payload };
	return e->fn(&req, e->arg) == XS_DONE ? XS_DONE : XS_PASS;
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
		stz_b_init(b, 4 * router_cfg()->max_stanza_size + 4096);
	stz_b_reset(b);
	const struct stz *s = req->stz;
	stz_b_openz(b, "iq", STZ_NS_CLIENT);
	stz_b_attrz(b, "type", "result");
	if (s->h->id.len)
		stz_b_attrz(b, "id", stz_id(s));
	stz_b_attrz(b, "to", stz_from(s));
	stz_b_attrz(b, "from", stz_has_to(s) ? stz_to(s) : req->host);
	return b;
}

int mod_iq_result_send(struct iq_req *req)
{
	(void)req;
	struct stz_builder *b = &P.reply;
	while (stz_b_depth(b) > 0)
		if (stz_b_close(b) != XS_OK)
			break;
	if (route_built(b) != XS_OK) {
		route_error(req->stz, "internal-server-error");
		return XS_ERROR;
	}
	return XS_OK;
}

int mod_iq_error(struct iq_req *req, const char *condition)
{
	route_error(req->stz, condition);
	return XS_OK;
}

int mod_route(struct stz_builder *b)
{
	return route_built(b);
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
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.so", cfg->modules_dir, m->name);
		void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (dl == NULL) {
			log_error("module %s: %s", m->name, dlerror());
			return XS_ERROR;
		}
		const struct xmppd_module *mod = dlsym(dl, "xmppd_module");
		if (mod == NULL || mod->abi != XMPPD_MODULE_ABI || mod->init == NULL) {
			log_error("module %s: no xmppd_module descriptor of ABI %d in %s", m->name,
			          XMPPD_MODULE_ABI, path);
			dlclose(dl);
			return XS_ERROR;
		}
		struct mod_ctx *ctx = &P.mods[P.nmods];
		ctx->mod = mod;
		ctx->dl = dl;
		snprintf(ctx->name, sizeof(ctx->name), "%s", m->name);
		P.nmods++;
		if (mod->init(ctx, &m->opts) != XS_OK) {
			log_error("module %s: init failed", m->name);
			return XS_ERROR;
		}
		log_info("module %s loaded", m->name);
	}
	return XS_OK;
}

void plugins_stop(void)
{
	for (size_t i = P.nmods; i-- > 0;) {
		if (P.mods[i].mod->stop)
			P.mods[i].mod->stop(&P.mods[i]);
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
	for (size_t i = 0; i < P.nmods; i++)
		dlclose(P.mods[i].dl);
	free(P.mods);
	P.mods = NULL;
	P.nmods = 0;
	stz_b_free(&P.reply);
}

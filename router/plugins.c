/* plugins.c — loading modules (router/plugins.h). */
#include "router/plugins.h"
#include "router/api.h"
#include "router/modctx.h"
#include "router/modopts.h"
#include "router/registry.h"
#include "router/state.h"
#include "router/timer.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
	struct mod_ctx *mods;
	size_t nmods;
} plugins;

/* A module's timers go when it stops, and those armed before mark when its
 * reload succeeds (router/module.h). */
static void cancel_timers(struct mod_ctx *ctx, uint64_t mark)
{
	struct timerq *q = router_timers();
	size_t n = q ? timerq_cancel_owner_before(q, ctx, mark) : 0;
	if (n)
		log_info("module %s: %zu timer(s) cancelled", ctx->name, n);
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
	/* Outside a router (xmppd -t, the master): the settings modules read. */
	const struct cfg *before = router_cfg();
	router_cfg_set(cfg);
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
	router_cfg_set(before);
	return rc;
}

int plugins_load(const struct cfg *cfg)
{
	plugins.mods = calloc(cfg->nmodules ? cfg->nmodules : 1, sizeof(*plugins.mods));
	if (plugins.mods == NULL)
		return XS_ERROR;
	for (size_t i = 0; i < cfg->nmodules; i++) {
		const struct cfg_module *m = &cfg->modules[i];
		const struct xmppd_module *mod;
		void *dl = open_module(cfg, m, &mod);
		if (dl == NULL)
			return XS_ERROR;
		struct mod_ctx *ctx = &plugins.mods[plugins.nmods];
		ctx->mod = mod;
		ctx->dl = dl;
		snprintf(ctx->name, sizeof(ctx->name), "%s", m->name);
		plugins.nmods++;
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
	for (size_t i = 0; i < plugins.nmods; i++) {
		const struct cfg_module *m = NULL;
		for (size_t j = 0; j < cfg->nmodules && m == NULL; j++)
			if (strcmp(cfg->modules[j].name, plugins.mods[i].name) == 0)
				m = &cfg->modules[j];
		if (m == NULL)
			continue; /* removed from the file: needs a restart */
		struct mod_ctx *ctx = &plugins.mods[i];
		/* reload re-arms what it needs with its new options; a refused
		 * reload keeps the old options and the timers made for them. */
		uint64_t mark = router_timers() ? timerq_mark(router_timers()) : 0;
		int rc = modopts_reload(ctx, ctx->mod, &m->opts, cfg->path);
		if (rc == XS_OK && ctx->mod->reload)
			cancel_timers(ctx, mark);
		if (rc == XS_PASS) {
			log_info("reload: module %s has no live options", plugins.mods[i].name);
			continue;
		}
		if (rc != XS_OK)
			log_error("reload: module %s refused its new options; it keeps the old ones",
			          plugins.mods[i].name);
		else
			log_info("reload: module %s: options applied", plugins.mods[i].name);
	}
}

void plugins_stop(void)
{
	for (size_t i = plugins.nmods; i-- > 0;) {
		if (plugins.mods[i].mod->stop)
			plugins.mods[i].mod->stop(&plugins.mods[i]);
		cancel_timers(&plugins.mods[i], UINT64_MAX);
		modopts_free(plugins.mods[i].mod);
	}
	/* Every registration points into module code: forget them all before
	 * the code is unmapped. */
	registry_clear();
	for (size_t i = 0; i < plugins.nmods; i++) {
		stz_b_free(&plugins.mods[i].b);
		dlclose(plugins.mods[i].dl);
	}
	free(plugins.mods);
	plugins.mods = NULL;
	plugins.nmods = 0;
	api_free();
}

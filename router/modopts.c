/* modopts.c — a module's options through its life.  Contract:
 * router/modopts.h. */
#include "router/modopts.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <stdlib.h>
#include <string.h>

static int parse(const struct xmppd_module *mod, const struct cfg_node *opts, const char *file,
                 void *conf)
{
	struct cfgopt_run run = { .opts = mod->opts, .map = opts, .file = file,
	                          .owner = mod->name };
	if (cfgopt_parse(&run, conf) != XS_OK)
		return XS_ERROR;
	if (mod->opts_check && mod->opts_check(conf, &run) != XS_OK) {
		cfgopt_free(mod->opts, conf);
		return XS_ERROR;
	}
	return XS_OK;
}

/* A scratch struct of the module's size (one byte when it has none). */
static void *scratch(const struct xmppd_module *mod)
{
	void *p = calloc(1, mod->conf && mod->conf_size ? mod->conf_size : 1);
	if (p == NULL)
		log_error("module %s: no memory for its options", mod->name);
	return p;
}

int modopts_check(const struct xmppd_module *mod, const struct cfg_node *opts,
                  const char *file)
{
	void *conf = scratch(mod);
	if (conf == NULL)
		return XS_ERROR;
	int rc = parse(mod, opts, file, conf);
	if (rc == XS_OK)
		cfgopt_free(mod->opts, conf);
	free(conf);
	return rc;
}

int modopts_init(const struct xmppd_module *mod, const struct cfg_node *opts,
                 const char *file)
{
	if (mod->conf == NULL)
		return modopts_check(mod, opts, file);
	return parse(mod, opts, file, mod->conf);
}

int modopts_reload(struct mod_ctx *ctx, const struct xmppd_module *mod,
                   const struct cfg_node *opts, const char *file)
{
	if (mod->conf == NULL || mod->opts == NULL || mod->opts->name == NULL) {
		/* Nothing to apply; a reload function still runs (timers). */
		if (mod->reload == NULL)
			return XS_PASS;
		return mod->reload(ctx, NULL) == XS_OK ? XS_OK : XS_ERROR;
	}
	void *fresh = scratch(mod), *old = scratch(mod);
	if (fresh == NULL || old == NULL || parse(mod, opts, file, fresh) != XS_OK) {
		free(fresh);
		free(old);
		return XS_ERROR;
	}
	cfgopt_keep_running(mod->opts, fresh, mod->conf, mod->name);
	memcpy(old, mod->conf, mod->conf_size);
	memcpy(mod->conf, fresh, mod->conf_size);
	int rc = mod->reload ? mod->reload(ctx, old) : XS_OK;
	if (rc != XS_OK) {
		/* Refused: the old values come back, the new ones go. */
		memcpy(fresh, mod->conf, mod->conf_size);
		memcpy(mod->conf, old, mod->conf_size);
		memcpy(old, fresh, mod->conf_size);
	}
	cfgopt_free(mod->opts, old);
	free(fresh);
	free(old);
	return rc == XS_OK ? XS_OK : XS_ERROR;
}

void modopts_free(const struct xmppd_module *mod)
{
	if (mod->conf)
		cfgopt_free(mod->opts, mod->conf);
}

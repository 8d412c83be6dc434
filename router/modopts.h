/* modopts.h — a module's options through its life: parsed into a scratch
 * copy to check them (xmppd -t, the master's start and reload), into the
 * module's struct before init, into a new copy swapped in on a reload, freed
 * after stop.  The table and the rules are router/module.h's and
 * lib/cfgopt.h's; every error names the file, line, column and key. */
#ifndef XMPPD_ROUTER_MODOPTS_H
#define XMPPD_ROUTER_MODOPTS_H

#include "router/module.h"

/* Checks opts (the module's map in the file `file`) without touching the
 * module.  XS_OK or XS_ERROR (reported). */
int modopts_check(const struct xmppd_module *mod, const struct cfg_node *opts,
                  const char *file);
/* Fills the module's struct before init.  XS_OK or XS_ERROR (reported). */
int modopts_init(const struct xmppd_module *mod, const struct cfg_node *opts,
                 const char *file);
/* A reload: XS_OK (the new values are in place), XS_ERROR (refused: the old
 * values stay), XS_PASS (the module has neither options nor a reload
 * function).  A module without options gets reload(ctx, NULL). */
int modopts_reload(struct mod_ctx *ctx, const struct xmppd_module *mod,
                   const struct cfg_node *opts, const char *file);
/* After stop: frees what the options own. */
void modopts_free(const struct xmppd_module *mod);

#endif

/* plugins.h — loading modules (router/plugins.c): dlopen, the ABI check,
 * init, reload and stop, and the option check of xmppd -t. */
#ifndef XMPPD_ROUTER_PLUGINS_H
#define XMPPD_ROUTER_PLUGINS_H

#include "lib/cfg.h"

int plugins_load(const struct cfg *cfg);
/* Opens every configured module and runs its option check (xmppd -t, the
 * master at start, a reload), then closes it.  XS_OK or XS_ERROR (logged). */
int plugins_check(const struct cfg *cfg);
/* A reloaded config: each module with a reload function has its timers
 * cancelled, then gets its new options (the list of modules itself needs a
 * restart). */
void plugins_reload(const struct cfg *cfg);
/* Stops every module (its timers cancelled), forgets what they registered,
 * unmaps them. */
void plugins_stop(void);

#endif

/* modctx.h — what the router keeps per loaded module (private to router/:
 * modules see struct mod_ctx as opaque).  Filled by plugins.c; read by the
 * registries (names in traces) and the module API (its builder). */
#ifndef XMPPD_ROUTER_MODCTX_H
#define XMPPD_ROUTER_MODCTX_H

#include "router/module.h"

struct mod_ctx {
	const struct xmppd_module *mod;
	void *dl;
	struct stz_builder b;    /* mod_builder */
	char name[64];
};

#endif

/* ping.c — XMPP Ping (XEP-0199): the server answers <ping/> with a result. */
#include "router/module.h"
#include "lib/xmpp.h"

static int on_ping(struct iq_req *req, void *arg)
{
	(void)arg;
	if (req->stz->h->type != STZ_T_GET)
		return mod_iq_error(req, "bad-request");
	return mod_iq_result_empty(req);
}

static int ping_init(struct mod_ctx *ctx)
{
	if (mod_iq_add(ctx, NULL, NS_PING, on_ping, NULL) != XS_OK)
		return XS_ERROR;
	return mod_feature_add(ctx, NULL, NS_PING);
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "ping",
	.init = ping_init,
};

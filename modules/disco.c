/* disco.c — Service Discovery (XEP-0030).
 *
 * For the server (to = a host): #info lists the identity server/im and every
 * feature the loaded modules registered; #items lists the service domains
 * modules registered (mod_domain_add).  For an account (to = a local bare
 * JID, or no 'to': the sender's own; answered by the server on its behalf):
 * #info is the identity account/registered, or account/anonymous for the
 * account of a SASL ANONYMOUS session while it lasts, #items is empty; a
 * nonexistent account gets service-unavailable (RFC 6121 §8.5.1).  Other
 * modules extend every reply through the disco_info and disco_items hooks
 * (args->jid is the account, NULL for the server).  Nodes are not supported (item-not-found). */
#include "router/module.h"
#include "lib/jid.h"
#include "lib/xmpp.h"

#include <string.h>

#define MAX_FEATURES 256

static int add_feature(struct stz_builder *b, const char *var)
{
	if (stz_b_openz(b, "feature", NS_DISCO_INFO) != XS_OK ||
	    stz_b_attrz(b, "var", var) != XS_OK || stz_b_close(b) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

/* A service domain under this host (vjud.HOST, later conference.HOST ...). */
static void add_item(const char *domain, const char *name, void *arg)
{
	struct stz_builder *b = arg;
	if (stz_b_openz(b, "item", NS_DISCO_ITEMS) == XS_OK && stz_b_attrz(b, "jid", domain) == XS_OK &&
	    (!*name || stz_b_attrz(b, "name", name) == XS_OK))
		stz_b_close(b);
}

static int answer(struct iq_req *req, const char *ns, enum hook_id hook, bool info)
{
	const struct stz *s = req->stz;
	if (s->h->type != STZ_T_GET)
		return mod_iq_error(req, "bad-request");
	/* The server, or an account (no 'to': the sender's own). */
	const char *account = NULL;
	enum mod_account kind = MOD_ACCOUNT_NONE;
	if (!stz_has_to(s) || strcmp(stz_to(s), req->host) != 0) {
		account = stz_has_to(s) ? stz_to(s) : stz_from(s);
		char bare[JID_MAX + 1];
		if (!jid_has_node(account) || jid_bare_copy(account, bare, sizeof(bare)) < 0)
			return XS_PASS;
		if (mod_account(bare, &kind) != XS_OK)
			return mod_iq_error(req, "internal-server-error");
		if (kind == MOD_ACCOUNT_NONE)
			return XS_PASS;
	}
	const char *node = stz_attr(s, req->payload, "node");
	if (node && *node)
		return mod_iq_error(req, "item-not-found");
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", ns);
	if (rc == XS_OK && info && account) {
		rc = stz_b_openz(b, "identity", ns);
		if (rc == XS_OK)
			rc = stz_b_attrz(b, "category", "account");
		if (rc == XS_OK)
			rc = stz_b_attrz(b, "type",
			                 kind == MOD_ACCOUNT_ANONYMOUS ? "anonymous" : "registered");
		if (rc == XS_OK)
			rc = stz_b_close(b);
		if (rc == XS_OK)
			rc = add_feature(b, NS_DISCO_INFO);
	} else if (rc == XS_OK && info) {
		rc = stz_b_openz(b, "identity", ns);
		if (rc == XS_OK)
			rc = stz_b_attrz(b, "category", "server");
		if (rc == XS_OK)
			rc = stz_b_attrz(b, "type", "im");
		if (rc == XS_OK)
			rc = stz_b_attrz(b, "name", "xmppd");
		if (rc == XS_OK)
			rc = stz_b_close(b);
		const char *vars[MAX_FEATURES];
		size_t n = mod_features(req->host, vars, MAX_FEATURES);
		for (size_t i = 0; rc == XS_OK && i < n; i++)
			rc = add_feature(b, vars[i]);
	}
	if (rc == XS_OK && !info && !account)
		mod_domains(req->host, add_item, b);
	if (rc == XS_OK) {
		struct hook_args a = { .stz = s, .host = req->host, .jid = account, .out = b };
		mod_hook_run(hook, &a);
	}
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static int on_info(struct iq_req *req, void *arg)
{
	(void)arg;
	return answer(req, NS_DISCO_INFO, HOOK_DISCO_INFO, true);
}

static int on_items(struct iq_req *req, void *arg)
{
	(void)arg;
	return answer(req, NS_DISCO_ITEMS, HOOK_DISCO_ITEMS, false);
}

static int disco_init(struct mod_ctx *ctx)
{
	if (mod_iq_add(ctx, NULL, NS_DISCO_INFO, on_info, NULL) != XS_OK ||
	    mod_iq_add(ctx, NULL, NS_DISCO_ITEMS, on_items, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_DISCO_INFO) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_DISCO_ITEMS) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "disco",
	.init = disco_init,
};

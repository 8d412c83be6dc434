/* iqprobe.c — a module for the end-to-end tests only (never installed): IQ
 * handlers that break the plugin contract's easy cases on purpose, so a test
 * can see that every IQ is answered exactly once (router/module.h).
 *
 * <iq type='get'><probe xmlns='urn:xmppd:test:iqprobe' do='WHAT'/></iq>, WHAT:
 *   too-large       a result larger than any stanza may be: sending it fails
 *                   (the client must get one internal-server-error, nothing else)
 *   answer-then-pass  an empty result, then the handler declines anyway (one
 *                   result, no service-unavailable after it)
 *   decline         declines without answering (one service-unavailable) */
#include "router/module.h"

#include <stdlib.h>
#include <string.h>

#define NS_IQPROBE "urn:xmppd:test:iqprobe"

/* Text past the builder's bound: the builder refuses it and stays refused. */
static int too_large(struct iq_req *req)
{
	size_t n = mod_max_encoded() + 1;
	char *text = malloc(n);
	if (text == NULL)
		return mod_iq_error(req, "internal-server-error");
	memset(text, 'x', n);
	struct stz_builder *b = mod_iq_result_begin(req);
	if (stz_b_openz(b, "probe", NS_IQPROBE) == XS_OK)
		(void)stz_b_text(b, text, n); /* fails: what mod_iq_result_send must handle */
	free(text);
	return mod_iq_result_send(req);
}

static int on_probe(struct iq_req *req, void *arg)
{
	(void)arg;
	const char *what = stz_attr(req->stz, req->payload, "do");
	if (what == NULL)
		return mod_iq_error(req, "bad-request");
	if (strcmp(what, "too-large") == 0)
		return too_large(req);
	if (strcmp(what, "answer-then-pass") == 0) {
		mod_iq_result_empty(req);
		return XS_PASS;
	}
	if (strcmp(what, "decline") == 0)
		return XS_PASS;
	return mod_iq_error(req, "bad-request");
}

static int iqprobe_init(struct mod_ctx *ctx)
{
	return mod_iq_add(ctx, NULL, NS_IQPROBE, on_probe, NULL);
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "iqprobe",
	.init = iqprobe_init,
};

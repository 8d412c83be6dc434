/* time.c — Entity Time (XEP-0202) of the server.
 *
 * <iq type='get' to=HOST><time xmlns='urn:xmpp:time'/></iq> ->
 *   <time xmlns='urn:xmpp:time'><tzo>+00:00</tzo><utc>YYYY-MM-DDThh:mm:ss.sssZ</utc></time>
 * The server speaks UTC (tzo +00:00), whatever the host's zone.  To an
 * account's bare JID (or without 'to'): service-unavailable (clients answer
 * for themselves at their full JIDs).  Type set: not-allowed (get-only).
 *
 * Options: none.  Storage: none. */
#include "router/module.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define NS_TIME "urn:xmpp:time"

/* XEP-0082 DateTime in UTC with milliseconds. */
static int utc_now(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL)
		return XS_ERROR;
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0 || snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000) >= (int)(cap - n))
		return XS_ERROR;
	return XS_OK;
}

static int text_child(struct stz_builder *b, const char *name, const char *text)
{
	return xmpp_b_text_elem(b, name, NS_TIME, text, strlen(text));
}

static int on_time(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	const char *refused = xmpp_server_get_error(s);
	if (refused)
		return mod_iq_error(req, refused);
	char utc[48];
	if (utc_now(utc, sizeof(utc)) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	struct stz_builder *b = mod_iq_result_begin(req);
	if (stz_b_openz(b, "time", NS_TIME) != XS_OK || text_child(b, "tzo", "+00:00") != XS_OK ||
	    text_child(b, "utc", utc) != XS_OK || stz_b_close(b) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static int time_init(struct mod_ctx *ctx)
{
	if (mod_iq_add(ctx, NULL, NS_TIME, on_time, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_TIME) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "time",
	.init = time_init,
};

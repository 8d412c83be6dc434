/* version.c — Software Version (XEP-0092) of the server.
 *
 * <iq type='get' to=HOST><query xmlns='jabber:iq:version'/></iq> ->
 *   <query><name>xmppd</name><version>XMPPD_VERSION</version>[<os>...</os>]</query>
 * <os/> (uname: system name and release) only with `show_os: true`: the
 * operating system tells an attacker which exploits to try (XEP-0092 §6).
 * To an account's bare JID (or without 'to', the sender's own account):
 * service-unavailable; an account has no server-side version.  Type set:
 * not-allowed (the namespace is get-only; ejabberd answers the same).
 *
 * Options (modules: {version: {...}}):
 *   show_os: true|false   [false]
 * Storage: none. */
#include "router/module.h"
#include "lib/version.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#define NS_VERSION "jabber:iq:version"

struct opts {
	bool show_os;
};

static const struct cfgopt OPTS[] = {
	CFGOPT_BOOL("show_os", struct opts, show_os, false),
	CFGOPT_END
};

static struct {
	struct opts o;
	char os[2 * sizeof(((struct utsname *)0)->release) + 2];
} M;

static int text_child(struct stz_builder *b, const char *name, const char *text)
{
	return xmpp_b_text_elem(b, name, NS_VERSION, text, strlen(text));
}

static int on_version(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	const char *refused = xmpp_server_get_error(s);
	if (refused)
		return mod_iq_error(req, refused);
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_VERSION);
	if (rc == XS_OK)
		rc = text_child(b, "name", "xmppd");
	if (rc == XS_OK)
		rc = text_child(b, "version", XMPPD_VERSION);
	if (rc == XS_OK && M.o.show_os && M.os[0] != '\0')
		rc = text_child(b, "os", M.os);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static void read_os(void)
{
	struct utsname u;
	M.os[0] = '\0';
	if (uname(&u) == 0)
		snprintf(M.os, sizeof(M.os), "%.64s %.64s", u.sysname, u.release);
	else
		log_warn("version: uname failed; <os/> left out");
}

static int version_init(struct mod_ctx *ctx)
{
	read_os();
	if (mod_iq_add(ctx, NULL, NS_VERSION, on_version, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_VERSION) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "version",
	.init = version_init,
	.opts = OPTS,
	.conf = &M.o,
	.conf_size = sizeof(M.o),
};

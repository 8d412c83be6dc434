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

static struct {
	bool show_os;
	char os[2 * sizeof(((struct utsname *)0)->release) + 2];
} M;

static int parse_opts(const struct cfg_node *opts, bool *show_os)
{
	*show_os = false;
	if (opts == NULL || opts->kind != CFG_MAP)
		return XS_OK;
	const char *path = mod_cfg() ? mod_cfg()->path : "config";
	for (size_t i = 0; i < opts->nchildren; i++) {
		const struct cfg_node *n = &opts->children[i];
		if (strcmp(n->key, "show_os") != 0) {
			log_error("%s:%d:%d: module 'version': unknown option '%s'", path, n->key_line,
			          n->key_col, n->key);
			return XS_ERROR;
		}
		if (n->kind == CFG_SCALAR && strcmp(n->value, "true") == 0) {
			*show_os = true;
		} else if (n->kind == CFG_SCALAR && strcmp(n->value, "false") == 0) {
			*show_os = false;
		} else {
			log_error("%s:%d:%d: module 'version': option 'show_os': expected true or false",
			          path, n->line, n->col);
			return XS_ERROR;
		}
	}
	return XS_OK;
}

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
	if (rc == XS_OK && M.show_os && M.os[0] != '\0')
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

static int version_check(const struct cfg_node *opts)
{
	bool show_os;
	return parse_opts(opts, &show_os);
}

static int version_init(struct mod_ctx *ctx, const struct cfg_node *opts)
{
	if (parse_opts(opts, &M.show_os) != XS_OK)
		return XS_ERROR;
	read_os();
	if (mod_iq_add(ctx, NULL, NS_VERSION, on_version, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_VERSION) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

static int version_reload(struct mod_ctx *ctx, const struct cfg_node *opts)
{
	(void)ctx;
	bool show;
	if (parse_opts(opts, &show) != XS_OK)
		return XS_ERROR;
	M.show_os = show;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "version",
	.init = version_init,
	.check = version_check,
	.reload = version_reload,
};

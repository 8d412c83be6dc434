/* vjud.c — the directory service domains (vjud.h). */
#include "modules/vcard/vjud.h"
#include "modules/vcard/fields.h"
#include "modules/vcard/index.h"
#include "modules/vcard/iq.h"
#include "modules/vcard/search.h"
#include "modules/vcard/state.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <stdlib.h>
#include <string.h>

static struct vjud *vjuds;
static size_t nvjuds;

/* vcard-temp to a directory service: describes the service. */
static int on_vjud_vcard(struct iq_req *req, void *arg)
{
	(void)arg;
	if (req->stz->h->type != STZ_T_GET)
		return mod_iq_error(req, "not-allowed");
	return vcard_reply_plain(req, vcard_state.opts.name, "xmppd user directory (XEP-0055)");
}

/* The error a disco request to the directory gets, or NULL: get only, and
 * the service has no nodes. */
static const char *disco_refusal(const struct iq_req *req)
{
	if (req->stz->h->type != STZ_T_GET)
		return "bad-request";
	const char *node = stz_attr(req->stz, req->payload, "node");
	return node && *node ? "item-not-found" : NULL;
}

static int on_vjud_info(struct iq_req *req, void *arg)
{
	(void)arg;
	const char *refused = disco_refusal(req);
	if (refused)
		return mod_iq_error(req, refused);
	static const char *const features[] = { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_SEARCH, NS_VCARD };
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_DISCO_INFO);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "identity", NS_DISCO_INFO);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "category", "directory");
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "user");
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "name", vcard_state.opts.name);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	for (size_t i = 0; rc == XS_OK && i < XS_ARRAY_LEN(features); i++) {
		rc = stz_b_openz(b, "feature", NS_DISCO_INFO);
		if (rc == XS_OK)
			rc = stz_b_attrz(b, "var", features[i]);
		if (rc == XS_OK)
			rc = stz_b_close(b);
	}
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static int on_vjud_items(struct iq_req *req, void *arg)
{
	(void)arg;
	const char *refused = disco_refusal(req);
	if (refused)
		return mod_iq_error(req, refused);
	struct stz_builder *b = mod_iq_result_begin(req);
	if (stz_b_openz(b, "query", NS_DISCO_ITEMS) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

/* search_host with @HOST@ replaced by host, prepared.  NULL on error (logged). */
static char *vjud_domain(const char *pattern, const char *host)
{
	char raw[1100];
	size_t n = 0, hl = strlen(host);
	for (const char *p = pattern; *p;) {
		if (strncmp(p, "@HOST@", 6) == 0) {
			if (n + hl >= sizeof(raw))
				goto bad;
			memcpy(raw + n, host, hl);
			n += hl;
			p += 6;
		} else {
			if (n + 1 >= sizeof(raw))
				goto bad;
			raw[n++] = *p++;
		}
	}
	raw[n] = '\0';
	char out[JID_PART_MAX + 1];
	if (jid_nameprep(raw, n, out, sizeof(out)) != XS_OK)
		goto bad;
	return strdup(out);
bad:
	log_error("module vcard: search_host '%s' gives no valid domain for host %s", pattern, host);
	return NULL;
}

static int vjud_add(const char *host)
{
	if (strlen(host) > HOST_KEY_MAX) {
		log_error("module vcard: host %s is too long for the search index", host);
		return XS_ERROR;
	}
	struct vjud *nv = realloc(vjuds, (nvjuds + 1) * sizeof(*nv));
	if (nv == NULL)
		return XS_ERROR;
	vjuds = nv;
	struct vjud *vj = &nv[nvjuds];
	vj->domain = vjud_domain(vcard_state.opts.search_host, host);
	vj->host = strdup(host);
	if (vj->domain == NULL || vj->host == NULL) {
		free(vj->domain);
		free(vj->host);
		return XS_ERROR;
	}
	nvjuds++;
	return XS_OK;
}

static int vjud_register(struct mod_ctx *ctx, struct vjud *vj)
{
	if (mod_domain_add(ctx, vj->domain, vj->host, vcard_state.opts.name, NULL, NULL) != XS_OK ||
	    mod_iq_add(ctx, vj->domain, NS_SEARCH, search_iq, vj) != XS_OK ||
	    mod_iq_add(ctx, vj->domain, NS_DISCO_INFO, on_vjud_info, vj) != XS_OK ||
	    mod_iq_add(ctx, vj->domain, NS_DISCO_ITEMS, on_vjud_items, vj) != XS_OK ||
	    mod_iq_add(ctx, vj->domain, NS_VCARD, on_vjud_vcard, vj) != XS_OK) {
		log_error("module vcard: cannot serve the search domain %s", vj->domain);
		return XS_ERROR;
	}
	return XS_OK;
}

int vjud_start(struct mod_ctx *ctx, const char *const *hosts, size_t nhosts)
{
	for (size_t i = 0; i < nhosts; i++)
		if (vjud_add(hosts[i]) != XS_OK)
			return XS_ERROR;
	/* Registered once the array no longer moves: handlers keep pointers. */
	for (size_t i = 0; i < nvjuds; i++)
		if (vjud_register(ctx, &vjuds[i]) != XS_OK)
			return XS_ERROR;
	return XS_OK;
}

void vjud_stop(void)
{
	for (size_t i = 0; i < nvjuds; i++) {
		free(vjuds[i].domain);
		free(vjuds[i].host);
	}
	free(vjuds);
	vjuds = NULL;
	nvjuds = 0;
}

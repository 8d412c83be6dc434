/* xmpp.c — stanza error replies (RFC 6120 §8.3) and small stanza helpers. */
#include "lib/xmpp.h"
#include "lib/jid.h"
#include "lib/xs.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *cond, *type;
} error_types[] = {
	{ "bad-request", "modify" }, { "conflict", "cancel" },
	{ "feature-not-implemented", "cancel" }, { "forbidden", "auth" },
	{ "gone", "cancel" }, { "internal-server-error", "wait" },
	{ "item-not-found", "cancel" }, { "jid-malformed", "modify" },
	{ "not-acceptable", "modify" }, { "not-allowed", "cancel" },
	{ "not-authorized", "auth" }, { "policy-violation", "modify" },
	{ "recipient-unavailable", "wait" }, { "redirect", "modify" },
	{ "registration-required", "auth" }, { "remote-server-not-found", "cancel" },
	{ "remote-server-timeout", "wait" }, { "resource-constraint", "wait" },
	{ "service-unavailable", "cancel" }, { "subscription-required", "auth" },
	{ "undefined-condition", "cancel" }, { "unexpected-request", "wait" },
};

const char *xmpp_error_type(const char *condition)
{
	for (size_t i = 0; i < XS_ARRAY_LEN(error_types); i++)
		if (strcmp(error_types[i].cond, condition) == 0)
			return error_types[i].type;
	return "cancel";
}

bool xmpp_may_answer_error(const struct stz *orig)
{
	uint8_t t = orig->h->type;
	return t != STZ_T_ERROR && !(orig->h->kind == STZ_IQ && t == STZ_T_RESULT);
}

static int build_error(struct stz_builder *b, const struct stz *orig, const char *server,
                       const char *condition, const char *type, const char *app,
                       const char *app_ns, const char *text, bool echo);

int xmpp_error_reply_ext(struct stz_builder *b, const struct stz *orig, const char *server,
                         const char *condition, const char *type, const char *app,
                         const char *app_ns, const char *text)
{
	return build_error(b, orig, server, condition, type, app, app_ns, text, true);
}

int xmpp_error_reply_bare(struct stz_builder *b, const struct stz *orig, const char *server,
                          const char *condition, const char *text)
{
	return build_error(b, orig, server, condition, NULL, NULL, NULL, text, false);
}

static int build_error(struct stz_builder *b, const struct stz *orig, const char *server,
                       const char *condition, const char *type, const char *app,
                       const char *app_ns, const char *text, bool echo)
{
	stz_b_reset(b);
	const struct stz_node *root = &orig->nodes[0];
	const char *from = stz_has_to(orig) ? stz_to(orig) : server;
	if (stz_b_open(b, stz_str(orig, root->name), root->name.len, STZ_NS_CLIENT,
	               strlen(STZ_NS_CLIENT)) != XS_OK)
		return XS_ERROR;
	if (orig->h->from.len && stz_b_attrz(b, "to", stz_from(orig)) != XS_OK)
		return XS_ERROR;
	if (from && *from && stz_b_attrz(b, "from", from) != XS_OK)
		return XS_ERROR;
	if (orig->h->id.len && stz_b_attrz(b, "id", stz_id(orig)) != XS_OK)
		return XS_ERROR;
	if (stz_b_attrz(b, "type", "error") != XS_OK)
		return XS_ERROR;
	for (uint32_t c = stz_first_child(orig, 0); echo && c; c = stz_next_sibling(orig, 0, c))
		if (!orig->nodes[c].is_text && stz_b_copy(b, orig, c) != XS_OK)
			return XS_ERROR;
	if (stz_b_openz(b, "error", STZ_NS_CLIENT) != XS_OK ||
	    stz_b_attrz(b, "type", type ? type : xmpp_error_type(condition)) != XS_OK ||
	    stz_b_openz(b, condition, STZ_NS_STANZAS) != XS_OK || stz_b_close(b) != XS_OK)
		return XS_ERROR;
	if (text && (stz_b_openz(b, "text", STZ_NS_STANZAS) != XS_OK ||
	             stz_b_attr(b, "lang", 4, STZ_NS_XML, strlen(STZ_NS_XML), "en", 2) != XS_OK ||
	             stz_b_text(b, text, strlen(text)) != XS_OK || stz_b_close(b) != XS_OK))
		return XS_ERROR;
	if (app && app_ns && (stz_b_openz(b, app, app_ns) != XS_OK || stz_b_close(b) != XS_OK))
		return XS_ERROR;
	if (stz_b_close(b) != XS_OK || stz_b_close(b) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

int xmpp_error_reply(struct stz_builder *b, const struct stz *orig, const char *server,
                     const char *condition)
{
	return xmpp_error_reply_ext(b, orig, server, condition, NULL, NULL, NULL, NULL);
}

int xmpp_from_account(const struct stz *s, char *out, size_t cap)
{
	if (s->h->from.len == 0 || !jid_has_node(stz_from(s)))
		return -1;
	return jid_bare_copy(stz_from(s), out, cap);
}

int32_t xmpp_presence_priority(const struct stz *s)
{
	uint32_t n = stz_child(s, 0, "priority", STZ_NS_CLIENT);
	if (n == 0)
		return 0;
	long v = strtol(stz_text(s, n), NULL, 10);
	return v < -128 ? -128 : v > 127 ? 127 : (int32_t)v;
}

const char *xmpp_server_get_error(const struct stz *iq)
{
	if (iq->h->type != STZ_T_GET)
		return "not-allowed";
	const char *to = stz_to(iq);
	if (*to == '\0' || strchr(to, '@') != NULL)
		return "service-unavailable";
	return NULL;
}

int xmpp_b_text_elem(struct stz_builder *b, const char *name, const char *ns, const char *text,
                     size_t len)
{
	if (stz_b_openz(b, name, ns) != XS_OK || stz_b_text(b, text, len) != XS_OK)
		return XS_ERROR;
	return stz_b_close(b);
}

/* carbons.c — Message Carbons (XEP-0280, urn:xmpp:carbons:2).
 *
 * A session turns carbons on with <iq type='set'><enable/></iq> and off with
 * <disable/> (no 'to', or its own bare JID; another account's JID gets
 * <not-allowed/>, as XEP-0280 "Enabling/Disabling Carbons" recommend).  The
 * state is the session's MOD_SESS_CARBONS flag, kept in the session table (it
 * survives a router restart and ends with the session).  Enabling or
 * disabling twice is not an error ("Handling Multiple Enable/Disable
 * Requests").
 *
 * Which messages are copied ("Messages Eligible for Carbons Delivery"): type
 * chat, or type normal with a <body/>; never error, groupchat or headline;
 * never one that holds <private xmlns='urn:xmpp:carbons:2'/> ("Avoiding
 * Carbons"), <no-copy xmlns='urn:xmpp:hints'/> (XEP-0334), a carbon of its own
 * (<received/> or <sent/>: a client must not make the server copy forged
 * carbons) or <x xmlns='http://jabber.org/protocol/muc#user'/> (a MUC private
 * message: "not eligible if sent by a MUC room or service").
 *
 *   received ("Receiving Messages"): after a message was handed to sessions
 *     of a local account (HOOK_MESSAGE_DELIVERED), every other carbons session
 *     of that account gets <message from=BARE to=FULL type=T><received
 *     xmlns=carbons:2><forwarded xmlns='urn:xmpp:forward:0'>original
 *     </forwarded></received></message>.  The sending session is skipped
 *     when the account writes to itself: it knows what it sent.
 *   sent ("Sending Messages"): a message a local session sends goes as
 *     <sent/> to every other carbons session of the sender's account —
 *     whether or not the sender enabled carbons.  This runs in
 *     HOOK_FILTER_PACKET at a priority after the other filters (for a stanza
 *     a client sent: conn != 0), so a message a filter refuses (to a blocked
 *     JID) is not copied as sent.  Not for a message to the sender's own
 *     account (no 'to', its bare JID or another of its resources): those are
 *     delivered to the account's sessions and copied as received messages
 *     there, so a <sent/> copy would be a duplicate.
 * Copies go straight to the sessions (mod_deliver): they are not routed.
 *
 * Cost for those without carbons: nothing for a message that is not
 * eligible; for an eligible one, one visit of the account's sessions (the
 * session table, in memory); a copy is built only for a session other than
 * the recipients that has the flag.
 *
 * Not done: stripping <private/> from the message delivered to the
 * recipient (a SHOULD of "Avoiding Carbons") — a module cannot rewrite a
 * stanza that the core delivers.
 *
 * Options: none.  Storage: none (the session flag). */
#include "router/module.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <string.h>

#define NS_CARBONS  "urn:xmpp:carbons:2"
#define NS_FORWARD  "urn:xmpp:forward:0"
#define NS_HINTS    "urn:xmpp:hints"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"

static struct {
	struct mod_ctx *ctx;
} M;

/* ---- enable / disable */

static int on_carbons(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	if (req->preauth_conn != 0 || s->h->from.len == 0)
		return mod_iq_error(req, "not-allowed");
	const char *from = stz_from(s);
	size_t blen = jid_bare_len(from);
	if (from[blen] != '/')
		return mod_iq_error(req, "not-allowed"); /* only a session can have carbons */
	if (stz_has_to(s) && (strlen(stz_to(s)) != blen || memcmp(stz_to(s), from, blen) != 0))
		return mod_iq_error(req, "not-allowed");
	if (s->h->type != STZ_T_SET)
		return mod_iq_error(req, "bad-request");
	uint8_t set = 0, clear = 0;
	if (stz_node_is(s, req->payload, "enable", NS_CARBONS))
		set = MOD_SESS_CARBONS;
	else if (stz_node_is(s, req->payload, "disable", NS_CARBONS))
		clear = MOD_SESS_CARBONS;
	else
		return mod_iq_error(req, "bad-request");
	if (mod_session_flags(from, set, clear) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_empty(req);
}

/* ---- which messages */

static bool eligible(const struct stz *s)
{
	if (s->h->kind != STZ_MESSAGE)
		return false;
	uint8_t t = s->h->type;
	if (t != STZ_T_CHAT && t != STZ_T_NORMAL && t != STZ_T_NONE)
		return false;
	bool body = false;
	for (uint32_t c = stz_first_child(s, 0); c; c = stz_next_sibling(s, 0, c)) {
		if (s->nodes[c].is_text)
			continue;
		const char *ns = stz_str(s, s->nodes[c].ns);
		if (strcmp(ns, NS_CARBONS) == 0)
			return false;     /* private, received, sent */
		if (strcmp(ns, NS_HINTS) == 0 && stz_node_is(s, c, "no-copy", NULL))
			return false;
		if (strcmp(ns, NS_MUC_USER) == 0 && stz_node_is(s, c, "x", NULL))
			return false;
		if (strcmp(ns, STZ_NS_CLIENT) == 0 && stz_node_is(s, c, "body", NULL))
			body = true;
	}
	return t == STZ_T_CHAT || body;
}

/* ---- copies */

struct copy_job {
	const struct stz *msg;
	const char *bare;
	const char *verb;          /* "received" or "sent" */
	const char *skip_full;     /* a session that gets no copy (or NULL) */
	const uint64_t *skip;      /* sessions that got the original */
	uint32_t nskip;
	uint32_t sent;
};

static int build_copy(struct stz_builder *b, const struct copy_job *j, const char *to)
{
	int rc = stz_b_openz(b, "message", STZ_NS_CLIENT);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "from", j->bare);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "to", to);
	if (rc == XS_OK && j->msg->h->type != STZ_T_NONE)
		rc = stz_b_attrz(b, "type", stz_type_name(j->msg->h->type));
	if (rc == XS_OK)
		rc = stz_b_openz(b, j->verb, NS_CARBONS);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "forwarded", NS_FORWARD);
	if (rc == XS_OK)
		rc = stz_b_copy(b, j->msg, 0);
	while (rc == XS_OK && stz_b_depth(b) > 0)
		rc = stz_b_close(b);
	return rc;
}

static bool copy_visit(const struct mod_session *ms, void *arg)
{
	struct copy_job *j = arg;
	if (!(ms->flags & MOD_SESS_CARBONS))
		return true;
	for (uint32_t i = 0; i < j->nskip; i++)
		if (j->skip[i] == ms->conn)
			return true;
	if (j->skip_full && strcmp(ms->full, j->skip_full) == 0)
		return true;
	struct stz_builder *b = mod_builder(M.ctx);
	if (build_copy(b, j, ms->full) != XS_OK || mod_deliver_built(&ms->conn, 1, b) != XS_OK)
		log_warn("carbons: cannot copy a message to %s", ms->full);
	else
		j->sent++;
	return true;
}

/* Received: the account's other carbons sessions get a copy. */
static int on_delivered(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || a->jid == NULL || !eligible(s))
		return XS_PASS;
	struct copy_job j = { .msg = s, .bare = a->jid, .verb = "received", .skip = a->conns,
	                      .nskip = a->nconns };
	/* A message of the account to itself: its sender needs no copy. */
	const char *from = stz_from(s);
	size_t blen = strlen(a->jid);
	if (jid_bare_len(from) == blen && memcmp(from, a->jid, blen) == 0 && from[blen] == '/')
		j.skip_full = from;
	mod_sessions(a->jid, copy_visit, &j);
	return XS_PASS;
}

/* Sent: the sender's other carbons sessions get a copy.  A filter hook that
 * runs after the others (blocking's among them), so a message that a filter
 * refuses is not copied: the copy says the message went out. */
static int on_filter(struct hook_args *a, void *arg)
{
	(void)arg;
	const struct stz *s = a->stz;
	if (s == NULL || s->h->conn == 0 || s->h->kind != STZ_MESSAGE || !stz_has_to(s))
		return XS_PASS; /* conn 0: made by the server, not sent by a client */
	const char *from = stz_from(s), *to = stz_to(s);
	size_t blen = jid_bare_len(from);
	if (from[blen] != '/' || blen >= JID_MAX)
		return XS_PASS;
	if (jid_bare_len(to) == blen && memcmp(to, from, blen) == 0)
		return XS_PASS; /* to the sender's own account: copied as received there */
	if (!eligible(s))
		return XS_PASS;
	char bare[JID_MAX + 1];
	memcpy(bare, from, blen);
	bare[blen] = '\0';
	const char *at = memchr(bare, '@', blen);
	if (at == NULL || !mod_is_local_host(at + 1))
		return XS_PASS;
	struct copy_job j = { .msg = s, .bare = bare, .verb = "sent", .skip_full = from };
	mod_sessions(bare, copy_visit, &j);
	return XS_PASS;
}

/* ---- module */

static int carbons_init(struct mod_ctx *ctx)
{
	M.ctx = ctx;
	if (mod_iq_add(ctx, NULL, NS_CARBONS, on_carbons, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_CARBONS) != XS_OK ||
	    mod_hook_add(ctx, HOOK_MESSAGE_DELIVERED, NULL, 50, on_delivered, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_FILTER_PACKET, NULL, 1000, on_filter, NULL) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "carbons",
	.init = carbons_init,
};

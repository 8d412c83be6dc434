/* sasl.c — SASL in the worker (RFC 6120 §6): PLAIN (RFC 4616) and
 * SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677) against the salted keys
 * of the users table.  An unknown user runs SCRAM to the end with fake
 * credentials, so the answer does not tell whether the account exists. */
#include "workers/client.h"
#include "workers/ctx.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/scram.h"
#include "lib/users.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SASL_DATA_MAX 8192 /* decoded bytes of one SASL message */

enum mech {
	MECH_PLAIN = 1, MECH_SCRAM_SHA1, MECH_SCRAM_SHA256,
	MECH_SCRAM_SHA1_PLUS, MECH_SCRAM_SHA256_PLUS, MECH_ANONYMOUS,
};

struct sasl {
	enum mech mech;
	bool started;             /* the initial response arrived */
	struct scram_server scram;
};

/* Channel-binding types, in order of preference (RFC 9266 over RFC 5929).
 * tls-unique exists only on TLS 1.2 (see tls.c). */
static const char *const cb_types[] = { "tls-exporter", "tls-server-end-point", "tls-unique" };

/* The transport's binding data of a type; XS_ERROR when it has none. */
static int channel_binding(struct client *c, const char *type, uint8_t **out, size_t *len)
{
	const struct transport *t = &c->conn.tp;
	if (t->ops->channel_binding == NULL)
		return XS_ERROR;
	return t->ops->channel_binding(t->state, type, out, len);
}

/* Whether this TLS session can give the binding of a type (tls-exporter
 * needs TLS 1.3 or the extended master secret). */
static bool cb_usable(struct client *c, const char *type)
{
	uint8_t *d;
	size_t n;
	if (!c->conn.secure || channel_binding(c, type, &d, &n) != XS_OK)
		return false;
	free(d);
	return true;
}

static bool plus_offered(struct client *c)
{
	for (size_t i = 0; i < XS_ARRAY_LEN(cb_types); i++)
		if (cb_usable(c, cb_types[i]))
			return true;
	return false;
}

/* Whether the GS2 flag "y" ("I can bind, but you cannot") is a downgrade.
 * RFC 5802 §6 refuses it whenever the server offers -PLUS, which assumed a
 * single binding every client knows: tls-unique, SCRAM's default (RFC 5802
 * §6.1, RFC 5929).  With several types that no longer holds.  On TLS 1.3
 * tls-unique does not exist (RFC 8446 §C.5, RFC 9266), so a client that
 * implements channel binding as RFC 5802 wrote it (Debian's slixmpp 1.8.3:
 * tls-unique only) honestly finds no binding it can use among those we
 * offer, and says "y": refusing it would lock it out, or push it to PLAIN.
 * Where tls-unique is offered (TLS 1.2 with the extended master secret),
 * every client that can bind at all could have bound, so "y" there means
 * the -PLUS mechanisms were stripped on the way: refused.  Prosody 0.12
 * offers -PLUS only with tls-unique (never on TLS 1.3) and refuses "y"
 * where it does; ejabberd 23.01 takes "y" always.  What stays open is a
 * TLS 1.3 client that knows tls-exporter, facing an attacker who can
 * terminate its TLS and strip -PLUS: only the client can see that (XEP-0474
 * is the protocol for it). */
static bool y_is_downgrade(struct client *c)
{
	return cb_usable(c, "tls-unique");
}

static bool host_anonymous(struct client *c)
{
	for (size_t i = 0; i < worker.cfg->nhosts; i++)
		if (strcmp(worker.cfg->hosts[i], c->host) == 0)
			return worker.cfg->host_anonymous[i];
	return false;
}

static const struct {
	const char *name;
	enum mech mech;
} mechs[] = {
	{ "SCRAM-SHA-256-PLUS", MECH_SCRAM_SHA256_PLUS },
	{ "SCRAM-SHA-1-PLUS", MECH_SCRAM_SHA1_PLUS },
	{ "SCRAM-SHA-256", MECH_SCRAM_SHA256 },
	{ "SCRAM-SHA-1", MECH_SCRAM_SHA1 },
	{ "PLAIN", MECH_PLAIN },
	{ "ANONYMOUS", MECH_ANONYMOUS },
};

/* What this connection may use: -PLUS only inside TLS with a binding to
 * offer, PLAIN only inside TLS unless the listener allows it in the clear,
 * ANONYMOUS only on hosts that enable it. */
static bool mech_offered(struct client *c, enum mech m, bool plus)
{
	switch (m) {
	case MECH_SCRAM_SHA1_PLUS:
	case MECH_SCRAM_SHA256_PLUS:
		return plus;
	case MECH_PLAIN:
		return c->conn.secure || c->conn.lst->allow_plaintext_auth;
	case MECH_ANONYMOUS:
		return host_anonymous(c);
	default:
		return true;
	}
}

static void sasl_append(struct conn *conn)
{
	struct client *c = client_of(conn);
	bool plus = plus_offered(c);
	conn_writez(&c->conn, "<mechanisms xmlns='" NS_SASL "'>");
	for (size_t i = 0; i < XS_ARRAY_LEN(mechs); i++) {
		if (!mech_offered(c, mechs[i].mech, plus))
			continue;
		conn_writez(&c->conn, "<mechanism>");
		conn_writez(&c->conn, mechs[i].name);
		conn_writez(&c->conn, "</mechanism>");
	}
	conn_writez(&c->conn, "</mechanisms>");
	if (!plus)
		return;
	/* XEP-0440: which bindings a -PLUS client can ask for. */
	conn_writez(&c->conn, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
	for (size_t i = 0; i < XS_ARRAY_LEN(cb_types); i++) {
		if (!cb_usable(c, cb_types[i]))
			continue;
		conn_writez(&c->conn, "<channel-binding type='");
		conn_writez(&c->conn, cb_types[i]);
		conn_writez(&c->conn, "'/>");
	}
	conn_writez(&c->conn, "</sasl-channel-binding>");
}

const struct feature client_feature_sasl = {
	.name = "sasl",
	.stages = FEATURE_BEFORE_AUTH,
	.append = sasl_append,
};

void sasl_free(struct client *c)
{
	if (c->sasl) {
		explicit_bzero(c->sasl, sizeof(*c->sasl));
		free(c->sasl);
		c->sasl = NULL;
	}
}

/* <failure/> with a condition and, when text is set, a <text/> (RFC 6120
 * §6.4.5); the client may try again. */
static enum sasl_result fail_text(struct client *c, const char *condition, const char *text)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "<failure xmlns='" NS_SASL "'><%s/>%s%s%s</failure>", condition,
	         text ? "<text xml:lang='en'>" : "", text ? text : "", text ? "</text>" : "");
	conn_writez(&c->conn, msg);
	log_info("%s: SASL failure %s%s%s", c->conn.peer, condition, text ? ": " : "", text ? text : "");
	sasl_free(c);
	return SASL_CONTINUE;
}

static enum sasl_result fail(struct client *c, const char *condition)
{
	return fail_text(c, condition, NULL);
}

/* Credentials that did not verify.  RFC 6120 §6.4.5: a few retries, then
 * policy-violation.  Only these count: a client feeling its way through
 * mechanisms or channel-binding types it cannot use is not guessing
 * passwords. */
static enum sasl_result fail_auth(struct client *c)
{
	fail(c, "not-authorized");
	unsigned max = worker.cfg->limits.max_auth_failures;
	if (max && ++c->auth_failures >= max)
		return SASL_ABUSE;
	return SASL_CONTINUE;
}

/* Sends <challenge/> or <success/> with base64 data (none when len is 0). */
static void send_b64(struct client *c, const char *elem, const char *data, size_t len)
{
	char b64[4096];
	int n = len ? scram_b64_encode((const uint8_t *)data, len, b64, sizeof(b64)) : 0;
	if (n < 0)
		n = 0;
	char head[80];
	snprintf(head, sizeof(head), "<%s xmlns='" NS_SASL "'>", elem);
	conn_writez(&c->conn, head);
	conn_write(&c->conn, b64, (size_t)n);
	snprintf(head, sizeof(head), "</%s>", elem);
	conn_writez(&c->conn, head);
}

static enum sasl_result succeed(struct client *c, const char *user, const char *extra)
{
	free(c->user);
	c->user = strdup(user);
	if (c->user == NULL)
		return SASL_ERROR;
	send_b64(c, "success", extra ? extra : "", extra ? strlen(extra) : 0);
	const char *mname = "?";
	for (size_t i = 0; i < XS_ARRAY_LEN(mechs); i++)
		if (mechs[i].mech == c->sasl->mech)
			mname = mechs[i].name;
	log_info("%s: authenticated %s@%s (%s)", c->conn.peer, user, c->host, mname);
	sasl_free(c);
	return SASL_SUCCESS;
}

/* Looks the user up; XS_OK with creds, XS_PASS for no such user. */
static int lookup(struct client *c, const char *user, struct scram_creds *creds)
{
	char bare[JID_MAX + 1];
	snprintf(bare, sizeof(bare), "%s@%s", user, c->host);
	MDB_txn *txn = worker_rtxn();
	if (txn == NULL)
		return XS_ERROR;
	int rc = users_get(&worker.data, txn, bare, creds);
	worker_rtxn_done();
	return rc;
}

/* The authorization identity, when given, must be the user's own bare JID. */
static bool authzid_ok(struct client *c, const char *user, const char *authzid, size_t len)
{
	if (len == 0)
		return true;
	struct jid j;
	if (jid_parse(authzid, len, &j) != XS_OK || j.resource[0])
		return false;
	return strcmp(j.node, user) == 0 && strcmp(j.domain, c->host) == 0;
}

static enum sasl_result plain(struct client *c, const char *msg, size_t len)
{
	const char *authzid = msg;
	const char *nul1 = memchr(msg, '\0', len);
	if (nul1 == NULL)
		return fail(c, "malformed-request");
	const char *authcid = nul1 + 1;
	const char *nul2 = memchr(authcid, '\0', len - (size_t)(authcid - msg));
	if (nul2 == NULL)
		return fail(c, "malformed-request");
	const char *pass = nul2 + 1;
	size_t plen = len - (size_t)(pass - msg);
	if (memchr(pass, '\0', plen) != NULL || plen == 0 || nul2 == authcid)
		return fail(c, "malformed-request");
	char user[JID_PART_MAX + 1];
	if (jid_nodeprep(authcid, (size_t)(nul2 - authcid), user, sizeof(user)) != XS_OK)
		return fail_auth(c);
	if (!authzid_ok(c, user, authzid, (size_t)(nul1 - authzid)))
		return fail(c, "invalid-authzid");
	struct scram_creds creds;
	int rc = lookup(c, user, &creds);
	if (rc == XS_ERROR)
		return fail(c, "temporary-auth-failure");
	int ok = rc == XS_OK && scram_check_plain(&creds, pass, plen) == XS_OK;
	explicit_bzero(&creds, sizeof(creds));
	if (!ok)
		return fail_auth(c);
	return succeed(c, user, NULL);
}

static enum sasl_result scram_first(struct client *c, const char *msg, size_t len)
{
	struct sasl *sa = c->sasl;
	bool plus = sa->mech == MECH_SCRAM_SHA1_PLUS || sa->mech == MECH_SCRAM_SHA256_PLUS;
	enum scram_hash h = sa->mech == MECH_SCRAM_SHA1 || sa->mech == MECH_SCRAM_SHA1_PLUS
	                  ? SCRAM_SHA1 : SCRAM_SHA256;
	if (scram_server_start_cb(&sa->scram, h, msg, len, plus, y_is_downgrade(c)) != XS_OK)
		return fail(c, "malformed-request");
	if (plus) {
		/* The binding the client named must be one this session has. */
		uint8_t *cb = NULL;
		size_t cbl = 0;
		bool known = false;
		for (size_t i = 0; i < XS_ARRAY_LEN(cb_types); i++)
			known = known || strcmp(cb_types[i], sa->scram.cb_name) == 0;
		int rc = known ? channel_binding(c, sa->scram.cb_name, &cb, &cbl) : XS_ERROR;
		if (rc == XS_OK)
			rc = scram_server_set_cb(&sa->scram, cb, cbl);
		free(cb);
		if (rc != XS_OK)
			return fail_text(c, "not-authorized", "channel binding type not available here");
	}
	char user[JID_PART_MAX + 1] = "";
	const char *name = sa->scram.username;
	struct scram_creds creds;
	int rc = jid_nodeprep(name, strlen(name), user, sizeof(user)) == XS_OK
	       ? lookup(c, user, &creds) : XS_PASS;
	if (rc == XS_ERROR)
		return fail(c, "temporary-auth-failure");
	if (rc == XS_PASS)
		scram_creds_fake(name, worker.scram_secret, worker.cfg->scram_iterations, &creds);
	else
		snprintf(sa->scram.username, sizeof(sa->scram.username), "%s", user);
	if (sa->scram.authzid[0] &&
	    !authzid_ok(c, user, sa->scram.authzid, strlen(sa->scram.authzid)))
		return fail(c, "invalid-authzid");
	char out[2048];
	rc = scram_server_challenge(&sa->scram, &creds, NULL, out, sizeof(out));
	explicit_bzero(&creds, sizeof(creds));
	if (rc != XS_OK)
		return fail(c, "temporary-auth-failure");
	send_b64(c, "challenge", out, strlen(out));
	return SASL_CONTINUE;
}

static enum sasl_result scram_final(struct client *c, const char *msg, size_t len)
{
	char out[512];
	if (scram_server_finish(&c->sasl->scram, msg, len, out, sizeof(out)) != XS_OK)
		return fail_auth(c);
	char user[JID_PART_MAX + 1];
	snprintf(user, sizeof(user), "%s", c->sasl->scram.username);
	return succeed(c, user, out);
}

/* RFC 4505: a fresh, unguessable account for this session only; the
 * router removes what it leaves behind when its last session ends
 * (HOOK_USER_REMOVED). */
static enum sasl_result anonymous(struct client *c)
{
	uint8_t rnd[8];
	char user[32];
	gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
	snprintf(user, sizeof(user), "anon-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
	         rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	c->anonymous = true;
	return succeed(c, user, NULL);
}

/* Dispatches one client message of the current mechanism. */
static enum sasl_result step(struct client *c, const char *data, size_t len)
{
	struct sasl *sa = c->sasl;
	if (!sa->started) {
		sa->started = true;
		if (sa->mech == MECH_PLAIN)
			return plain(c, data, len);
		if (sa->mech == MECH_ANONYMOUS)
			return anonymous(c);
		return scram_first(c, data, len);
	}
	if (sa->mech == MECH_PLAIN || sa->mech == MECH_ANONYMOUS)
		return fail(c, "malformed-request");
	return scram_final(c, data, len);
}

enum sasl_result sasl_handle(struct client *c, const struct stz *s)
{
	const char *name = stz_str(s, s->nodes[0].name);
	if (strcmp(name, "abort") == 0)
		return fail(c, "aborted");
	bool is_auth = strcmp(name, "auth") == 0;
	if (!is_auth && (strcmp(name, "response") != 0 || c->sasl == NULL))
		return fail(c, "malformed-request");
	if (is_auth) {
		sasl_free(c);
		const char *m = stz_attr(s, 0, "mechanism");
		enum mech mech = 0;
		bool plus = plus_offered(c);
		for (size_t i = 0; m && i < XS_ARRAY_LEN(mechs); i++)
			if (strcmp(m, mechs[i].name) == 0 && mech_offered(c, mechs[i].mech, plus))
				mech = mechs[i].mech;
		if (mech == 0)
			return fail(c, "invalid-mechanism");
		c->sasl = calloc(1, sizeof(*c->sasl));
		if (c->sasl == NULL)
			return SASL_ERROR;
		c->sasl->mech = mech;
	}
	const char *text = stz_text(s, 0);
	size_t tlen = strlen(text);
	if (tlen == 0) {
		if (is_auth && c->sasl->mech != MECH_ANONYMOUS) { /* ask for the initial response */
			send_b64(c, "challenge", "", 0);
			return SASL_CONTINUE;
		}
	}
	static char data[SASL_DATA_MAX + 1];
	int n = 0;
	/* "=" is the explicit empty response (RFC 6120 §6.4.2). */
	if (!(tlen == 1 && text[0] == '=') && tlen > 0) {
		n = scram_b64_decode(text, tlen, (uint8_t *)data, SASL_DATA_MAX);
		if (n < 0)
			return fail(c, "incorrect-encoding");
	}
	data[n] = '\0';
	enum sasl_result rc = step(c, data, (size_t)n);
	explicit_bzero(data, (size_t)n);
	return rc;
}

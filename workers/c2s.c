/* c2s.c — the client stream (RFC 6120): stream header, features, SASL
 * hand-over, resource binding through the router, the legacy session IQ,
 * and validation of every stanza before it goes up the ring. */
#include "workers/conn.h"
#include "workers/tls.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

#include <gnutls/crypto.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stanzas a client pipelines behind its bind request wait here, encoded,
 * until the router has settled the resource; then they get their from=. */
struct held {
	struct held *next;
	bool to_bad;
	alignas(8) char data[];
};

#define HELD_MAX 32

static void on_open(void *arg, const struct xs_open *h);
static void release_held(struct conn *c);
static void on_stanza(void *arg, struct stz_builder *b, bool to_bad);
static void on_close(void *arg);
static void on_error(void *arg, const char *condition);

static const struct xmlstream_cb stream_cb = {
	.on_open = on_open, .on_stanza = on_stanza, .on_close = on_close, .on_error = on_error,
};

struct conn *c2s_new(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->fd = fd;
	c->state = C2S_OPENING;
	c->xs = xmlstream_new(&stream_cb, c, W.cfg->max_stanza_size, W.cfg->max_encoded);
	if (c->xs == NULL) {
		free(c);
		return NULL;
	}
	snprintf(c->peer, sizeof(c->peer), "fd %d", fd);
	return c;
}

static void drop_held(struct conn *c)
{
	while (c->held) {
		struct held *h = c->held;
		c->held = h->next;
		free(h);
	}
	c->nheld = 0;
}

void c2s_free(struct conn *c)
{
	drop_held(c);
	xmlstream_free(c->xs);
	tls_conn_free(c->tls);
	sasl_free(c);
	buf_free(&c->out);
	free(c->user);
	free(c->jid);
	free(c->pending_id);
	free(c);
}

void c2s_input(struct conn *c, const char *data, size_t len)
{
	if (c->state == C2S_CLOSING)
		return;
	(void)xmlstream_feed(c->xs, data, len);
}

static void send_header(struct conn *c)
{
	uint8_t rnd[8];
	gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
	for (int i = 0; i < 8; i++)
		snprintf(c->stream_id + 2 * i, 3, "%02x", rnd[i]);
	char hdr[512];
	snprintf(hdr, sizeof(hdr),
	         "<?xml version='1.0'?><stream:stream xmlns='" STZ_NS_CLIENT "' "
	         "xmlns:stream='" NS_STREAMS "' id='%s' from='%s' version='1.0' xml:lang='en'>",
	         c->stream_id, c->host ? c->host : W.cfg->hosts[0]);
	conn_writez(c, hdr);
	c->header_sent = true;
}

void c2s_stream_error(struct conn *c, const char *condition, const char *text)
{
	if (c->fd < 0 || c->state == C2S_CLOSING)
		return;
	if (!c->header_sent)
		send_header(c);
	char msg[512];
	snprintf(msg, sizeof(msg), "<stream:error><%s xmlns='" NS_STREAM_ERR "'/>%s%s%s</stream:error>"
	         "</stream:stream>", condition,
	         text ? "<text xmlns='" NS_STREAM_ERR "'>" : "", text ? text : "",
	         text ? "</text>" : "");
	conn_writez(c, msg);
	log_info("%s: stream error %s%s%s", c->peer, condition, text ? ": " : "", text ? text : "");
	conn_close(c);
}

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"

static bool tls_offered(const struct conn *c)
{
	return !c->secure && c->lst->starttls != CFG_STARTTLS_OFF && tls_available();
}

static bool tls_required(const struct conn *c)
{
	return !c->secure && c->lst->starttls == CFG_STARTTLS_REQUIRED;
}

static bool module_loaded(const char *name)
{
	for (size_t i = 0; i < W.cfg->nmodules; i++)
		if (strcmp(W.cfg->modules[i].name, name) == 0)
			return true;
	return false;
}

/* In-band registration (XEP-0077) before authentication: the register
 * module is loaded, the host allows it, and TLS is done where required. */
static bool register_offered(const struct conn *c)
{
	return !tls_required(c) && module_loaded("register") &&
	       cfg_registration_open(W.cfg, c->host);
}

static void send_features(struct conn *c)
{
	conn_writez(c, "<stream:features>");
	if (c->state == C2S_AUTH) {
		if (tls_offered(c))
			conn_writez(c, tls_required(c)
			               ? "<starttls xmlns='" NS_TLS "'><required/></starttls>"
			               : "<starttls xmlns='" NS_TLS "'/>");
		/* With TLS mandatory, authentication is offered only inside it. */
		if (!tls_required(c))
			sasl_features(c);
		if (register_offered(c))
			conn_writez(c, "<register xmlns='http://jabber.org/features/iq-register'/>");
	} else {
		conn_writez(c, "<bind xmlns='" NS_BIND "'/>"
		               "<session xmlns='" NS_SESSION "'><optional/></session>");
		/* RFC 6121 §2.6 roster versioning and §3.4 pre-approval. */
		if (module_loaded("roster"))
			conn_writez(c, "<ver xmlns='urn:xmpp:features:rosterver'/>"
			               "<sub xmlns='urn:xmpp:features:pre-approval'/>");
	}
	conn_writez(c, "</stream:features>");
}

static void on_open(void *arg, const struct xs_open *h)
{
	struct conn *c = arg;
	const char *host = NULL;
	if (h->to) {
		char prepped[JID_PART_MAX + 1];
		if (jid_nameprep(h->to, strlen(h->to), prepped, sizeof(prepped)) == XS_OK) {
			for (size_t i = 0; i < W.cfg->nhosts; i++)
				if (strcmp(W.cfg->hosts[i], prepped) == 0)
					host = W.cfg->hosts[i];
		}
	}
	/* A restarted stream stays on the host it authenticated for. */
	if (c->host == NULL || c->state == C2S_OPENING)
		c->host = host;
	else if (host == NULL || strcmp(host, c->host) != 0)
		host = NULL;
	if (strcmp(h->name, "stream") != 0 || strcmp(h->ns, NS_STREAMS) != 0) {
		c2s_stream_error(c, "invalid-namespace", NULL);
		return;
	}
	if (h->default_ns == NULL || strcmp(h->default_ns, STZ_NS_CLIENT) != 0) {
		c2s_stream_error(c, "invalid-namespace", NULL);
		return;
	}
	if (h->to == NULL) {
		c2s_stream_error(c, "host-unknown", "no 'to' in the stream header");
		return;
	}
	if (host == NULL) {
		c2s_stream_error(c, "host-unknown", NULL);
		return;
	}
	if (h->version == NULL || strncmp(h->version, "1.", 2) != 0) {
		c2s_stream_error(c, "unsupported-version", NULL);
		return;
	}
	send_header(c);
	if (c->state == C2S_OPENING)
		c->state = C2S_AUTH;
	send_features(c);
}

static void on_close(void *arg)
{
	struct conn *c = arg;
	conn_writez(c, "</stream:stream>");
	conn_close(c);
}

static void on_error(void *arg, const char *condition)
{
	c2s_stream_error(arg, condition, NULL);
}

/* Answers a stanza with an error the worker decides itself.  Before
 * authentication (a registration request may carry a password) the
 * request is not echoed. */
static void reply_error(struct conn *c, const struct stz *s, const char *condition)
{
	if (!xmpp_may_answer_error(s))
		return;
	struct stz r;
	int rc = c->state == C2S_AUTH ? xmpp_error_reply_bare(&W.reply, s, c->host, condition, NULL)
	                              : xmpp_error_reply(&W.reply, s, c->host, condition);
	if (rc != XS_OK ||
	    worker_encode(&W.reply, 0, &r) != XS_OK) {
		log_error("%s: cannot build an error reply", c->peer);
		return;
	}
	conn_write_stz(c, &r);
}

/* An IQ result with this id, carrying <bind><jid/></bind> when jid is set. */
static void reply_result(struct conn *c, const char *id, const char *jid_payload)
{
	struct stz_builder *b = &W.reply;
	stz_b_reset(b);
	int rc = stz_b_openz(b, "iq", STZ_NS_CLIENT);
	if (rc == XS_OK && id && *id)
		rc = stz_b_attrz(b, "id", id);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "result");
	if (rc == XS_OK && jid_payload) {
		rc = stz_b_openz(b, "bind", NS_BIND);
		if (rc == XS_OK)
			rc = stz_b_openz(b, "jid", NS_BIND);
		if (rc == XS_OK)
			rc = stz_b_text(b, jid_payload, strlen(jid_payload));
		if (rc == XS_OK)
			rc = stz_b_close(b);
		if (rc == XS_OK)
			rc = stz_b_close(b);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	struct stz r;
	if (rc != XS_OK || worker_encode(b, 0, &r) != XS_OK) {
		log_error("%s: cannot build a result", c->peer);
		return;
	}
	conn_write_stz(c, &r);
}

static void request_bind(struct conn *c, const struct stz *s, uint32_t bind)
{
	char res[JID_PART_MAX + 1] = "";
	uint32_t rnode = stz_child(s, bind, "resource", NS_BIND);
	if (rnode) {
		const char *want = stz_text(s, rnode);
		if (*want && jid_resourceprep(want, strlen(want), res, sizeof(res)) != XS_OK) {
			reply_error(c, s, "bad-request");
			return;
		}
	}
	char bare[JID_MAX + 1];
	int bl = snprintf(bare, sizeof(bare), "%s@%s", c->user, c->host);
	size_t rl = strlen(res);
	/* Prepared parts of at most 1023 bytes always fit; the bound keeps the
	 * record's 16-bit lengths and the router's JID buffers (JID_MAX, with
	 * room for a generated resource of about 20 bytes) in range should that
	 * ever change.  The session table takes any length (lib/db.h). */
	if (bl < 0 || (size_t)bl + 1 + (rl ? rl : 20) > JID_MAX) {
		reply_error(c, s, "internal-server-error");
		return;
	}
	size_t len = sizeof(struct msg_bind) + (size_t)bl + 1 + rl + 1;
	struct msg_bind *m = calloc(1, len);
	if (m == NULL) {
		reply_error(c, s, "internal-server-error");
		return;
	}
	m->conn = c->id;
	m->bare_len = (uint16_t)bl;
	m->res_len = (uint16_t)rl;
	m->flags = c->anonymous ? MSG_BIND_ANONYMOUS : 0;
	memcpy(m->data, bare, (size_t)bl + 1);
	memcpy(m->data + bl + 1, res, rl + 1);
	free(c->pending_id);
	c->pending_id = strdup(stz_id(s));
	if (worker_up(MSG_UP_BIND, m, (uint32_t)len) == XS_OK) {
		c->bind_sent = true;
		c->state = C2S_BINDING;
		/* Stanzas that follow get their 'to' prepared; from= comes with the JID. */
		if (xmlstream_stamp(c->xs, NULL) != XS_OK)
			c2s_stream_error(c, "internal-server-error", NULL);
	} else {
		reply_error(c, s, "internal-server-error");
	}
	free(m);
}

void c2s_bound(struct conn *c, uint32_t status, const char *jid)
{
	if (c->state != C2S_BINDING)
		return;
	/* The answer goes to the IQ that asked; rebuild its shape from the id. */
	struct stz_builder *b = &W.reply;
	stz_b_reset(b);
	if (status != BIND_OK) {
		stz_b_openz(b, "iq", STZ_NS_CLIENT);
		if (c->pending_id && *c->pending_id)
			stz_b_attrz(b, "id", c->pending_id);
		stz_b_attrz(b, "type", "error");
		stz_b_openz(b, "error", STZ_NS_CLIENT);
		stz_b_attrz(b, "type", "wait");
		stz_b_openz(b, "internal-server-error", STZ_NS_STANZAS);
		stz_b_close(b);
		stz_b_close(b);
		stz_b_close(b);
		struct stz r;
		if (worker_encode(b, 0, &r) == XS_OK)
			conn_write_stz(c, &r);
		c->state = C2S_AUTHED;
		drop_held(c);
		return;
	}
	free(c->jid);
	c->jid = strdup(jid);
	if (c->jid == NULL || xmlstream_stamp(c->xs, jid) != XS_OK) {
		c2s_stream_error(c, "internal-server-error", NULL);
		return;
	}
	c->state = C2S_BOUND;
	worker_stat_sessions(1);
	reply_result(c, c->pending_id, jid);
	free(c->pending_id);
	c->pending_id = NULL;
	log_info("%s: bound %s", c->peer, jid);
	if (c->trace)
		log_trace("%016" PRIx64 " bind %s", c->id, jid);
	release_held(c);
}

void c2s_kick(struct conn *c, uint32_t reason)
{
	switch (reason) {
	case KICK_CONFLICT:
		c2s_stream_error(c, "conflict", "Replaced by new connection");
		break;
	case KICK_SHUTDOWN:
		c2s_stream_error(c, "system-shutdown", NULL);
		break;
	case KICK_REMOVED:
		c2s_stream_error(c, "not-authorized", "Account removed");
		break;
	case KICK_ADMIN:
		c2s_stream_error(c, "policy-violation", "Ended by an administrator");
		break;
	default:
		c2s_stream_error(c, "policy-violation", NULL);
		break;
	}
}

/* RFC 6120 §5.4: <proceed/> in the clear, then the handshake, then a new
 * stream; or <failure/> and the end of the stream. */
static void starttls(struct conn *c)
{
	if (!tls_offered(c)) {
		conn_writez(c, "<failure xmlns='" NS_TLS "'/></stream:stream>");
		conn_close(c);
		return;
	}
	conn_writez(c, "<proceed xmlns='" NS_TLS "'/>");
	if (conn_flush_now(c) != XS_OK || conn_start_tls(c) != XS_OK) {
		conn_close(c);
		return;
	}
	xmlstream_restart(c->xs);
}

#define NS_REGISTER  "jabber:iq:register"
#define PREAUTH_MAX  16 /* IQs one connection may send before authenticating */

/* An IQ before authentication: only in-band registration, handed to the
 * router (the register module) by connection; its answer comes back on the
 * down ring like a delivery. */
static void preauth_iq(struct conn *c, const struct stz *s, bool to_bad)
{
	/* Anything but registration waits for authentication (RFC 6120 §6). */
	if (strcmp(stz_str(s, s->h->payload_ns), NS_REGISTER) != 0) {
		c2s_stream_error(c, "not-authorized", NULL);
		return;
	}
	if (++c->preauth_iqs > PREAUTH_MAX) {
		c2s_stream_error(c, "policy-violation", "too many requests before authentication");
		return;
	}
	uint8_t t = s->h->type;
	if (t == STZ_T_RESULT || t == STZ_T_ERROR)
		return;
	unsigned nchild = 0;
	for (uint32_t n = stz_first_child(s, 0); n; n = stz_next_sibling(s, 0, n))
		nchild += !s->nodes[n].is_text;
	if ((t != STZ_T_GET && t != STZ_T_SET) || s->h->id.len == 0 || nchild != 1 ||
	    s->h->from.len != 0 || to_bad ||
	    (stz_has_to(s) && strcmp(stz_to(s), c->host) != 0)) {
		reply_error(c, s, "bad-request");
		return;
	}
	if (!module_loaded("register")) {
		reply_error(c, s, "service-unavailable");
		return;
	}
	size_t hidx = 0;
	while (hidx < W.cfg->nhosts && strcmp(W.cfg->hosts[hidx], c->host) != 0)
		hidx++;
	struct msg_preauth m = { .conn = c->id, .ip = c->ip, .host = (uint8_t)hidx };
	size_t len = sizeof(m) + s->h->size;
	char *rec = hidx < W.cfg->nhosts && hidx < 256 ? malloc(len) : NULL;
	if (rec == NULL) {
		reply_error(c, s, "internal-server-error");
		return;
	}
	memcpy(rec, &m, sizeof(m));
	memcpy(rec + sizeof(m), s->h, s->h->size);
	if (worker_up(MSG_UP_PREAUTH, rec, (uint32_t)len) != XS_OK)
		reply_error(c, s, "internal-server-error");
	free(rec);
}

/* A traced user authenticated: what happened to its connection so far. */
static void trace_auth(struct conn *c)
{
	char bare[JID_MAX + 1];
	int n = snprintf(bare, sizeof(bare), "%s@%s", c->user, c->host);
	if (n < 0 || (size_t)n >= sizeof(bare) || !shm_trace_any(W.seg) ||
	    !shm_trace_has(W.seg, bare, (size_t)n))
		return;
	c->trace = true;
	log_trace("%016" PRIx64 " accept %s on port %u%s", c->id, c->peer, c->lst->port,
	          c->secure ? " (TLS)" : "");
	log_trace("%016" PRIx64 " auth %s", c->id, bare);
}

/* Before a session: TLS, SASL, then binding and the legacy session IQ. */
static void pre_session(struct conn *c, const struct stz *s, bool to_bad)
{
	if (c->state == C2S_AUTH) {
		const char *ns = stz_str(s, s->nodes[0].ns);
		if (strcmp(ns, NS_TLS) == 0 && stz_node_is(s, 0, "starttls", NULL)) {
			starttls(c);
			return;
		}
		if (tls_required(c)) {
			c2s_stream_error(c, "policy-violation", "STARTTLS is required");
			return;
		}
		if (s->h->kind == STZ_IQ && strcmp(ns, STZ_NS_CLIENT) == 0) {
			preauth_iq(c, s, to_bad);
			return;
		}
		if (strcmp(ns, NS_SASL) != 0) {
			c2s_stream_error(c, "not-authorized", NULL);
			return;
		}
		int rc = sasl_handle(c, s);
		if (rc == XS_DONE) {
			c->state = C2S_AUTHED;
			trace_auth(c);
			xmlstream_restart(c->xs);
		} else if (rc == XS_ERROR) {
			c2s_stream_error(c, "internal-server-error", NULL);
		}
		return;
	}
	if (c->state == C2S_BINDING) {
		c2s_stream_error(c, "unsupported-stanza-type", NULL);
		return;
	}
	/* C2S_AUTHED */
	uint32_t bind;
	if (s->h->kind == STZ_IQ && s->h->type == STZ_T_SET &&
	    (bind = stz_child(s, 0, "bind", NS_BIND)) != 0) {
		request_bind(c, s, bind);
		return;
	}
	if (s->h->kind == STZ_IQ && s->h->type != STZ_T_RESULT && s->h->type != STZ_T_ERROR) {
		reply_error(c, s, "not-authorized");
		return;
	}
	c2s_stream_error(c, "not-authorized", NULL);
}

/* Checks a session stanza (RFC 6120 §8); XS_OK, or the error was answered. */
static int validate(struct conn *c, const struct stz *s, bool to_bad)
{
	if (s->h->kind == STZ_OTHER || strcmp(stz_str(s, s->nodes[0].ns), STZ_NS_CLIENT) != 0) {
		c2s_stream_error(c, "unsupported-stanza-type", NULL);
		return XS_ERROR;
	}
	if (to_bad) {
		reply_error(c, s, "jid-malformed");
		return XS_ERROR;
	}
	if (!stz_type_valid(s->h->kind, s->h->type)) {
		reply_error(c, s, "bad-request");
		return XS_ERROR;
	}
	if (s->h->kind == STZ_IQ) {
		unsigned nchild = 0;
		for (uint32_t n = stz_first_child(s, 0); n; n = stz_next_sibling(s, 0, n))
			nchild += !s->nodes[n].is_text;
		if (s->h->id.len == 0 ||
		    ((s->h->type == STZ_T_GET || s->h->type == STZ_T_SET) && nchild != 1)) {
			reply_error(c, s, "bad-request");
			return XS_ERROR;
		}
	}
	return XS_OK;
}

/* A stanza of a bound session, encoded in W.scratch: checked, then up. */
static void session_stanza(struct conn *c, const struct stz *sp, bool to_bad)
{
	const struct stz s = *sp;
	worker_stat_stanza_in();
	if (validate(c, &s, to_bad) != XS_OK)
		return;
	/* The legacy session IQ (RFC 3921) is a no-op answered here. */
	if (s.h->kind == STZ_IQ && s.h->type == STZ_T_SET && !stz_has_to(&s) &&
	    stz_child(&s, 0, "session", NS_SESSION)) {
		reply_result(c, stz_id(&s), NULL);
		return;
	}
	if (c->trace) {
		uint64_t id = worker_trace_id();
		((struct stz_hdr *)W.scratch)->trace = id;
		log_trace("%016" PRIx64 " receive %s type=%s to=%s from %s (connection %016" PRIx64 ")",
		          id, stz_str(&s, s.nodes[0].name), s.h->type ? stz_type_name(s.h->type) : "-",
		          stz_has_to(&s) ? stz_to(&s) : "-", c->jid, c->id);
	}
	if (worker_up(MSG_UP_STANZA, W.scratch, s.h->size) != XS_OK)
		c2s_stream_error(c, "policy-violation", "stanza too large");
}

static void hold(struct conn *c, const struct stz *s, bool to_bad)
{
	struct held *h = c->nheld < HELD_MAX ? malloc(sizeof(*h) + s->h->size) : NULL;
	if (h == NULL) {
		c2s_stream_error(c, "policy-violation", "too many stanzas before binding completed");
		return;
	}
	h->next = NULL;
	h->to_bad = to_bad;
	memcpy(h->data, s->h, s->h->size);
	struct held **tail = &c->held;
	while (*tail)
		tail = &(*tail)->next;
	*tail = h;
	c->nheld++;
}

/* Re-encodes a held stanza with from= the bound JID, in W.scratch. */
static int restamp(struct conn *c, const struct stz *s, struct stz *out)
{
	struct stz_builder *b = &W.reply;
	stz_b_reset(b);
	const struct stz_node *r = &s->nodes[0];
	int rc = stz_b_open(b, stz_str(s, r->name), r->name.len, stz_str(s, r->ns), r->ns.len);
	for (uint32_t a = r->attr_first; rc == XS_OK && a < r->attr_first + r->nattrs; a++) {
		const struct stz_attr *at = &s->attrs[a];
		if (at->ns.len == 0 && strcmp(stz_str(s, at->name), "from") == 0)
			continue;
		rc = stz_b_attr(b, stz_str(s, at->name), at->name.len, stz_str(s, at->ns), at->ns.len,
		                stz_str(s, at->value), at->value.len);
	}
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "from", c->jid);
	for (uint32_t n = stz_first_child(s, 0); rc == XS_OK && n; n = stz_next_sibling(s, 0, n))
		rc = stz_b_copy(b, s, n);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc == XS_OK ? worker_encode(b, c->id, out) : XS_ERROR;
}

static void release_held(struct conn *c)
{
	while (c->held && c->state == C2S_BOUND) {
		struct held *h = c->held;
		c->held = h->next;
		c->nheld--;
		struct stz s, t;
		if (stz_view(&s, h->data, ((struct stz_hdr *)h->data)->size) == XS_OK &&
		    restamp(c, &s, &t) == XS_OK)
			session_stanza(c, &t, h->to_bad);
		free(h);
	}
}

static void on_stanza(void *arg, struct stz_builder *b, bool to_bad)
{
	struct conn *c = arg;
	if (c->state == C2S_CLOSING)
		return;
	struct stz s;
	if (worker_encode(b, c->id, &s) != XS_OK) {
		c2s_stream_error(c, "policy-violation", "stanza too large");
		return;
	}
	/* The client ends the stream with an error of its own (RFC 6120 §4.9):
	 * we close ours, without an error of our own about it. */
	if (stz_node_is(&s, 0, "error", NS_STREAMS)) {
		log_info("%s: the client sent a stream error", c->peer);
		on_close(c);
		return;
	}
	if (c->state == C2S_BOUND)
		session_stanza(c, &s, to_bad);
	else if (c->state == C2S_BINDING && strcmp(stz_str(&s, s.nodes[0].ns), STZ_NS_CLIENT) == 0)
		hold(c, &s, to_bad);
	else
		pre_session(c, &s, to_bad);
}

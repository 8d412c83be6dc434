/* c2s.c — the client protocol (RFC 6120, jabber:client): stream header,
 * features from the registry, SASL hand-over, resource binding through the
 * router, the legacy session IQ, and validation of every stanza before it
 * goes up the ring.  Its table is proto_client (proto.h). */
#include "workers/client.h"
#include "workers/ctx.h"
#include "workers/up.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

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

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"

static void on_open(void *arg, const struct xs_open *h);
static void release_held(struct client *cl);
static void on_stanza(void *arg, struct stz_builder *b, bool to_bad);
static void on_close(void *arg);
static void on_error(void *arg, const char *condition);

static const struct xmlstream_cb stream_cb = {
	.on_open = on_open, .on_stanza = on_stanza, .on_close = on_close, .on_error = on_error,
};

/* The features a client stream offers, in order (features.h). */
static struct feature_set client_features;

static void client_init(void)
{
	static const struct feature *const order[] = {
		&client_feature_starttls, &client_feature_sasl, &client_feature_register,
		&client_feature_bind, &client_feature_session, &client_feature_roster,
	};
	client_features.n = 0;
	for (size_t i = 0; i < XS_ARRAY_LEN(order); i++)
		(void)features_register(&client_features, order[i]);
}

static struct conn *client_new(void)
{
	struct client *cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return NULL;
	cl->phase = CLIENT_OPENING;
	cl->xs = xmlstream_new(&stream_cb, cl, worker.cfg->max_stanza_size, worker.cfg->max_encoded);
	if (cl->xs == NULL) {
		free(cl);
		return NULL;
	}
	return &cl->conn;
}

static void drop_held(struct client *cl)
{
	while (cl->held) {
		struct held *h = cl->held;
		cl->held = h->next;
		free(h);
	}
	cl->nheld = 0;
}

static void client_free(struct conn *c)
{
	struct client *cl = client_of(c);
	drop_held(cl);
	xmlstream_free(cl->xs);
	sasl_free(cl);
	free(cl->user);
	free(cl->bind_id);
	free(cl);
}

static void client_input(struct conn *c, const char *data, size_t len)
{
	if (c->closed)
		return;
	(void)xmlstream_feed(client_of(c)->xs, data, len);
}

static const char *stream_from(const struct client *cl)
{
	return cl->host ? cl->host : worker.cfg->hosts[0];
}

static void client_stream_error(struct conn *c, const char *condition, const char *text)
{
	struct client *cl = client_of(c);
	stream_error(c, &cl->head, stream_from(cl), condition, text);
}

/* Where the stream is, for the feature registry: with TLS required and
 * not done, only TLS may be negotiated. */
static unsigned feature_stages(const struct client *cl)
{
	if (cl->phase != CLIENT_AUTHENTICATING)
		return FEATURE_AFTER_AUTH;
	if (cl->conn.secure)
		return FEATURE_BEFORE_AUTH;
	if (client_tls_required(&cl->conn))
		return FEATURE_BEFORE_TLS;
	return FEATURE_BEFORE_TLS | FEATURE_BEFORE_AUTH;
}

static void on_open(void *arg, const struct xs_open *h)
{
	struct client *cl = arg;
	struct conn *c = &cl->conn;
	const char *host = NULL;
	if (h->to) {
		char prepped[JID_PART_MAX + 1];
		if (jid_nameprep(h->to, strlen(h->to), prepped, sizeof(prepped)) == XS_OK) {
			for (size_t i = 0; i < worker.cfg->nhosts; i++)
				if (strcmp(worker.cfg->hosts[i], prepped) == 0)
					host = worker.cfg->hosts[i];
		}
	}
	/* A restarted stream stays on the host it authenticated for. */
	if (cl->host == NULL || cl->phase == CLIENT_OPENING)
		cl->host = host;
	else if (host == NULL || strcmp(host, cl->host) != 0)
		host = NULL;
	if (strcmp(h->name, "stream") != 0 || strcmp(h->ns, NS_STREAMS) != 0) {
		client_stream_error(c, "invalid-namespace", NULL);
		return;
	}
	if (h->default_ns == NULL || strcmp(h->default_ns, c->proto->stream_ns) != 0) {
		client_stream_error(c, "invalid-namespace", NULL);
		return;
	}
	if (h->to == NULL) {
		client_stream_error(c, "host-unknown", "no 'to' in the stream header");
		return;
	}
	if (host == NULL) {
		client_stream_error(c, "host-unknown", NULL);
		return;
	}
	if (h->version == NULL || strncmp(h->version, "1.", 2) != 0) {
		client_stream_error(c, "unsupported-version", NULL);
		return;
	}
	stream_header(c, &cl->head, stream_from(cl));
	if (cl->phase == CLIENT_OPENING)
		cl->phase = CLIENT_AUTHENTICATING;
	features_write(&client_features, c, feature_stages(cl));
}

static void on_close(void *arg)
{
	struct client *cl = arg;
	conn_writez(&cl->conn, "</stream:stream>");
	conn_close(&cl->conn);
}

static void on_error(void *arg, const char *condition)
{
	struct client *cl = arg;
	client_stream_error(&cl->conn, condition, NULL);
}

/* Answers a stanza with an error the worker decides itself.  Before
 * authentication (a registration request may carry a password) the
 * request is not echoed. */
static void reply_error(struct client *cl, const struct stz *s, const char *condition)
{
	if (!xmpp_may_answer_error(s))
		return;
	struct stz r;
	int rc = cl->phase == CLIENT_AUTHENTICATING
	       ? xmpp_error_reply_bare(&worker.reply, s, cl->host, condition, NULL)
	       : xmpp_error_reply(&worker.reply, s, cl->host, condition);
	if (rc != XS_OK ||
	    worker_encode(&worker.reply, 0, &r) != XS_OK) {
		log_error("%s: cannot build an error reply", cl->conn.peer);
		return;
	}
	conn_write_stz(&cl->conn, &r);
}

/* An IQ result with this id, carrying <bind><jid/></bind> when jid is set. */
static void reply_result(struct client *cl, const char *id, const char *jid_payload)
{
	struct stz_builder *b = &worker.reply;
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
		log_error("%s: cannot build a result", cl->conn.peer);
		return;
	}
	conn_write_stz(&cl->conn, &r);
}

static void request_bind(struct client *cl, const struct stz *s, uint32_t bind)
{
	struct conn *c = &cl->conn;
	char res[JID_PART_MAX + 1] = "";
	uint32_t rnode = stz_child(s, bind, "resource", NS_BIND);
	if (rnode) {
		const char *want = stz_text(s, rnode);
		if (*want && jid_resourceprep(want, strlen(want), res, sizeof(res)) != XS_OK) {
			reply_error(cl, s, "bad-request");
			return;
		}
	}
	char bare[JID_MAX + 1];
	int bl = snprintf(bare, sizeof(bare), "%s@%s", cl->user, cl->host);
	size_t rl = strlen(res);
	/* Prepared parts of at most 1023 bytes always fit; the bound keeps the
	 * record's 16-bit lengths and the router's JID buffers (JID_MAX, with
	 * room for a generated resource of about 20 bytes) in range should that
	 * ever change.  The session table takes any length (lib/db.h). */
	if (bl < 0 || (size_t)bl + 1 + (rl ? rl : 20) > JID_MAX) {
		reply_error(cl, s, "internal-server-error");
		return;
	}
	size_t len = sizeof(struct msg_bind) + (size_t)bl + 1 + rl + 1;
	struct msg_bind *m = calloc(1, len);
	if (m == NULL) {
		reply_error(cl, s, "internal-server-error");
		return;
	}
	m->conn = c->id;
	m->bare_len = (uint16_t)bl;
	m->res_len = (uint16_t)rl;
	m->flags = cl->anonymous ? MSG_BIND_ANONYMOUS : 0;
	memcpy(m->data, bare, (size_t)bl + 1);
	memcpy(m->data + bl + 1, res, rl + 1);
	free(cl->bind_id);
	cl->bind_id = strdup(stz_id(s));
	if (up_send(MSG_UP_BIND, m, (uint32_t)len) == XS_OK) {
		c->routed = true;
		cl->phase = CLIENT_BINDING;
		/* Stanzas that follow get their 'to' prepared; from= comes with the JID. */
		if (xmlstream_stamp(cl->xs, NULL) != XS_OK)
			client_stream_error(c, "internal-server-error", NULL);
	} else {
		reply_error(cl, s, "internal-server-error");
	}
	free(m);
}

static void client_bound(struct conn *c, uint32_t status, const char *jid)
{
	struct client *cl = client_of(c);
	if (c->closed || cl->phase != CLIENT_BINDING)
		return;
	/* The answer goes to the IQ that asked; rebuild its shape from the id. */
	struct stz_builder *b = &worker.reply;
	stz_b_reset(b);
	if (status != BIND_OK) {
		stz_b_openz(b, "iq", STZ_NS_CLIENT);
		if (cl->bind_id && *cl->bind_id)
			stz_b_attrz(b, "id", cl->bind_id);
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
		cl->phase = CLIENT_AUTHENTICATED;
		drop_held(cl);
		return;
	}
	free(c->jid);
	c->jid = strdup(jid);
	if (c->jid == NULL || xmlstream_stamp(cl->xs, jid) != XS_OK) {
		client_stream_error(c, "internal-server-error", NULL);
		return;
	}
	cl->phase = CLIENT_BOUND;
	c->established = true;
	worker_stat_add(&worker.stats->sessions, 1);
	reply_result(cl, cl->bind_id, jid);
	free(cl->bind_id);
	cl->bind_id = NULL;
	log_info("%s: bound %s", c->peer, jid);
	if (c->trace)
		log_trace("%016" PRIx64 " bind %s", c->id, jid);
	release_held(cl);
}

static void client_kick(struct conn *c, uint32_t reason)
{
	switch (reason) {
	case KICK_CONFLICT:
		client_stream_error(c, "conflict", "Replaced by new connection");
		break;
	case KICK_SHUTDOWN:
		client_stream_error(c, "system-shutdown", NULL);
		break;
	case KICK_REMOVED:
		client_stream_error(c, "not-authorized", "Account removed");
		break;
	case KICK_ADMIN:
		client_stream_error(c, "policy-violation", "Ended by an administrator");
		break;
	default:
		client_stream_error(c, "policy-violation", NULL);
		break;
	}
}

/* Sessions get what the router sends; before one, only the answers to
 * pre-authentication requests (registration). */
static void client_deliver(struct conn *c, struct conn_delivery *d)
{
	struct client *cl = client_of(c);
	if (c->closed)
		return;
	if (cl->phase == CLIENT_BOUND || (cl->phase == CLIENT_AUTHENTICATING && cl->preauth_iqs > 0))
		conn_deliver(c, d);
}

/* RFC 6120 §5.4: <proceed/> in the clear, then the handshake, then a new
 * stream; or <failure/> and the end of the stream. */
static void starttls(struct client *cl)
{
	struct conn *c = &cl->conn;
	if (!client_tls_offered(c)) {
		conn_writez(c, "<failure xmlns='" NS_TLS "'/></stream:stream>");
		conn_close(c);
		return;
	}
	conn_writez(c, "<proceed xmlns='" NS_TLS "'/>");
	if (conn_flush_now(c) != XS_OK || conn_start_tls(c) != XS_OK) {
		conn_close(c);
		return;
	}
	xmlstream_restart(cl->xs);
}

#define NS_REGISTER  "jabber:iq:register"
#define PREAUTH_MAX  16 /* IQs one connection may send before authenticating */

/* An IQ before authentication: only in-band registration, handed to the
 * router (the register module) by connection; its answer comes back on the
 * down ring like a delivery. */
static void preauth_iq(struct client *cl, const struct stz *s, bool to_bad)
{
	struct conn *c = &cl->conn;
	/* Anything but registration waits for authentication (RFC 6120 §6). */
	if (strcmp(stz_str(s, s->h->payload_ns), NS_REGISTER) != 0) {
		client_stream_error(c, "not-authorized", NULL);
		return;
	}
	if (++cl->preauth_iqs > PREAUTH_MAX) {
		client_stream_error(c, "policy-violation", "too many requests before authentication");
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
	    (stz_has_to(s) && strcmp(stz_to(s), cl->host) != 0)) {
		reply_error(cl, s, "bad-request");
		return;
	}
	if (!features_module_ready(&client_feature_register)) {
		reply_error(cl, s, "service-unavailable");
		return;
	}
	size_t hidx = 0;
	while (hidx < worker.cfg->nhosts && strcmp(worker.cfg->hosts[hidx], cl->host) != 0)
		hidx++;
	struct msg_preauth m = { .conn = c->id, .ip = c->ip, .host = (uint8_t)hidx };
	size_t len = sizeof(m) + s->h->size;
	char *rec = hidx < worker.cfg->nhosts && hidx < 256 ? malloc(len) : NULL;
	if (rec == NULL) {
		reply_error(cl, s, "internal-server-error");
		return;
	}
	memcpy(rec, &m, sizeof(m));
	memcpy(rec + sizeof(m), s->h, s->h->size);
	if (up_send(MSG_UP_PREAUTH, rec, (uint32_t)len) != XS_OK)
		reply_error(cl, s, "internal-server-error");
	free(rec);
}

/* A traced user authenticated: what happened to its connection so far. */
static void trace_auth(struct client *cl)
{
	struct conn *c = &cl->conn;
	char bare[JID_MAX + 1];
	int n = snprintf(bare, sizeof(bare), "%s@%s", cl->user, cl->host);
	if (n < 0 || (size_t)n >= sizeof(bare) || !shm_trace_any(worker.seg) ||
	    !shm_trace_has(worker.seg, bare, (size_t)n))
		return;
	c->trace = true;
	log_trace("%016" PRIx64 " accept %s on port %u%s", c->id, c->peer, c->lst->port,
	          c->secure ? " (TLS)" : "");
	log_trace("%016" PRIx64 " auth %s", c->id, bare);
}

static void authenticate(struct client *cl, const struct stz *s)
{
	switch (sasl_handle(cl, s)) {
	case SASL_SUCCESS:
		cl->phase = CLIENT_AUTHENTICATED;
		trace_auth(cl);
		xmlstream_restart(cl->xs);
		break;
	case SASL_ABUSE:
		/* Too many failed authentications: the master blocks the address. */
		worker_report_peer(MSG_SOCK_AUTH_ABUSE, &cl->conn.ip);
		client_stream_error(&cl->conn, "policy-violation", "too many failed authentications");
		break;
	case SASL_ERROR:
		client_stream_error(&cl->conn, "internal-server-error", NULL);
		break;
	case SASL_CONTINUE:
		break;
	}
}

/* Before a session: TLS, SASL, then binding and the legacy session IQ. */
static void pre_session(struct client *cl, const struct stz *s, bool to_bad)
{
	struct conn *c = &cl->conn;
	if (cl->phase == CLIENT_AUTHENTICATING) {
		const char *ns = stz_str(s, s->nodes[0].ns);
		if (strcmp(ns, NS_TLS) == 0 && stz_node_is(s, 0, "starttls", NULL)) {
			starttls(cl);
			return;
		}
		if (client_tls_required(c)) {
			client_stream_error(c, "policy-violation", "STARTTLS is required");
			return;
		}
		if (s->h->kind == STZ_IQ && strcmp(ns, STZ_NS_CLIENT) == 0) {
			preauth_iq(cl, s, to_bad);
			return;
		}
		if (strcmp(ns, NS_SASL) != 0) {
			client_stream_error(c, "not-authorized", NULL);
			return;
		}
		authenticate(cl, s);
		return;
	}
	if (cl->phase == CLIENT_BINDING) {
		client_stream_error(c, "unsupported-stanza-type", NULL);
		return;
	}
	/* CLIENT_AUTHENTICATED */
	uint32_t bind;
	if (s->h->kind == STZ_IQ && s->h->type == STZ_T_SET &&
	    (bind = stz_child(s, 0, "bind", NS_BIND)) != 0) {
		request_bind(cl, s, bind);
		return;
	}
	if (s->h->kind == STZ_IQ && s->h->type != STZ_T_RESULT && s->h->type != STZ_T_ERROR) {
		reply_error(cl, s, "not-authorized");
		return;
	}
	client_stream_error(c, "not-authorized", NULL);
}

/* Checks a session stanza (RFC 6120 §8); XS_OK, or the error was answered. */
static int validate(struct client *cl, const struct stz *s, bool to_bad)
{
	if (s->h->kind == STZ_OTHER || strcmp(stz_str(s, s->nodes[0].ns), STZ_NS_CLIENT) != 0) {
		client_stream_error(&cl->conn, "unsupported-stanza-type", NULL);
		return XS_ERROR;
	}
	if (to_bad) {
		reply_error(cl, s, "jid-malformed");
		return XS_ERROR;
	}
	if (!stz_type_valid(s->h->kind, s->h->type)) {
		reply_error(cl, s, "bad-request");
		return XS_ERROR;
	}
	if (s->h->kind == STZ_IQ) {
		unsigned nchild = 0;
		for (uint32_t n = stz_first_child(s, 0); n; n = stz_next_sibling(s, 0, n))
			nchild += !s->nodes[n].is_text;
		if (s->h->id.len == 0 ||
		    ((s->h->type == STZ_T_GET || s->h->type == STZ_T_SET) && nchild != 1)) {
			reply_error(cl, s, "bad-request");
			return XS_ERROR;
		}
	}
	return XS_OK;
}

/* A stanza of a bound session, encoded in worker.scratch: checked, then up. */
static void session_stanza(struct client *cl, const struct stz *sp, bool to_bad)
{
	struct conn *c = &cl->conn;
	const struct stz s = *sp;
	worker_stat_add(&worker.stats->stanzas_in, 1);
	if (validate(cl, &s, to_bad) != XS_OK)
		return;
	/* The legacy session IQ (RFC 3921) is a no-op answered here. */
	if (s.h->kind == STZ_IQ && s.h->type == STZ_T_SET && !stz_has_to(&s) &&
	    stz_child(&s, 0, "session", NS_SESSION)) {
		reply_result(cl, stz_id(&s), NULL);
		return;
	}
	if (c->trace) {
		uint64_t id = worker_trace_id();
		((struct stz_hdr *)worker.scratch)->trace = id;
		log_trace("%016" PRIx64 " receive %s type=%s to=%s from %s (connection %016" PRIx64 ")",
		          id, stz_str(&s, s.nodes[0].name), s.h->type ? stz_type_name(s.h->type) : "-",
		          stz_has_to(&s) ? stz_to(&s) : "-", c->jid, c->id);
	}
	if (up_send(MSG_UP_STANZA, worker.scratch, s.h->size) != XS_OK)
		client_stream_error(c, "policy-violation", "stanza too large");
}

static void hold(struct client *cl, const struct stz *s, bool to_bad)
{
	struct held *h = cl->nheld < HELD_MAX ? malloc(sizeof(*h) + s->h->size) : NULL;
	if (h == NULL) {
		client_stream_error(&cl->conn, "policy-violation",
		                    "too many stanzas before binding completed");
		return;
	}
	h->next = NULL;
	h->to_bad = to_bad;
	memcpy(h->data, s->h, s->h->size);
	struct held **tail = &cl->held;
	while (*tail)
		tail = &(*tail)->next;
	*tail = h;
	cl->nheld++;
}

/* Re-encodes a held stanza with from= the bound JID, in worker.scratch. */
static int restamp(struct client *cl, const struct stz *s, struct stz *out)
{
	struct stz_builder *b = &worker.reply;
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
		rc = stz_b_attrz(b, "from", cl->conn.jid);
	for (uint32_t n = stz_first_child(s, 0); rc == XS_OK && n; n = stz_next_sibling(s, 0, n))
		rc = stz_b_copy(b, s, n);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc == XS_OK ? worker_encode(b, cl->conn.id, out) : XS_ERROR;
}

static void release_held(struct client *cl)
{
	while (cl->held && cl->phase == CLIENT_BOUND && !cl->conn.closed) {
		struct held *h = cl->held;
		cl->held = h->next;
		cl->nheld--;
		struct stz s, t;
		if (stz_view(&s, h->data, ((struct stz_hdr *)h->data)->size) == XS_OK &&
		    restamp(cl, &s, &t) == XS_OK)
			session_stanza(cl, &t, h->to_bad);
		free(h);
	}
}

static void on_stanza(void *arg, struct stz_builder *b, bool to_bad)
{
	struct client *cl = arg;
	struct conn *c = &cl->conn;
	if (c->closed)
		return;
	struct stz s;
	if (worker_encode(b, c->id, &s) != XS_OK) {
		client_stream_error(c, "policy-violation", "stanza too large");
		return;
	}
	/* The client ends the stream with an error of its own (RFC 6120 §4.9):
	 * we close ours, without an error of our own about it. */
	if (stz_node_is(&s, 0, "error", NS_STREAMS)) {
		log_info("%s: the client sent a stream error", c->peer);
		on_close(cl);
		return;
	}
	if (cl->phase == CLIENT_BOUND)
		session_stanza(cl, &s, to_bad);
	else if (cl->phase == CLIENT_BINDING && strcmp(stz_str(&s, s.nodes[0].ns), STZ_NS_CLIENT) == 0)
		hold(cl, &s, to_bad);
	else
		pre_session(cl, &s, to_bad);
}

const struct proto proto_client = {
	.name = "c2s",
	.stream_ns = STZ_NS_CLIENT,
	.init = client_init,
	.new = client_new,
	.input = client_input,
	.deliver = client_deliver,
	.bound = client_bound,
	.kick = client_kick,
	.stream_error = client_stream_error,
	.free = client_free,
};

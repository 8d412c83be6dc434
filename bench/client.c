/* client.c — one simulated client's way from connect() to online, its
 * answers to the server's IQs, and the hand-off of every other stanza to
 * the scenario's hooks. */
#include "bench/client.h"
#include "bench/bench.h"
#include "bench/sasl.h"
#include "bench/stats.h"
#include "bench/tls.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NS_TLS    "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_BIND   "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_STANZA "urn:ietf:params:xml:ns:xmpp-stanzas"
/* How long a logout waits for the server's </stream:stream>. */
#define LEAVE_TIMEOUT_NS (5 * NS_PER_S)
/* How much of a server element goes into an error message. */
#define QUOTE_MAX 240

struct client_hooks client_hooks;
struct client_stats client_stats;

/* Where a login spends its time, per step (--verbose only): tells a slow
 * handshake from a slow router round trip. */
enum step { ST_CONNECT, ST_FEATURES, ST_SASL, ST_RESTART, ST_BIND, ST_PING, ST_N };
static const char *const step_names[ST_N] = {
	"connect", "features", "sasl", "restart", "bind", "presence+ping",
};
static struct samples steps[ST_N];

static void step_done(struct client *c, enum step s)
{
	if (!opt.verbose)
		return;
	int64_t now = now_ns();
	samples_add(&steps[s], now - c->t_step);
	c->t_step = now;
}

void client_print_steps(void)
{
	if (!opt.verbose || steps[ST_CONNECT].n == 0)
		return;
	char line[512];
	size_t o = 0;
	for (int s = 0; s < ST_N; s++)
		o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s %.2f/%.2f", s ? ", " : "",
		                      step_names[s], samples_pct_ms(&steps[s], 50),
		                      samples_pct_ms(&steps[s], 99));
	bench_say("login steps, p50/p99 ms: %s", line);
}

static const char *const state_names[] = {
	[CL_IDLE] = "idle", [CL_CONNECTING] = "connecting", [CL_FEATURES] = "stream features",
	[CL_STARTTLS] = "starttls", [CL_HANDSHAKE] = "TLS handshake", [CL_AUTH] = "SASL",
	[CL_BIND] = "bind", [CL_PING] = "presence/ping", [CL_ONLINE] = "online",
	[CL_LEAVING] = "logout",
};

void client_bare_jid(const struct client *c, char *out, size_t cap)
{
	char user[128];
	user_name(c->user, user, sizeof(user));
	snprintf(out, cap, "%s@%s", user, opt.host);
}

void client_send(struct client *c, const char *p, size_t n)
{
	if (c->fd < 0)
		return;
	if (buf_append(&c->out, p, n) != 0) {
		client_abort(c, "out of memory for the output queue");
		return;
	}
	net_mark_dirty(c);
}

void client_sendz(struct client *c, const char *z)
{
	client_send(c, z, strlen(z));
}

/* Takes the connection down and tells the scenario why. */
static void teardown(struct client *c, enum cl_down why)
{
	enum cl_state was = c->state;
	sasl_end(c);
	net_close(c);
	if (was < CL_ONLINE) {
		client_stats.inflight--;
		client_stats.failed++;
		why = DOWN_LOGIN_FAILED;
	} else {
		client_stats.online--;
		if (why == DOWN_DROPPED)
			client_stats.dropped++;
	}
	if (client_hooks.down)
		client_hooks.down(c, why);
}

static void fail(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct client *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char user[128];
	user_name(c->user, user, sizeof(user));
	if (c->state == CL_LEAVING) {
		teardown(c, DOWN_LEFT); /* whatever happens while leaving is fine */
		return;
	}
	bench_fail("%s: %s (during %s)", user, msg, state_names[c->state]);
	teardown(c, c->state >= CL_ONLINE ? DOWN_DROPPED : DOWN_LOGIN_FAILED);
}

void client_abort(struct client *c, const char *err)
{
	if (c->state == CL_IDLE)
		return;
	if (err)
		fail(c, "%s", err);
	else
		teardown(c, DOWN_LEFT);
}

void client_start(struct client *c)
{
	if (c->state != CL_IDLE)
		return;
	memset(&c->xs, 0, sizeof(c->xs));
	c->secured = c->authed = false;
	c->t_start = c->t_step = now_ns();
	if (client_stats.first_start == 0)
		client_stats.first_start = c->t_start;
	client_stats.inflight++;
	if (net_connect(c) != 0) {
		char user[128];
		user_name(c->user, user, sizeof(user));
		bench_fail("%s: connect to %s:%u: %s", user, opt.addr, opt.port, strerror(errno));
		client_stats.inflight--;
		client_stats.failed++;
		if (client_hooks.down)
			client_hooks.down(c, DOWN_LOGIN_FAILED);
		return;
	}
	net_pending_add(c, c->t_start + (int64_t)(opt.login_timeout * NS_PER_S));
}

static void send_header(struct client *c)
{
	char h[512];
	snprintf(h, sizeof(h),
	         "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
	         "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", opt.host);
	client_sendz(c, h);
}

void client_connected(struct client *c)
{
	step_done(c, ST_CONNECT);
	send_header(c);
}

static void go_online(struct client *c)
{
	step_done(c, ST_PING);
	int64_t now = now_ns();
	net_pending_del(c);
	c->state = CL_ONLINE;
	client_stats.inflight--;
	client_stats.ok++;
	client_stats.online++;
	client_stats.last_online = now;
	if (client_stats.login_lat)
		samples_add(client_stats.login_lat, now - c->t_start);
	if (client_hooks.online)
		client_hooks.online(c);
}

void client_tls_ready(struct client *c)
{
	c->secured = true;
	c->state = CL_FEATURES;
	memset(&c->xs, 0, sizeof(c->xs));
	send_header(c);
}

void client_logout(struct client *c)
{
	if (c->state != CL_ONLINE)
		return;
	client_sendz(c, "<presence type='unavailable'/></stream:stream>");
	c->state = CL_LEAVING;
	net_pending_add(c, now_ns() + LEAVE_TIMEOUT_NS);
}

void client_eof(struct client *c, const char *why)
{
	if (c->state == CL_LEAVING)
		teardown(c, DOWN_LEFT);
	else
		fail(c, "%s", why);
}

void client_timeout(struct client *c)
{
	if (c->state == CL_LEAVING) {
		teardown(c, DOWN_LEFT);
		return;
	}
	fail(c, "no answer within %.1f s", opt.login_timeout);
}

/* Quotes a server element in an error message, cut at QUOTE_MAX. */
static int quote_len(struct xml_str el)
{
	return el.n > QUOTE_MAX ? QUOTE_MAX : (int)el.n;
}

/* Queues ` NAME=Qvalue Q` copying a raw attribute value with its quotes. */
static void send_attr(struct client *c, const char *name, struct xml_str v, char q)
{
	char head[16];
	int n = snprintf(head, sizeof(head), " %s=%c", name, q);
	client_send(c, head, (size_t)n);
	client_send(c, v.p, v.n);
	client_send(c, &q, 1);
}

/* RFC 6120 §8.2.3: every IQ get/set gets an answer.  A ping and a roster
 * push get a result, anything else service-unavailable. */
static void answer_iq(struct client *c, struct xml_str el)
{
	struct xml_str id, from, child, ns;
	char qi = '\'', qf = '\'';
	bool has_id = xml_attr(el, "id", &id, &qi);
	bool has_from = xml_attr(el, "from", &from, &qf);
	bool ok = false;
	if (xml_first_child(el, &child) && xml_attr(child, "xmlns", &ns, NULL))
		ok = (xml_name_is(child, "ping") && xml_str_eq(ns, "urn:xmpp:ping")) ||
		     (xml_name_is(child, "query") && xml_str_eq(ns, "jabber:iq:roster") &&
		      xml_attr_is(el, "type", "set"));
	client_sendz(c, ok ? "<iq type='result'" : "<iq type='error'");
	if (has_id)
		send_attr(c, "id", id, qi);
	if (has_from)
		send_attr(c, "to", from, qf);
	client_sendz(c, ok ? "/>"
	                   : "><error type='cancel'><service-unavailable xmlns='" NS_STANZA
	                     "'/></error></iq>");
}

/* A stanza once bound (or while waiting for the ping answer). */
static void stanza(struct client *c, struct xml_str el)
{
	struct xml_str name = xml_name(el);
	if (xml_str_eq(name, "message")) {
		if (client_hooks.message)
			client_hooks.message(c, el);
	} else if (xml_str_eq(name, "presence")) {
		if (client_hooks.presence)
			client_hooks.presence(c, el);
	} else if (xml_str_eq(name, "iq")) {
		struct xml_str type;
		if (!xml_attr(el, "type", &type, NULL))
			return;
		if (xml_str_eq(type, "get") || xml_str_eq(type, "set")) {
			answer_iq(c, el);
		} else if (c->state == CL_PING && xml_attr_is(el, "id", "ping")) {
			/* An error is an answer too: a server without XEP-0199
			 * says service-unavailable, and the session is up. */
			go_online(c);
		} else if (client_hooks.iq) {
			client_hooks.iq(c, el);
		}
	}
}

static void features(struct client *c, struct xml_str el)
{
	char err[256];
	if (!opt.starttls || c->secured)
		step_done(c, c->authed ? ST_RESTART : ST_FEATURES);
	if (opt.starttls && !c->secured) {
		struct xml_str t;
		if (!xml_text(el, "starttls", &t)) {
			fail(c, "--starttls, but the server offers no STARTTLS: %.*s", quote_len(el), el.p);
			return;
		}
		client_sendz(c, "<starttls xmlns='" NS_TLS "'/>");
		c->state = CL_STARTTLS;
		return;
	}
	if (!c->authed) {
		char want[64];
		int n = snprintf(want, sizeof(want), ">%s<", mech_name(opt.mech));
		if (memmem(el.p, el.n, want, (size_t)n) == NULL) {
			fail(c, "the server does not offer %s: %.*s", mech_name(opt.mech),
			     quote_len(el), el.p);
			return;
		}
		if (sasl_auth(c, err, sizeof(err)) != 0) {
			fail(c, "%s", err);
			return;
		}
		c->state = CL_AUTH;
		return;
	}
	struct xml_str t;
	if (!xml_text(el, "bind", &t)) {
		fail(c, "no resource binding offered: %.*s", quote_len(el), el.p);
		return;
	}
	char iq[256];
	snprintf(iq, sizeof(iq), "<iq type='set' id='bind'><bind xmlns='" NS_BIND "'>"
	         "<resource>%s</resource></bind></iq>", opt.resource);
	client_sendz(c, iq);
	c->state = CL_BIND;
}

static void auth_step(struct client *c, struct xml_str el)
{
	char err[256];
	struct xml_str name = xml_name(el), text = { el.p, 0 };
	if (xml_str_eq(name, "challenge")) {
		(void)xml_text(el, "challenge", &text);
		if (sasl_challenge(c, text, err, sizeof(err)) != 0)
			fail(c, "%s", err);
	} else if (xml_str_eq(name, "success")) {
		(void)xml_text(el, "success", &text);
		if (sasl_success(c, text, err, sizeof(err)) != 0) {
			fail(c, "%s", err);
			return;
		}
		sasl_end(c);
		step_done(c, ST_SASL);
		c->authed = true;
		c->state = CL_FEATURES;
		xml_reset(&c->xs); /* the server's next bytes start a new stream */
		send_header(c);
	} else if (xml_str_eq(name, "failure")) {
		fail(c, "SASL %s failure: %.*s", mech_name(opt.mech), quote_len(el), el.p);
	} else {
		fail(c, "unexpected element during SASL: %.*s", quote_len(el), el.p);
	}
}

static void bind_step(struct client *c, struct xml_str el)
{
	if (!xml_name_is(el, "iq") || !xml_attr_is(el, "id", "bind")) {
		stanza(c, el);
		return;
	}
	if (!xml_attr_is(el, "type", "result")) {
		fail(c, "bind refused: %.*s", quote_len(el), el.p);
		return;
	}
	step_done(c, ST_BIND);
	char ping[256];
	snprintf(ping, sizeof(ping), "<presence/><iq type='get' id='ping' to='%s'>"
	         "<ping xmlns='urn:xmpp:ping'/></iq>", opt.host);
	client_sendz(c, ping);
	c->state = CL_PING;
}

static void element(struct client *c, struct xml_str el)
{
	if (c->raw) {
		if (client_hooks.message && xml_name_is(el, "message"))
			client_hooks.message(c, el);
		return;
	}
	if (xml_name_is(el, "error") && el.n > 8 && memcmp(el.p, "<stream:", 8) == 0) {
		fail(c, "stream error: %.*s", quote_len(el), el.p);
		return;
	}
	switch (c->state) {
	case CL_FEATURES:
		if (xml_name_is(el, "features"))
			features(c, el);
		else
			fail(c, "expected stream features, got %.*s", quote_len(el), el.p);
		break;
	case CL_STARTTLS:
		if (!xml_name_is(el, "proceed")) {
			fail(c, "STARTTLS refused: %.*s", quote_len(el), el.p);
			break;
		}
		if (tls_begin(c) != 0) {
			fail(c, "%s", tls_last_error());
			break;
		}
		c->state = CL_HANDSHAKE;
		/* Sends the ClientHello; epoll says when the answer is in. */
		if (tls_handshake(c) == TLS_ERROR)
			fail(c, "%s", tls_last_error());
		break;
	case CL_AUTH:
		auth_step(c, el);
		break;
	case CL_BIND:
		bind_step(c, el);
		break;
	case CL_PING:
	case CL_ONLINE:
	case CL_LEAVING:
		stanza(c, el);
		break;
	default:
		break;
	}
}

void client_input(struct client *c, const char *data, size_t len)
{
	/* Scan in place when nothing is carried over; else append and scan the
	 * connection's own buffer. */
	const char *buf = data;
	size_t n = len;
	bool own = buf_pending(&c->in) > 0;
	if (own) {
		if (buf_append(&c->in, data, len) != 0) {
			fail(c, "out of memory for input");
			return;
		}
		buf = c->in.data + c->in.off;
		n = buf_pending(&c->in);
	}
	uint32_t gen = c->gen;
	for (;;) {
		struct xml_str ev;
		enum xml_event e = xml_next(&c->xs, buf, n, &ev);
		if (e == XML_MORE)
			break;
		switch (e) {
		case XML_ERROR:
			fail(c, "malformed XML, or an element over %u bytes, from the server",
			     XML_MAX_ELEMENT);
			return;
		case XML_OPEN:
			if (c->raw && c->state == CL_FEATURES)
				go_online(c);
			break;
		case XML_CLOSE:
			if (c->state == CL_LEAVING)
				teardown(c, DOWN_LEFT);
			else
				fail(c, "the server closed the stream");
			return;
		case XML_ELEMENT:
			element(c, ev);
			break;
		default:
			break;
		}
		if (c->fd < 0 || c->gen != gen)
			return; /* gone, and so is buf when it was ours */
		if (c->state == CL_HANDSHAKE) {
			/* What follows <proceed/> is TLS; nothing else may be there. */
			buf_free(&c->in);
			memset(&c->xs, 0, sizeof(c->xs));
			return;
		}
	}
	size_t keep = xml_keep(&c->xs);
	if (own)
		buf_consume(&c->in, keep);
	else if (keep < n && buf_append(&c->in, buf + keep, n - keep) != 0) {
		fail(c, "out of memory for input");
		return;
	}
	xml_rebase(&c->xs, keep);
}

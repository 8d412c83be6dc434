/* msg.c — the msg scenario (and, in echo mode, the echo scenario's load).
 *
 * Users go in pairs (user1<->user2, user3<->user4, ...) and every user sends
 * chat messages to its peer's bare JID; the peer never replies.  Both ends
 * live in this process, so "in flight" is simply the sender's count minus
 * the receiver's.  In echo mode each connection is its own peer: the echo
 * server sends the very bytes back.
 *
 * Every body starts with "P SEQ T": the phase ('c' closed loop, 'o' open
 * loop), a sequence number and the CLOCK_MONOTONIC send time in ns, so the
 * receiver measures the latency without a table of sent messages and a
 * late message from one phase cannot count in the next. */
#include "bench/bench.h"
#include "bench/fleet.h"
#include "bench/stats.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* After a phase, how long in-flight messages may take to arrive. */
#define CLOSED_DRAIN_NS (10 * NS_PER_S)
#define OPEN_DRAIN_NS   (5 * NS_PER_S)

static struct fleet F;
static char phase;                 /* 'c', 'o' or 0 between phases */
static uint64_t seq;
static uint64_t closed_sent, closed_recv, open_sent, open_recv;
static uint64_t closed_bounced, open_bounced; /* came back as type='error' */
static struct samples open_lat;
static char pad[1024];

static void send_msg(struct client *s, char ph)
{
	char m[512];
	char user[128];
	user_name(s->peer->user, user, sizeof(user));
	seq++;
	int n = snprintf(m, sizeof(m), "<message to='%s@%s' type='chat' id='%c%" PRIu64 "'><body>",
	                 user, opt.host, ph, seq);
	int body = n;
	n += snprintf(m + n, sizeof(m) - (size_t)n, "%c %" PRIu64 " %" PRId64, ph, seq, now_ns());
	client_send(s, m, (size_t)n);
	/* Padding up to --body-size, in chunks. */
	for (int len = n - body; (unsigned)len < opt.body_size;) {
		size_t k = opt.body_size - (unsigned)len;
		if (k > sizeof(pad))
			k = sizeof(pad);
		client_send(s, pad, k);
		len += (int)k;
	}
	client_sendz(s, "</body></message>");
	if (ph == 'c') {
		s->sent++;
		closed_sent++;
	} else {
		open_sent++;
	}
}

/* Keeps W messages in flight from s to its peer. */
static void refill(struct client *s)
{
	while (s->state == CL_ONLINE && s->sent - s->peer->recvd < opt.window)
		send_msg(s, 'c');
}

/* Decimal digits at *p (stopping at end): the value, *p moved past them. */
static uint64_t digits(const char **p, const char *end)
{
	uint64_t v = 0;
	while (*p < end && **p >= '0' && **p <= '9')
		v = v * 10 + (uint64_t)(*(*p)++ - '0');
	return v;
}

static void on_message(struct client *c, struct xml_str el)
{
	struct xml_str type, body;
	if (xml_attr(el, "type", &type, NULL) && xml_str_eq(type, "error")) {
		char user[128];
		user_name(c->user, user, sizeof(user));
		if (xml_text(el, "body", &body) && body.n > 0 && body.p[0] == 'o')
			open_bounced++;
		else
			closed_bounced++;
		bench_fail("%s: a message came back as an error: %.*s", user,
		           el.n > 300 ? 300 : (int)el.n, el.p);
		return;
	}
	if (!xml_text(el, "body", &body) || body.n < 5 || body.p[1] != ' ')
		return;
	const char *p = body.p + 2, *end = body.p + body.n;
	(void)digits(&p, end);
	if (p >= end || *p != ' ')
		return;
	p++;
	int64_t sent_at = (int64_t)digits(&p, end);
	if (body.p[0] == 'c') {
		c->recvd++;
		closed_recv++;
		if (phase == 'c')
			refill(c->peer); /* c->peer is the sender: pairs are mutual */
	} else if (body.p[0] == 'o') {
		open_recv++;
		samples_add(&open_lat, now_ns() - sent_at);
	}
}

static bool closed_drained(void *arg)
{
	(void)arg;
	return closed_recv + closed_bounced >= closed_sent;
}

static bool open_drained(void *arg)
{
	(void)arg;
	return open_recv + open_bounced >= open_sent;
}

static bool all_online(void)
{
	return client_stats.ok == F.n && client_stats.online == F.n;
}

/* Closed loop: delivered/s and the server's CPU per delivery. */
static void closed_loop(struct result *r)
{
	struct cpu_mark a, b;
	phase = 'c';
	cpu_mark(&a);
	uint64_t r0 = closed_recv;
	for (unsigned i = 0; i < F.n; i++)
		refill(&F.c[i]);
	net_run_until(NULL, NULL, a.t + (int64_t)(opt.duration * NS_PER_S));
	cpu_mark(&b);
	phase = 0;
	uint64_t delivered = closed_recv - r0;
	double secs = (double)(b.t - a.t) / NS_PER_S;
	r->delivered = (double)delivered;
	r->delivered_per_s = secs > 0 ? delivered / secs : NAN;
	double srv = cpu_srv_delta(&a, &b);
	if (delivered > 0 && !isnan(srv))
		r->srv_us_per_msg = srv * 1e6 / (double)delivered;
	bench_debug("closed loop: %" PRIu64 " delivered in %.2f s, server %.2f s CPU, "
	            "generator %.2f s CPU", delivered, secs, srv, b.gen - a.gen);
	bool drained = net_run_until(closed_drained, NULL, now_ns() + CLOSED_DRAIN_NS);
	bench_debug("closed loop: %" PRIu64 " sent, %" PRIu64 " received, %" PRIu64 " bounced",
	            closed_sent, closed_recv, closed_bounced);
	if (!drained)
		bench_fail("closed loop: %" PRIu64 " of %" PRIu64 " messages not delivered %d s "
		           "after the phase", closed_sent - closed_recv - closed_bounced, closed_sent,
		           (int)(CLOSED_DRAIN_NS / NS_PER_S));
}

/* Open loop: a fixed total rate, round-robin over the senders. */
static void open_loop(struct result *r)
{
	phase = 'o';
	int64_t t0 = now_ns(), end = t0 + (int64_t)(opt.duration * NS_PER_S), now = t0;
	unsigned next = 0;
	while (now < end && !past_deadline()) {
		uint64_t due = (uint64_t)((double)(now - t0) / NS_PER_S * opt.rate);
		while (open_sent < due) {
			send_msg(&F.c[next], 'o');
			next = (next + 1) % F.n;
		}
		net_poll(1);
		now = now_ns();
	}
	phase = 0;
	if (!net_run_until(open_drained, NULL, now_ns() + OPEN_DRAIN_NS))
		bench_fail("open loop: %" PRIu64 " of %" PRIu64 " messages not delivered %d s "
		           "after the phase", open_sent - open_recv - open_bounced, open_sent,
		           (int)(OPEN_DRAIN_NS / NS_PER_S));
	r->open_sent = (double)open_sent;
	r->open_recv = (double)open_recv;
	r->lat_p50_ms = samples_pct_ms(&open_lat, 50);
	r->lat_p99_ms = samples_pct_ms(&open_lat, 99);
	r->lat_p999_ms = samples_pct_ms(&open_lat, 99.9);
}

int sc_msg(struct result *r)
{
	return msg_run(r, false);
}

int msg_run(struct result *r, bool echo)
{
	if (!echo && (opt.users < 2 || opt.users % 2 != 0)) {
		bench_say("msg needs an even number of users (pairs), not %u", opt.users);
		return EXIT_USAGE;
	}
	memset(pad, 'x', sizeof(pad));
	if (fleet_init(&F, opt.users, echo) != 0)
		return EXIT_FAILED;
	for (unsigned i = 0; i < F.n; i++)
		F.c[i].peer = echo ? &F.c[i] : &F.c[i ^ 1];
	client_hooks.message = on_message;
	struct samples login_lat = { 0 };
	client_stats.login_lat = &login_lat;

	struct cpu_mark start;
	cpu_mark(&start);
	fleet_login(&F);
	if (all_online()) {
		fleet_idle(opt.settle);
		if (opt.duration > 0)
			closed_loop(r);
		if (opt.duration > 0 && opt.rate > 0 && all_online()) {
			fleet_idle(opt.settle);
			open_loop(r);
		}
	} else {
		bench_say("%u of %u clients online: not measuring", client_stats.online, F.n);
	}
	fleet_run_figures(r, &start);
	fleet_login_figures(r, &login_lat);
	uint64_t sent = closed_sent + open_sent, got = closed_recv + open_recv;
	r->fail = client_stats.failed + client_stats.dropped + (unsigned)(sent > got ? sent - got : 0);
	fleet_free(&F);
	samples_free(&login_lat);
	samples_free(&open_lat);
	return bench_failures() > 0 ? EXIT_FAILED : EXIT_OK;
}

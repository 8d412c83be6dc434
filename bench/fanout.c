/* fanout.c — presence broadcast with rosters.
 *
 * Every user has K contacts with mutual ("both") subscriptions: the K/2
 * users on each side of it, cyclically, so the graph is regular and the
 * same for every N.  While all users are online, --concurrency of them at a
 * time log out and in again for --duration seconds; every presence a client
 * receives from someone else in that window counts as delivered (the
 * unavailable on logout, the available on login, and the contacts'
 * presences the server sends to the user who comes back).
 *
 * --setup-rosters creates the rosters through the protocol (RFC 6121):
 * a jabber:iq:roster set per contact, a subscribe to each contact, and a
 * subscribed answer to each subscribe received; then every roster is read
 * back and checked.  A server that answers a roster request with an error
 * has no rosters: the scenario says so and exits 2. */
#include "bench/bench.h"
#include "bench/fleet.h"
#include "bench/stats.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_ROSTER "jabber:iq:roster"
/* Setup: the subscribed answers may stop coming (a server that already
 * has the subscription need not forward a subscribe); stop waiting when
 * none arrived for this long, the roster check decides. */
#define QUIET_NS (5 * NS_PER_S)

static struct fleet F;
static unsigned K;
static bool measuring, churning;
static uint64_t presences, subscribed_total;
static unsigned setup_busy, roster_answers, churn_logins;
static char roster_error[400];
static struct client **restart;
static unsigned nrestart;
static unsigned next_out; /* next user to log out */

static unsigned contact(unsigned i, unsigned d)
{
	unsigned half = K / 2;
	if (d < half)
		return (i + d + 1) % F.n;
	return (i + F.n - (d - half + 1) % F.n) % F.n;
}

static void peer_jid(unsigned idx, char *out, size_t cap)
{
	char user[128];
	user_name(F.c[idx].user, user, sizeof(user));
	snprintf(out, cap, "%s@%s", user, opt.host);
}

/* Whether `from` is c's own bare JID or one of its full JIDs. */
static bool from_self(const struct client *c, struct xml_str from)
{
	char bare[200];
	client_bare_jid(c, bare, sizeof(bare));
	size_t bl = strlen(bare);
	return from.n >= bl && memcmp(from.p, bare, bl) == 0 && (from.n == bl || from.p[bl] == '/');
}

static void on_presence(struct client *c, struct xml_str el)
{
	struct xml_str type, from;
	char q;
	bool typed = xml_attr(el, "type", &type, NULL);
	if (typed && xml_str_eq(type, "subscribe")) {
		if (!xml_attr(el, "from", &from, &q))
			return;
		const char *slash = memchr(from.p, '/', from.n);
		size_t n = slash ? (size_t)(slash - from.p) : from.n;
		char reply[400];
		int len = snprintf(reply, sizeof(reply), "<presence to=%c%.*s%c type='subscribed'/>",
		                   q, (int)n, from.p, q);
		if (len > 0 && (size_t)len < sizeof(reply))
			client_send(c, reply, (size_t)len);
		return;
	}
	if (typed && xml_str_eq(type, "subscribed")) {
		c->recvd++;
		subscribed_total++;
		return;
	}
	if (!measuring || (typed && !xml_str_eq(type, "unavailable")))
		return;
	if (xml_attr(el, "from", &from, NULL) && from_self(c, from))
		return;
	presences++;
}

/* Items with subscription='both' in a roster result. */
static unsigned count_both(struct xml_str el)
{
	static const char *const pats[] = { "subscription='both'", "subscription=\"both\"" };
	unsigned n = 0;
	for (size_t k = 0; k < 2; k++) {
		const char *p = el.p, *end = el.p + el.n;
		size_t pl = strlen(pats[k]);
		while (p < end && (p = memmem(p, (size_t)(end - p), pats[k], pl)) != NULL) {
			n++;
			p += pl;
		}
	}
	return n;
}

static void on_iq(struct client *c, struct xml_str el)
{
	struct xml_str id;
	if (!xml_attr(el, "id", &id, NULL) || id.n < 2 || id.p[0] != 'r')
		return;
	bool ok = xml_attr_is(el, "type", "result");
	if (!ok && roster_error[0] == '\0')
		snprintf(roster_error, sizeof(roster_error), "%.*s", el.n > 300 ? 300 : (int)el.n, el.p);
	if (xml_str_eq(id, "rget")) {
		c->count = ok ? count_both(el) : 0;
		roster_answers++;
		return;
	}
	/* A roster set ("rs<d>"). */
	c->sent++;
	if (c->sent == K)
		setup_busy--;
}

static void on_online(struct client *c)
{
	if (!churning)
		return;
	churn_logins++;
	(void)c;
	/* Keep the number of users cycling constant: the next one goes. */
	for (unsigned tries = 0; tries < F.n; tries++) {
		struct client *o = &F.c[next_out];
		next_out = (next_out + 1) % F.n;
		if (o->state == CL_ONLINE) {
			client_logout(o);
			return;
		}
	}
}

static void on_down(struct client *c, enum cl_down why)
{
	/* Not from inside the loop round: net.c forbids restarting there. */
	if (churning && why == DOWN_LEFT)
		restart[nrestart++] = c;
}

static void roster_get(struct client *c)
{
	c->count = 0;
	client_sendz(c, "<iq type='get' id='rget'><query xmlns='" NS_ROSTER "'/></iq>");
}

static bool answers_in(void *arg)
{
	return roster_answers >= *(unsigned *)arg || roster_error[0];
}

/* Reads the rosters of the first n users; how many have K "both" items. */
static unsigned check_rosters(unsigned n)
{
	roster_answers = 0;
	for (unsigned i = 0; i < n; i++)
		roster_get(&F.c[i]);
	net_run_until(answers_in, &n, now_ns() + 30 * NS_PER_S);
	unsigned good = 0;
	for (unsigned i = 0; i < n; i++)
		good += F.c[i].count >= K;
	return good;
}

static int unsupported(void)
{
	bench_say("the server answered a roster request with an error: %s", roster_error);
	bench_say("fanout needs rosters (RFC 6121); this server does not provide them");
	return EXIT_UNSUPPORTED;
}

static void issue(struct client *c, unsigned i)
{
	char jid[200], s[600];
	for (unsigned d = 0; d < K; d++) {
		peer_jid(contact(i, d), jid, sizeof(jid));
		snprintf(s, sizeof(s), "<iq type='set' id='rs%u'><query xmlns='" NS_ROSTER "'>"
		         "<item jid='%s'/></query></iq><presence to='%s' type='subscribe'/>", d, jid, jid);
		client_sendz(c, s);
	}
}

static bool setup_done(void *arg)
{
	(void)arg;
	return setup_busy == 0 || roster_error[0];
}

static int setup(void)
{
	int64_t t0 = now_ns();
	unsigned next = 0;
	while (next < F.n && !roster_error[0]) {
		while (next < F.n && setup_busy < opt.concurrency) {
			setup_busy++;
			issue(&F.c[next], next);
			next++;
		}
		if (past_deadline()) {
			bench_fail("setup: overall deadline with %u of %u users issued", next, F.n);
			return EXIT_FAILED;
		}
		net_poll(50);
	}
	net_run_until(setup_done, NULL, run_deadline);
	if (roster_error[0])
		return unsupported();
	/* Wait for the subscribed answers while they keep coming. */
	uint64_t seen = subscribed_total;
	int64_t quiet_since = now_ns();
	while (subscribed_total < (uint64_t)F.n * K && !past_deadline() &&
	       now_ns() - quiet_since < QUIET_NS) {
		net_poll(50);
		if (subscribed_total != seen) {
			seen = subscribed_total;
			quiet_since = now_ns();
		}
	}
	unsigned good = check_rosters(F.n);
	bench_say("setup: %u users x %u contacts: %u roster sets, %" PRIu64 " subscribed answers, "
	          "%u rosters complete, %.1f s", F.n, K, F.n * K, subscribed_total, good,
	          (double)(now_ns() - t0) / NS_PER_S);
	if (roster_error[0])
		return unsupported();
	if (good < F.n) {
		bench_fail("setup: %u of %u users lack %u contacts with subscription 'both'",
		           F.n - good, F.n, K);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static void churn(struct result *r, struct samples *lat)
{
	unsigned cyclers = opt.concurrency;
	if (cyclers > F.n / 4)
		cyclers = F.n / 4 ? F.n / 4 : 1;
	restart = calloc(F.n, sizeof(*restart));
	if (restart == NULL) {
		bench_fail("out of memory");
		return;
	}
	r->conc = cyclers;
	samples_clear(lat);
	presences = 0;
	churn_logins = 0;
	measuring = churning = true;
	struct cpu_mark a, b;
	cpu_mark(&a);
	int64_t end = a.t + (int64_t)(opt.duration * NS_PER_S);
	next_out = 0;
	for (unsigned k = 0; k < cyclers; k++) {
		client_logout(&F.c[next_out]);
		next_out = (next_out + 1) % F.n;
	}
	while (now_ns() < end && !past_deadline()) {
		net_poll(10);
		for (unsigned k = 0; k < nrestart; k++)
			client_start(restart[k]);
		nrestart = 0;
	}
	cpu_mark(&b);
	measuring = churning = false;
	double secs = (double)(b.t - a.t) / NS_PER_S;
	r->delivered = (double)presences;
	r->delivered_per_s = secs > 0 ? presences / secs : NAN;
	r->logins_per_s = secs > 0 ? churn_logins / secs : NAN;
	r->login_p50_ms = samples_pct_ms(lat, 50);
	r->login_p99_ms = samples_pct_ms(lat, 99);
	double srv = cpu_srv_delta(&a, &b);
	if (presences > 0 && !isnan(srv))
		r->srv_us_per_msg = srv * 1e6 / (double)presences;
	bench_debug("churn: %u logins, %" PRIu64 " presences in %.2f s", churn_logins, presences, secs);
	/* Let the logins in progress finish so none counts as failed. */
	int64_t until = now_ns() + (int64_t)(opt.login_timeout * NS_PER_S);
	while (client_stats.inflight > 0 && now_ns() < until && !past_deadline())
		net_poll(50);
	free(restart);
	restart = NULL;
}

int sc_fanout(struct result *r)
{
	K = opt.contacts;
	if (K == 0 || K % 2 != 0 || K >= opt.users) {
		bench_say("--contacts must be even, non-zero and below --users (%u, %u users)", K,
		          opt.users);
		return EXIT_USAGE;
	}
	if (fleet_init(&F, opt.users, false) != 0)
		return EXIT_FAILED;
	client_hooks.presence = on_presence;
	client_hooks.iq = on_iq;
	client_hooks.online = on_online;
	client_hooks.down = on_down;
	struct samples lat = { 0 };
	client_stats.login_lat = &lat;
	struct cpu_mark start;
	cpu_mark(&start);
	fleet_login(&F);
	int rc = EXIT_OK;
	if (client_stats.online < F.n) {
		bench_say("%u of %u users online: not going on", client_stats.online, F.n);
		rc = EXIT_FAILED;
	} else if (check_rosters(1) < 1 && roster_error[0]) {
		rc = unsupported();
	} else if (opt.setup_rosters) {
		roster_error[0] = '\0';
		rc = setup();
		r->no_line = true;
	} else if (F.c[0].count < K) {
		bench_say("%s has %" PRIu64 " contacts with subscription 'both', %u wanted: "
		          "run `xmppd-bench fanout --setup-rosters` with the same --users and "
		          "--contacts first", "the first user", F.c[0].count, K);
		rc = EXIT_UNSUPPORTED;
	} else {
		fleet_idle(opt.settle);
		churn(r, &lat);
	}
	fleet_run_figures(r, &start);
	r->ok = client_stats.ok;
	r->fail = client_stats.failed + client_stats.dropped;
	if (rc == EXIT_UNSUPPORTED)
		r->no_line = true;
	fleet_free(&F);
	samples_free(&lat);
	if (rc == EXIT_OK && bench_failures() > 0)
		rc = EXIT_FAILED;
	return rc;
}

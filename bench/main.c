/* main.c — xmppd-bench: command line, scenario dispatch, the result line.
 *
 * A single-threaded load generator: one process, one epoll loop, thousands
 * of XMPP client connections.  It shares the machine with the server it
 * measures, so it does as little as it can per byte. */
#include "bench/bench.h"
#include "bench/client.h"
#include "bench/keycache.h"
#include "bench/proc.h"
#include "bench/sasl.h"
#include "bench/tls.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opts opt = {
	.host = "localhost",
	.addr = "127.0.0.1",
	.port = 5222,
	.users = 200,
	.first = 1,
	.concurrency = 50,
	.password = "password",
	.prefix = "user",
	.resource = "bench",
	.mech = MECH_SCRAM_SHA1,
	.window = 10,
	.duration = 10,
	.rate = 1000,
	.settle = 1,
	.login_timeout = 10,
	.contacts = 100,
	.label = "-",
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: xmppd-bench SCENARIO [options]\n"
"       xmppd-bench echo-server PORT [--addr A]\n"
"\n"
"Scenarios (users user<first>..user<first+N-1> must exist, one shared password):\n"
"  login   N users log in, at most C at a time, and stay online until the end.\n"
"          A login runs from connect() to the answer of a ping sent after the\n"
"          initial presence (stream, SASL, restart, bind, presence, ping).\n"
"  idle    N sessions online, then the server's RSS and PSS (all its processes,\n"
"          needs --server-pid) compared with a baseline taken before the logins.\n"
"          Use a freshly started server: one that served load before reuses\n"
"          freed memory and shows too little per connection.\n"
"  msg     N users in pairs (user1<->user2, ...); each user sends to its peer's\n"
"          bare JID.  Closed loop: W messages in flight per sender for T seconds\n"
"          (delivered/s).  Then open loop: R messages/s in total, round-robin\n"
"          over the senders, for T seconds (latency percentiles).\n"
"  fanout  N users with rosters of K contacts (mutual subscriptions, contacts of\n"
"          user i: the K/2 users on each side of i, cyclically); C users at a\n"
"          time log out and in again for T seconds; presences delivered/s.\n"
"          --setup-rosters creates the rosters through the protocol and exits;\n"
"          a server without rosters makes it exit 2.\n"
"  echo    msg's byte pattern against the tool's own epoll echo server (forked,\n"
"          on an ephemeral port; with --server-pid it uses a running\n"
"          `xmppd-bench echo-server PORT` at --addr/--port instead): the ceiling\n"
"          of this machine for the msg load.\n"
"\n"
"Options (default):\n"
"  --host H           XMPP domain (localhost)\n"
"  --addr A           IPv4 address to connect to (127.0.0.1)\n"
"  --port P           TCP port (5222)\n"
"  --users N          number of clients (200; msg/echo: even)\n"
"  --first K          number of the first user (1)\n"
"  --user-prefix P    user names are P<number> (user)\n"
"  --password PW      the users' password (password)\n"
"  --mech M           PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256 (SCRAM-SHA-1)\n"
"  --resource R       resource to bind (bench)\n"
"  --concurrency C    logins in progress at once; fanout: users cycling, at most\n"
"                     users/4, and users set up at once by --setup-rosters (50)\n"
"  --window W         msg/echo: messages in flight per sender (10)\n"
"  --duration T       seconds of each measured phase (10)\n"
"  --rate R           msg/echo: open-loop messages per second in total (1000)\n"
"  --body-size B      msg/echo: pad message bodies to B bytes (0: stamp only)\n"
"  --contacts K       fanout: roster size, even, < users (100)\n"
"  --settle S         seconds of quiet before a measurement (1)\n"
"  --login-timeout S  seconds from connect() to online (10)\n"
"  --timeout S        overall deadline; 0 derives one from the sizes (0)\n"
"  --server-pid PID   the server's main process: CPU and memory are summed\n"
"                     over it and all its descendants\n"
"  --starttls         negotiate STARTTLS (certificate not verified)\n"
"  --setup-rosters    fanout: create the rosters, then exit\n"
"  --scram-cache FILE keep SCRAM keys (password equivalents, mode 0600) across\n"
"                     runs so repeated runs skip the client-side PBKDF2\n"
"  --label NAME       copied into the result line (-)\n"
"  --header           print the header line before the result\n"
"  --verbose          progress and every failure on stderr\n"
"  --help             this text\n"
"\n"
"Output: one TSV line on stdout per run (figures that do not apply are \"-\"):\n");
	result_help(f);
	fprintf(f,
"\n"
"Progress and errors go to stderr.  Exit status: 0 ok; 1 failures (logins,\n"
"dropped sessions, bounced or lost messages, deadline; the count and the first\n"
"error are printed); 2 the server lacks a feature the scenario needs (rosters);\n"
"64 usage.\n");
}

static int parse_uint(const char *name, const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end != '\0' || v > max || s[0] == '-') {
		bench_say("%s: '%s' is not a number in 0..%lu", name, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_double(const char *name, const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v >= 0)) {
		bench_say("%s: '%s' is not a non-negative number", name, s);
		return -1;
	}
	*out = v;
	return 0;
}

enum {
	O_HOST = 256, O_ADDR, O_PORT, O_USERS, O_FIRST, O_CONC, O_PASSWORD, O_MECH, O_WINDOW,
	O_DURATION, O_RATE, O_SERVER_PID, O_PREFIX, O_LABEL, O_HEADER, O_STARTTLS, O_SETTLE,
	O_LOGIN_TIMEOUT, O_TIMEOUT, O_BODY, O_CONTACTS, O_SETUP, O_CACHE, O_RESOURCE,
};

static const struct option longopts[] = {
	{ "host", required_argument, NULL, O_HOST },
	{ "addr", required_argument, NULL, O_ADDR },
	{ "port", required_argument, NULL, O_PORT },
	{ "users", required_argument, NULL, O_USERS },
	{ "first", required_argument, NULL, O_FIRST },
	{ "concurrency", required_argument, NULL, O_CONC },
	{ "password", required_argument, NULL, O_PASSWORD },
	{ "mech", required_argument, NULL, O_MECH },
	{ "window", required_argument, NULL, O_WINDOW },
	{ "duration", required_argument, NULL, O_DURATION },
	{ "rate", required_argument, NULL, O_RATE },
	{ "server-pid", required_argument, NULL, O_SERVER_PID },
	{ "user-prefix", required_argument, NULL, O_PREFIX },
	{ "label", required_argument, NULL, O_LABEL },
	{ "header", no_argument, NULL, O_HEADER },
	{ "starttls", no_argument, NULL, O_STARTTLS },
	{ "settle", required_argument, NULL, O_SETTLE },
	{ "login-timeout", required_argument, NULL, O_LOGIN_TIMEOUT },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "body-size", required_argument, NULL, O_BODY },
	{ "contacts", required_argument, NULL, O_CONTACTS },
	{ "setup-rosters", no_argument, NULL, O_SETUP },
	{ "scram-cache", required_argument, NULL, O_CACHE },
	{ "resource", required_argument, NULL, O_RESOURCE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_args(int argc, char **argv, int *npos, char **pos)
{
	int ch;
	unsigned long u;
	*npos = 0;
	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case O_HOST: opt.host = optarg; break;
		case O_ADDR: opt.addr = optarg; break;
		case O_PORT:
			if (parse_uint("--port", optarg, 65535, &u)) return -1;
			opt.port = (uint16_t)u;
			break;
		case O_USERS:
			if (parse_uint("--users", optarg, 10000000, &u)) return -1;
			opt.users = (unsigned)u;
			break;
		case O_FIRST:
			if (parse_uint("--first", optarg, UINT_MAX / 2, &u)) return -1;
			opt.first = (unsigned)u;
			break;
		case O_CONC:
			if (parse_uint("--concurrency", optarg, 1000000, &u) || u == 0) return -1;
			opt.concurrency = (unsigned)u;
			break;
		case O_PASSWORD: opt.password = optarg; break;
		case O_MECH:
			if (strcmp(optarg, "PLAIN") == 0) opt.mech = MECH_PLAIN;
			else if (strcmp(optarg, "SCRAM-SHA-1") == 0) opt.mech = MECH_SCRAM_SHA1;
			else if (strcmp(optarg, "SCRAM-SHA-256") == 0) opt.mech = MECH_SCRAM_SHA256;
			else {
				bench_say("--mech: PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256, not '%s'", optarg);
				return -1;
			}
			break;
		case O_WINDOW:
			if (parse_uint("--window", optarg, 1000000, &u) || u == 0) return -1;
			opt.window = (unsigned)u;
			break;
		case O_DURATION:
			if (parse_double("--duration", optarg, &opt.duration)) return -1;
			break;
		case O_RATE:
			if (parse_double("--rate", optarg, &opt.rate)) return -1;
			break;
		case O_SERVER_PID:
			if (parse_uint("--server-pid", optarg, INT_MAX, &u) || u == 0) return -1;
			opt.server_pid = (pid_t)u;
			break;
		case O_PREFIX: opt.prefix = optarg; break;
		case O_LABEL: opt.label = optarg; break;
		case O_HEADER: opt.header = true; break;
		case O_STARTTLS: opt.starttls = true; break;
		case O_SETTLE:
			if (parse_double("--settle", optarg, &opt.settle)) return -1;
			break;
		case O_LOGIN_TIMEOUT:
			if (parse_double("--login-timeout", optarg, &opt.login_timeout)) return -1;
			break;
		case O_TIMEOUT:
			if (parse_double("--timeout", optarg, &opt.timeout)) return -1;
			break;
		case O_BODY:
			if (parse_uint("--body-size", optarg, 65536, &u)) return -1;
			opt.body_size = (unsigned)u;
			break;
		case O_CONTACTS:
			if (parse_uint("--contacts", optarg, 100000, &u)) return -1;
			opt.contacts = (unsigned)u;
			break;
		case O_SETUP: opt.setup_rosters = true; break;
		case O_CACHE: opt.scram_cache = optarg; break;
		case O_RESOURCE: opt.resource = optarg; break;
		case 'v': opt.verbose = true; break;
		case 'h': usage(stdout); exit(EXIT_OK);
		default: return -1;
		}
	}
	for (int i = optind; i < argc && *npos < 2; i++)
		pos[(*npos)++] = argv[i];
	if (argc - optind > 2) {
		bench_say("unexpected argument '%s'", argv[optind + 2]);
		return -1;
	}
	return 0;
}

/* A deadline long enough for the sizes asked, so no run can hang. */
static double derived_timeout(void)
{
	double t = 60 + opt.users / 50.0 + 3 * opt.settle + opt.login_timeout;
	if (strcmp(opt.scenario, "msg") == 0 || strcmp(opt.scenario, "echo") == 0)
		t += 2 * opt.duration + 20;
	else if (strcmp(opt.scenario, "fanout") == 0)
		/* Roster setup is N*K roster sets and as many subscriptions; a
		 * server with file-backed rosters manages a few hundred a second. */
		t += opt.duration + 30 + (opt.setup_rosters ? opt.users * opt.contacts / 50.0 : 0);
	return t;
}

int main(int argc, char **argv)
{
	char *pos[2];
	int npos;
	if (parse_args(argc, argv, &npos, pos) != 0) {
		bench_say("try --help");
		return EXIT_USAGE;
	}
	if (npos == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(pos[0], "echo-server") == 0) {
		unsigned long port;
		if (npos != 2 || parse_uint("PORT", pos[1], 65535, &port) != 0)
			return EXIT_USAGE;
		raise_nofile();
		return echo_server_main(opt.addr, (uint16_t)port);
	}
	opt.scenario = pos[0];
	int (*run)(struct result *) = NULL;
	if (strcmp(opt.scenario, "login") == 0) run = sc_login;
	else if (strcmp(opt.scenario, "idle") == 0) run = sc_idle;
	else if (strcmp(opt.scenario, "msg") == 0) run = sc_msg;
	else if (strcmp(opt.scenario, "fanout") == 0) run = sc_fanout;
	else if (strcmp(opt.scenario, "echo") == 0) run = sc_echo;
	if (run == NULL || npos != 1) {
		bench_say("unknown scenario '%s' (login, idle, msg, fanout, echo, echo-server)", pos[0]);
		return EXIT_USAGE;
	}

	long nofile = raise_nofile();
	if (nofile > 0 && (long)opt.users + 64 > nofile) {
		bench_say("%u connections need more file descriptors than the limit %ld: "
		          "raise the hard limit (ulimit -Hn) first", opt.users, nofile);
		return EXIT_USAGE;
	}
	/* echo connects to a server it forks first, on a port known only then. */
	if (run != sc_echo && net_init() != 0)
		return EXIT_FAILED;
	if (opt.starttls && tls_global_init() != 0)
		return EXIT_FAILED;
	if (opt.scram_cache && keycache_load(opt.scram_cache, opt.password) != 0)
		return EXIT_FAILED;
	run_deadline = now_ns() + (int64_t)((opt.timeout > 0 ? opt.timeout : derived_timeout()) * NS_PER_S);

	struct result r;
	result_init(&r);
	r.users = opt.users;
	int rc = run(&r);
	if (rc == EXIT_USAGE)
		return rc;
	if (!r.no_line) {
		if (opt.header)
			result_header(stdout);
		result_print(stdout, &r);
	}
	if (opt.scram_cache && keycache_save(opt.scram_cache) != 0 && rc == EXIT_OK)
		rc = EXIT_FAILED;
	if (bench_failures() > 0) {
		bench_say("%u failure%s; first: %s", bench_failures(), bench_failures() == 1 ? "" : "s",
		          bench_first_error());
		if (rc == EXIT_OK)
			rc = EXIT_FAILED;
	}
	return rc;
}

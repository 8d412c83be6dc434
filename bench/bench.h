/* bench.h — what the parts of xmppd-bench share: the options, the clock,
 * run-wide failure accounting and the result line every scenario fills. */
#ifndef XMPPD_BENCH_BENCH_H
#define XMPPD_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum mech { MECH_PLAIN = 0, MECH_SCRAM_SHA1, MECH_SCRAM_SHA256 };

/* Exit statuses: a script tells "the server failed" from "cannot measure". */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,      /* logins failed, messages lost, deadline hit */
	EXIT_UNSUPPORTED = 2, /* the server lacks what the scenario needs */
	EXIT_USAGE = 64,
};

struct opts {
	const char *scenario;
	const char *host;       /* XMPP domain: stream 'to', JIDs */
	const char *addr;       /* IPv4 address to connect to */
	uint16_t port;
	unsigned users;
	unsigned first;         /* number of the first user (user1) */
	unsigned concurrency;   /* logins in progress at once */
	const char *password;
	const char *prefix;
	const char *resource;
	enum mech mech;
	unsigned window;
	double duration;        /* seconds of each measured phase */
	double rate;            /* open loop, messages per second in total */
	double settle;          /* seconds of quiet before a measurement */
	double login_timeout;   /* seconds from connect() to online */
	double timeout;         /* overall deadline in seconds; 0: derived */
	unsigned body_size;     /* bytes of message body (at least the stamp) */
	unsigned contacts;      /* fanout: roster size */
	pid_t server_pid;
	const char *label;
	const char *scram_cache;
	bool header;
	bool starttls;
	bool setup_rosters;
	bool verbose;
};

extern struct opts opt;

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t now_ns(void);
#define NS_PER_S  1000000000LL
#define NS_PER_MS 1000000LL

/* The overall deadline (now_ns() scale) every wait checks. */
extern int64_t run_deadline;
bool past_deadline(void);

/* Records a failure: counts it and keeps the first message for the final
 * report (the message should name the user and quote what the server said). */
void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
unsigned bench_failures(void);
const char *bench_first_error(void);
void bench_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define bench_debug(...) do { if (opt.verbose) bench_say(__VA_ARGS__); } while (0)

/* "user17", into out. */
void user_name(unsigned number, char *out, size_t cap);

/* The result line.  NAN in a double (or a negative count) prints as "-". */
struct result {
	unsigned users, ok, fail;
	unsigned conc; /* 0: --concurrency as given */
	double elapsed_s;
	double logins_per_s, login_p50_ms, login_p99_ms;
	double rss_base_kb, pss_base_kb, rss_kb, pss_kb, rss_per_conn, pss_per_conn;
	double delivered, delivered_per_s;
	double open_sent, open_recv, lat_p50_ms, lat_p99_ms, lat_p999_ms;
	double srv_cpu_s, gen_cpu_s, srv_us_per_msg;
	bool no_line; /* --setup-rosters: nothing measured, nothing printed */
};
void result_init(struct result *r);
void result_header(FILE *f);
void result_print(FILE *f, const struct result *r);
/* The column list for --help. */
void result_help(FILE *f);

/* Scenarios: each fills r and returns an exit status. */
int sc_login(struct result *r);
int sc_idle(struct result *r);
int sc_msg(struct result *r);
int sc_echo(struct result *r);
int sc_fanout(struct result *r);
/* The msg engine; echo mode talks to an echo server without XMPP. */
int msg_run(struct result *r, bool echo);
/* `xmppd-bench echo-server PORT`: serves until SIGTERM/SIGINT. */
int echo_server_main(const char *addr, uint16_t port);

#endif

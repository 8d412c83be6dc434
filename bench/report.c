/* report.c — the one TSV line a run prints, and its documentation.
 *
 * Every scenario prints the same columns in the same order so that runs of
 * different scenarios (and servers, told apart by the label) can go into
 * one file under one header; a figure a scenario does not measure is "-".
 * The table below is the single source of the names, the order and the
 * --help text. */
#include "bench/bench.h"
#include "bench/sasl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	const char *doc;
} columns[] = {
	{ "scenario", "login, idle, msg, fanout or echo" },
	{ "label", "--label (tells servers apart)" },
	{ "users", "clients in the run" },
	{ "conc", "--concurrency (fanout: users cycling)" },
	{ "mech", "SASL mechanism" },
	{ "ok", "logins that reached online (echo: connections)" },
	{ "fail", "failures: logins, drops, bounced or lost messages" },
	{ "elapsed_s", "wall time of the whole run" },
	{ "logins_per_s", "online logins / (last online - first connect)" },
	{ "login_p50_ms", "connect() to ping answered, median" },
	{ "login_p99_ms", "same, 99th percentile" },
	{ "rss_base_kb", "idle: server RSS (all processes) before the logins" },
	{ "pss_base_kb", "idle: server PSS before the logins" },
	{ "rss_kb", "idle: server RSS with every session online" },
	{ "pss_kb", "idle: server PSS with every session online" },
	{ "rss_per_conn_b", "idle: (rss_kb - rss_base_kb) * 1024 / ok" },
	{ "pss_per_conn_b", "idle: (pss_kb - pss_base_kb) * 1024 / ok" },
	{ "window", "msg/echo: --window, messages in flight per sender" },
	{ "duration_s", "--duration of each measured phase" },
	{ "delivered", "msg/echo: closed-loop deliveries; fanout: presences" },
	{ "delivered_per_s", "delivered / duration_s" },
	{ "rate", "msg/echo: open-loop --rate, messages/s in total" },
	{ "open_sent", "msg/echo: open-loop messages sent" },
	{ "open_recv", "msg/echo: open-loop messages received" },
	{ "lat_p50_ms", "msg/echo: open-loop send-to-receive latency, median" },
	{ "lat_p99_ms", "same, 99th percentile" },
	{ "lat_p999_ms", "same, 99.9th percentile" },
	{ "srv_cpu_s", "server utime+stime over its process tree, whole run" },
	{ "gen_cpu_s", "generator utime+stime (getrusage), whole run" },
	{ "srv_us_per_msg", "server CPU us per delivery in the closed loop "
	                    "(fanout: per presence)" },
};

void result_init(struct result *r)
{
	memset(r, 0, sizeof(*r));
	double *d[] = {
		&r->elapsed_s, &r->logins_per_s, &r->login_p50_ms, &r->login_p99_ms,
		&r->rss_base_kb, &r->pss_base_kb, &r->rss_kb, &r->pss_kb, &r->rss_per_conn,
		&r->pss_per_conn, &r->delivered, &r->delivered_per_s, &r->open_sent,
		&r->open_recv, &r->lat_p50_ms, &r->lat_p99_ms, &r->lat_p999_ms, &r->srv_cpu_s,
		&r->gen_cpu_s, &r->srv_us_per_msg,
	};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		*d[i] = NAN;
}

void result_help(FILE *f)
{
	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++)
		fprintf(f, "  %2zu %-16s %s\n", i + 1, columns[i].name, columns[i].doc);
}

void result_header(FILE *f)
{
	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++)
		fprintf(f, "%s%s", i ? "\t" : "", columns[i].name);
	fputc('\n', f);
}

static void put_d(FILE *f, double v, int prec)
{
	if (isnan(v))
		fputs("\t-", f);
	else
		fprintf(f, "\t%.*f", prec, v);
}

/* A label goes in a TSV field: no tabs or newlines. */
static void put_s(FILE *f, const char *s, bool first)
{
	if (!first)
		fputc('\t', f);
	if (s == NULL || *s == '\0') {
		fputc('-', f);
		return;
	}
	for (; *s; s++)
		fputc(*s == '\t' || *s == '\n' || *s == '\r' ? '_' : *s, f);
}

void result_print(FILE *f, const struct result *r)
{
	bool xmpp = strcmp(opt.scenario, "echo") != 0;
	bool flow = strcmp(opt.scenario, "msg") == 0 || !xmpp;
	bool timed = flow || strcmp(opt.scenario, "fanout") == 0;
	put_s(f, opt.scenario, true);
	put_s(f, opt.label, false);
	fprintf(f, "\t%u\t%u", r->users, r->conc ? r->conc : opt.concurrency);
	put_s(f, xmpp ? mech_name(opt.mech) : NULL, false);
	fprintf(f, "\t%u\t%u", r->ok, r->fail);
	put_d(f, r->elapsed_s, 3);
	put_d(f, r->logins_per_s, 1);
	put_d(f, r->login_p50_ms, 3);
	put_d(f, r->login_p99_ms, 3);
	put_d(f, r->rss_base_kb, 0);
	put_d(f, r->pss_base_kb, 0);
	put_d(f, r->rss_kb, 0);
	put_d(f, r->pss_kb, 0);
	put_d(f, r->rss_per_conn, 0);
	put_d(f, r->pss_per_conn, 0);
	put_d(f, flow ? opt.window : NAN, 0);
	put_d(f, timed ? opt.duration : NAN, 1);
	put_d(f, r->delivered, 0);
	put_d(f, r->delivered_per_s, 1);
	put_d(f, flow ? opt.rate : NAN, 1);
	put_d(f, r->open_sent, 0);
	put_d(f, r->open_recv, 0);
	put_d(f, r->lat_p50_ms, 3);
	put_d(f, r->lat_p99_ms, 3);
	put_d(f, r->lat_p999_ms, 3);
	put_d(f, r->srv_cpu_s, 2);
	put_d(f, r->gen_cpu_s, 2);
	put_d(f, r->srv_us_per_msg, 1);
	fputc('\n', f);
	fflush(f);
}

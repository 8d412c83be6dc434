/* login.c — the login and idle scenarios.
 *
 * login: every user logs in (at most --concurrency at a time) and stays
 * online until the end; the figures are the rate and the latency from
 * connect() to the answer of the ping that follows the initial presence.
 *
 * idle: the same logins, then --settle seconds of quiet, then the server's
 * memory (RSS and PSS over all its processes) against a baseline read
 * before the first connection. */
#include "bench/bench.h"
#include "bench/fleet.h"
#include "bench/proc.h"
#include "bench/stats.h"


int sc_login(struct result *r)
{
	struct fleet f;
	struct samples lat = { 0 };
	if (fleet_init(&f, opt.users, false) != 0)
		return EXIT_FAILED;
	client_stats.login_lat = &lat;
	struct cpu_mark start;
	cpu_mark(&start);
	fleet_login(&f);
	fleet_run_figures(r, &start);
	fleet_login_figures(r, &lat);
	bench_debug("login: %u online, %u failed", client_stats.ok, client_stats.failed);
	fleet_free(&f);
	samples_free(&lat);
	return bench_failures() > 0 ? EXIT_FAILED : EXIT_OK;
}

int sc_idle(struct result *r)
{
	if (opt.server_pid <= 0) {
		bench_say("idle measures the server's memory: give --server-pid");
		return EXIT_USAGE;
	}
	long rss0, pss0, rss1, pss1;
	unsigned np0, np1;
	if (proc_mem_kb(opt.server_pid, &rss0, &pss0, &np0) != 0) {
		bench_say("cannot read the memory of process %d and its children", (int)opt.server_pid);
		return EXIT_FAILED;
	}
	struct fleet f;
	struct samples lat = { 0 };
	if (fleet_init(&f, opt.users, false) != 0)
		return EXIT_FAILED;
	client_stats.login_lat = &lat;
	struct cpu_mark start;
	cpu_mark(&start);
	fleet_login(&f);
	/* Let the server finish what the logins started (session table
	 * writes, buffers handed back) before reading its memory. */
	fleet_idle(opt.settle);
	int rc = proc_mem_kb(opt.server_pid, &rss1, &pss1, &np1);
	fleet_run_figures(r, &start);
	fleet_login_figures(r, &lat);
	if (rc == 0) {
		r->rss_base_kb = (double)rss0;
		r->pss_base_kb = (double)pss0;
		r->rss_kb = (double)rss1;
		r->pss_kb = (double)pss1;
		if (client_stats.online > 0) {
			r->rss_per_conn = (double)(rss1 - rss0) * 1024.0 / client_stats.online;
			r->pss_per_conn = (double)(pss1 - pss0) * 1024.0 / client_stats.online;
		}
		bench_debug("idle: %u processes before, %u with %u online", np0, np1,
		            client_stats.online);
		if (np0 != np1)
			bench_say("note: the server had %u processes before and %u after", np0, np1);
	} else {
		bench_fail("the server (pid %d) is gone", (int)opt.server_pid);
	}
	fleet_free(&f);
	samples_free(&lat);
	return bench_failures() > 0 ? EXIT_FAILED : EXIT_OK;
}

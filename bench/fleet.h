/* fleet.h — the clients of a run (user<first> .. user<first+n-1>), logging
 * them in with bounded concurrency, and CPU marks around a phase. */
#ifndef XMPPD_BENCH_FLEET_H
#define XMPPD_BENCH_FLEET_H

#include "bench/client.h"
#include "bench/bench.h"

struct fleet {
	struct client *c;
	unsigned n;
};

/* 0, or -1 (reported) when out of memory. */
int fleet_init(struct fleet *f, unsigned n, bool raw);
/* Starts every idle client, at most opt.concurrency logins in progress;
 * returns when none is left in progress (or at the overall deadline). */
void fleet_login(struct fleet *f);
/* Closes every connection without telling the hooks, frees the clients. */
void fleet_free(struct fleet *f);

/* CPU of the server tree and of the generator at one instant. */
struct cpu_mark {
	int64_t t;
	double srv; /* < 0: no --server-pid, or the server is gone */
	double gen;
};
void cpu_mark(struct cpu_mark *m);
/* Server CPU seconds between two marks, NAN when unknown. */
double cpu_srv_delta(const struct cpu_mark *a, const struct cpu_mark *b);

/* Elapsed time and CPU of the whole run, from its first mark, into r. */
void fleet_run_figures(struct result *r, const struct cpu_mark *start);
/* Login figures (ok, fail, rate, p50/p99) from client_stats into r. */
void fleet_login_figures(struct result *r, struct samples *lat);
/* Runs the loop for `seconds`, answering whatever the server sends. */
void fleet_idle(double seconds);

#endif

/* fleet.c — a run's clients and the login driver every scenario uses. */
#include "bench/fleet.h"
#include "bench/proc.h"
#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int fleet_init(struct fleet *f, unsigned n, bool raw)
{
	f->n = n;
	f->c = calloc(n ? n : 1, sizeof(*f->c));
	if (f->c == NULL) {
		bench_say("out of memory for %u clients", n);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		f->c[i].fd = -1;
		f->c[i].user = opt.first + i;
		f->c[i].raw = raw;
	}
	return 0;
}

void fleet_login(struct fleet *f)
{
	unsigned next = 0;
	for (;;) {
		while (next < f->n && client_stats.inflight < opt.concurrency) {
			struct client *c = &f->c[next++];
			if (c->state == CL_IDLE)
				client_start(c);
		}
		if (next == f->n && client_stats.inflight == 0)
			return;
		if (past_deadline()) {
			bench_fail("overall deadline reached with %u logins in progress and %u not started",
			           client_stats.inflight, f->n - next);
			for (unsigned i = 0; i < f->n; i++)
				if (f->c[i].state != CL_IDLE && f->c[i].state < CL_ONLINE)
					client_abort(&f->c[i], "overall deadline reached");
			return;
		}
		net_poll(50);
	}
}

void fleet_free(struct fleet *f)
{
	struct client_hooks none = { 0 };
	client_hooks = none;
	for (unsigned i = 0; i < f->n; i++)
		if (f->c[i].state != CL_IDLE)
			client_abort(&f->c[i], NULL);
	free(f->c);
	f->c = NULL;
	f->n = 0;
}

void cpu_mark(struct cpu_mark *m)
{
	m->t = now_ns();
	m->srv = opt.server_pid > 0 ? proc_cpu_s(opt.server_pid) : -1;
	m->gen = self_cpu_s();
}

double cpu_srv_delta(const struct cpu_mark *a, const struct cpu_mark *b)
{
	if (a->srv < 0 || b->srv < 0)
		return NAN;
	return b->srv - a->srv;
}

void fleet_login_figures(struct result *r, struct samples *lat)
{
	r->ok = client_stats.ok;
	r->fail = client_stats.failed;
	if (client_stats.ok > 0 && client_stats.last_online > client_stats.first_start)
		r->logins_per_s = client_stats.ok /
		                  ((double)(client_stats.last_online - client_stats.first_start) / NS_PER_S);
	r->login_p50_ms = samples_pct_ms(lat, 50);
	r->login_p99_ms = samples_pct_ms(lat, 99);
	client_print_steps();
}

void fleet_idle(double seconds)
{
	net_run_until(NULL, NULL, now_ns() + (int64_t)(seconds * NS_PER_S));
}

void fleet_run_figures(struct result *r, const struct cpu_mark *start)
{
	struct cpu_mark end;
	cpu_mark(&end);
	r->elapsed_s = (double)(end.t - start->t) / NS_PER_S;
	r->srv_cpu_s = cpu_srv_delta(start, &end);
	r->gen_cpu_s = end.gen - start->gen;
}

/* router.c — the router process (router/router.h): setup, the main loop,
 * the master's messages and signals. */
#include "router/router.h"
#include "router/ctl.h"
#include "router/data.h"
#include "router/down.h"
#include "router/loop.h"
#include "router/route.h"
#include "router/routes.h"
#include "router/sessions.h"
#include "router/state.h"
#include "router/timer.h"
#include "router/up.h"
#include "lib/fdpass.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define UP_BATCH     256   /* records per up ring per round: fairness */
#define TIMER_BATCH  1024  /* timer callbacks per round: the rings are not starved */

struct up_watch {
	struct loop_watch watch;
	unsigned worker;
};

/* The router process: its rings, watches and signal fd. */
static struct {
	const struct router_args *a;
	unsigned n;
	struct ring **up;
	struct up_watch *up_watch;
	struct loop_watch master_watch, sig_watch;
	int sigfd;
	bool running;
	struct timerq *timers;
	void *rec_buf;           /* the up record being handled, copied off its ring */
	size_t rec_cap;
} router;

/* ------------------------------------------------------------ up rings */

/* Takes up to `budget` records from worker w's up ring; returns how many. */
static unsigned drain_up(unsigned w, unsigned budget)
{
	struct ring_rec rec;
	unsigned n = 0;
	while (n < budget) {
		int rc = ring_peek(router.up[w], &rec);
		if (rc == XS_AGAIN)
			break;
		if (rc != XS_OK) {
			log_error("up ring %u corrupt; router exits", w);
			exit(2);
		}
		/* At most once: the record is taken off the ring before anything it
		 * causes is visible, so a router that dies handling it and is
		 * restarted never handles it twice (it may lose that one). */
		if (rec.len > router.rec_cap) {
			free(router.rec_buf);
			router.rec_cap = (rec.len + 4095) & ~(size_t)4095;
			router.rec_buf = aligned_alloc(8, router.rec_cap);
			if (router.rec_buf == NULL) {
				log_error("out of memory for an up record; router exits");
				exit(2);
			}
		}
		memcpy(router.rec_buf, rec.data, rec.len);
		rec.data = router.rec_buf;
		ring_consume(router.up[w]);
		up_record(w, &rec);
		n++;
	}
	return n;
}

static void on_up(struct loop_watch *lw, uint32_t events)
{
	(void)events;
	unsigned w = ((struct up_watch *)lw)->worker;
	uint64_t v;
	while (read(router.a->up_efd[w], &v, sizeof(v)) == sizeof(v))
		;
}

/* ------------------------------------------------------------ the master */

static void worker_died(unsigned w, unsigned gen)
{
	if (w >= router.n)
		return;
	/* What it published before dying is still valid and comes first. */
	while (drain_up(w, UINT32_MAX) > 0)
		;
	down_drop(w);
	up_worker_died(w, gen);
	data_reader_check();
	routes_commit();
}

/* The config's `trace:` list joins what xmppctl trace turned on (both live
 * in the shm trace table, which outlives a router restart). */
static void apply_trace_config(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->ntrace; i++) {
		int rc = shm_trace_set(router.a->seg, cfg->trace[i], true);
		if (rc == XS_ERROR)
			log_error("trace %s: the trace table is full (%u JIDs)", cfg->trace[i],
			          SHM_TRACE_MAX);
		else if (rc == XS_OK)
			log_info("tracing the stanzas of %s", cfg->trace[i]);
	}
}

/* The master reloaded the configuration: read it again, give modules their
 * new options, answer.  A file that no longer loads changes nothing here. */
static void reload(void)
{
	struct cfg *n = cfg_reread(router_cfg());
	int rc = n ? XS_OK : XS_ERROR;
	if (n) {
		struct cfg *old = (struct cfg *)router_cfg();
		router_cfg_set(n);
		route_enter(); /* what a reload function routes waits for its turn */
		plugins_reload(n);
		route_leave();
		apply_trace_config(n);
		if (old != router.a->cfg)
			cfg_retire(old);
		log_info("reload: applied");
	}
	router_tell_master(MSG_SOCK_RELOAD_DONE, rc);
}

static void on_master(struct loop_watch *lw, uint32_t events)
{
	(void)lw;
	(void)events;
	for (;;) {
		union {
			struct msg_worker_died d;
			struct msg_ctl_client c;
			struct msg_ctl x;
			uint32_t type;
		} m;
		int fd;
		ssize_t n = fdpass_recv(router.a->sock, &m, sizeof(m), &fd);
		if (n == -1) {
			if (errno != EAGAIN)
				log_error("recvmsg from master: %s", strerror(errno));
			if (errno == EPROTO)
				continue;
			return;
		}
		if (n == 0) {
			log_info("master went away; router exits");
			router.running = false;
			return;
		}
		if (n == sizeof(m.x) && fd == -1 && m.type >= MSG_SOCK_RELOAD &&
		    m.type <= MSG_SOCK_LOGLEVEL) {
			m.x.text[sizeof(m.x.text) - 1] = '\0';
			if (m.type == MSG_SOCK_RELOAD)
				reload();
			else if (m.type == MSG_SOCK_RELOAD_RESULT)
				ctl_reload_result(m.x.status, m.x.text);
			else if (m.type == MSG_SOCK_LOGLEVEL && m.x.status >= LOG_LVL_ERROR &&
			         m.x.status <= LOG_LVL_DEBUG)
				log_set_level((enum log_level)m.x.status);
		} else if (n == sizeof(m.c) && m.type == MSG_SOCK_CTL_CLIENT && fd != -1) {
			ctl_client_add(fd);
		} else if (n == sizeof(m.d) && m.type == MSG_SOCK_WORKER_DIED) {
			worker_died(m.d.worker, m.d.generation);
			if (fd != -1)
				close(fd);
		} else {
			log_error("bad message from master (%zd bytes)", n);
			if (fd != -1)
				close(fd);
		}
	}
}

static void on_signals(struct loop_watch *lw, uint32_t events)
{
	(void)lw;
	(void)events;
	struct signalfd_siginfo si;
	while (read(router.sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			if (log_reopen() != XS_OK)
				log_error("reopening the log file: %s", strerror(errno));
		} else if (router.running) {
			log_info("stopping");
			router.running = false;
		}
	}
}

/* ------------------------------------------------------------ timers */

/* Runs the module timers that are due, like a hook between batches: what
 * they route is queued and routed when they are done. */
static void run_timers(void)
{
	uint64_t next = timerq_next(router.timers);
	if (next == UINT64_MAX) /* none: no clock read on the stanza path */
		return;
	uint64_t now = timer_now_ms();
	if (next > now)
		return;
	route_enter();
	timerq_run(router.timers, now, TIMER_BATCH);
	route_leave();
}

/* The epoll timeout: `want` (-1, 0 or 1 ms), shortened to the next timer. */
static int wait_ms(int want)
{
	uint64_t next = timerq_next(router.timers);
	if (next == UINT64_MAX || want == 0)
		return want;
	uint64_t now = timer_now_ms();
	uint64_t ms = next > now ? next - now : 0;
	if (want > 0 && (uint64_t)want < ms)
		return want;
	return ms > 60000 ? 60000 : (int)ms;
}

/* ------------------------------------------------------------ main loop */

static int setup(const struct router_args *a)
{
	router.a = a;
	router.n = a->cfg->workers;
	router.sigfd = -1;
	router.timers = timerq_new();
	router.up = calloc(router.n, sizeof(*router.up));
	router.up_watch = calloc(router.n, sizeof(*router.up_watch));
	if (!router.timers || !router.up || !router.up_watch)
		return XS_ERROR;
	state_init(a->cfg, a->seg, a->sock, router.timers);
	if (loop_open() != XS_OK || down_open(a->seg, router.n, a->down_efd) != XS_OK)
		return XS_ERROR;
	for (unsigned w = 0; w < router.n; w++) {
		router.up[w] = shm_up_ring(a->seg, w);
		ring_consumer_attach(router.up[w]);
		router.up_watch[w] = (struct up_watch){ .watch.fn = on_up, .worker = w };
		if (loop_watch(a->up_efd[w], &router.up_watch[w].watch, EPOLLIN) != XS_OK)
			return XS_ERROR;
	}
	router.master_watch.fn = on_master;
	if (loop_watch(a->sock, &router.master_watch, EPOLLIN) != XS_OK)
		return XS_ERROR;
	/* SIGTERM ends the loop cleanly; ^C on a terminal is the master's. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1); /* reopen the log file */
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGINT);
	router.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	router.sig_watch.fn = on_signals;
	if (router.sigfd == -1 || loop_watch(router.sigfd, &router.sig_watch, EPOLLIN) != XS_OK)
		return XS_ERROR;
	if (sess_open(a->cfg) != XS_OK || data_open(a->cfg) != XS_OK)
		return XS_ERROR;
	if (routes_open(a->cfg, a->seg) != XS_OK)
		return XS_ERROR;
	apply_trace_config(a->cfg);
	if (plugins_load(a->cfg) != XS_OK)
		return XS_ERROR;
	up_sessions_stale(a->seg);
	/* Hosts and services are in the table for every reader from now on. */
	return routes_commit();
}

static void teardown(void)
{
	plugins_stop();
	routes_close();
	sess_commit();
	sess_close();
	data_commit();
	data_close();
	const struct cfg *cfg = router_cfg();
	if (cfg && cfg != router.a->cfg) {
		cfg_free((struct cfg *)cfg);
		free((struct cfg *)cfg);
	}
	cfg_retired_free();
	down_close();
	free(router.up);
	free(router.up_watch);
	free(router.rec_buf);
	timerq_free(router.timers);
	if (router.sigfd != -1)
		close(router.sigfd);
	loop_close();
	state_init(NULL, NULL, -1, NULL);
}

/* Ends a round: the batch is committed, then what waited goes out. */
static bool end_round(void)
{
	down_end_batch();
	bool left = down_flush();
	down_wake();
	return left;
}

int router_main(const struct router_args *a)
{
	memset(&router, 0, sizeof(router));
	if (setup(a) != XS_OK) {
		log_error("router start failed");
		teardown();
		return ROUTER_EXIT_CONFIG;
	}
	log_info("router ready: %u worker ring pair(s)", router.n);
	router_tell_master(MSG_SOCK_ROUTER_READY, 0);
	router.running = true;
	while (router.running) {
		bool pending = down_flush();
		unsigned done = 0;
		for (unsigned w = 0; w < router.n; w++)
			done += drain_up(w, UP_BATCH);
		router_stats()->batches += done > 0;
		run_timers();
		/* One commit for the whole batch: the group commit of the session
		 * table and of the data env (then what waited for it goes out). */
		pending = end_round() || pending;

		int timeout = 0;
		bool slept = false;
		if (done == 0) {
			bool all_quiet = true;
			for (unsigned w = 0; w < router.n && all_quiet; w++)
				if (ring_sleep_prepare(router.up[w]) == XS_AGAIN)
					all_quiet = false;
			slept = true;
			/* A full down ring frees up without telling us: look again soon. */
			timeout = wait_ms(!all_quiet ? 0 : pending ? 1 : -1);
		}
		int n = loop_wait(timeout);
		if (slept)
			for (unsigned w = 0; w < router.n; w++)
				ring_sleep_done(router.up[w]);
		if (n == -1)
			break;
		end_round();
	}
	/* What the workers said before they stopped still counts. */
	for (unsigned w = 0; w < router.n; w++)
		while (drain_up(w, UP_BATCH) > 0)
			;
	end_round();
	teardown();
	return 0;
}

/* router.c — the router process: drains the up rings in batches, handles
 * binding and session ends, routes stanzas, fills the down rings (with a
 * bounded queue per worker when one is full) and serves the master. */
#include "router/router.h"
#include "lib/fdpass.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UP_BATCH  256               /* records per up ring per round: fairness */
#define PEND_MAX  (64u << 20)       /* bytes queued for one stalled worker */

enum { TAG_UP = 1, TAG_MASTER, TAG_SIG };

struct pend {
	struct pend *next;
	uint16_t type;
	bool held;               /* waits for the data commit (not only for room) */
	uint32_t len;
	alignas(8) char data[];
};

struct up_tag {
	int tag;
	unsigned worker;
};

static struct {
	const struct router_args *a;
	const struct cfg *cfg;
	int epfd;
	unsigned n;
	struct ring **up, **down;
	bool *down_written;
	struct pend **pend_head, **pend_tail;
	size_t *pend_bytes;
	size_t *dropped;
	struct up_tag *up_tags;
	int sigfd;
	bool running;
	int64_t started;
	struct router_stats stats;
	void *rec_buf;           /* the up record being handled, copied off its ring */
	size_t rec_cap;
} R;

static int tag_master = TAG_MASTER, tag_sig = TAG_SIG;

const struct cfg *router_cfg(void)
{
	return R.cfg;
}

int64_t router_started(void)
{
	return R.started;
}

const struct router_stats *router_stats(void)
{
	R.stats.data_commits = data_commits();
	return &R.stats;
}

struct shm_segment *router_segment(void)
{
	return R.a->seg;
}

/* ------------------------------------------------------------ down rings */

static int down_write(unsigned w, uint16_t type, const void *head, uint32_t hlen,
                      const void *body, uint32_t blen)
{
	char *p = ring_reserve(R.down[w], hlen + blen);
	if (p == NULL)
		return XS_AGAIN;
	R.stats.deliveries++;
	memcpy(p, head, hlen);
	if (blen)
		memcpy(p + hlen, body, blen);
	ring_commit(R.down[w], type, hlen + blen);
	R.down_written[w] = true;
	return XS_OK;
}

int router_down(unsigned w, uint16_t type, const void *head, uint32_t hlen, const void *body,
                uint32_t blen)
{
	if (w >= R.n)
		return XS_ERROR;
	if ((uint64_t)hlen + blen > R.down[w]->max_record) {
		log_warn("record of %u bytes for worker %u is over the ring limit; dropped",
		         hlen + blen, w);
		return XS_ERROR;
	}
	/* After a write to the data env, everything waits for its commit: what
	 * a client is told has happened is on disk first. */
	if (R.pend_head[w] == NULL && !data_dirty() &&
	    down_write(w, type, head, hlen, body, blen) == XS_OK)
		return XS_OK;
	/* That worker is behind (or the batch is not on disk yet): queue for it
	 * alone, bounded, so the others keep flowing. */
	if (R.pend_bytes[w] + hlen + blen > PEND_MAX) {
		if (R.dropped[w]++ % 1000 == 0)
			log_warn("worker %u is not draining its ring; %zu record(s) dropped", w,
			         R.dropped[w]);
		return XS_ERROR;
	}
	struct pend *q = malloc(sizeof(*q) + hlen + blen);
	if (q == NULL)
		return XS_ERROR;
	q->next = NULL;
	q->type = type;
	q->held = data_dirty();
	q->len = hlen + blen;
	memcpy(q->data, head, hlen);
	if (blen)
		memcpy(q->data + hlen, body, blen);
	if (R.pend_tail[w])
		R.pend_tail[w]->next = q;
	else
		R.pend_head[w] = q;
	R.pend_tail[w] = q;
	R.pend_bytes[w] += q->len;
	return XS_OK;
}

static bool flush_pending(void)
{
	bool left = false;
	for (unsigned w = 0; w < R.n; w++) {
		while (R.pend_head[w]) {
			struct pend *q = R.pend_head[w];
			if (down_write(w, q->type, q->data, q->len, NULL, 0) != XS_OK) {
				left = true;
				break;
			}
			R.pend_head[w] = q->next;
			if (R.pend_head[w] == NULL)
				R.pend_tail[w] = NULL;
			R.pend_bytes[w] -= q->len;
			free(q);
		}
	}
	return left;
}

static void drop_pending(unsigned w)
{
	while (R.pend_head[w]) {
		struct pend *q = R.pend_head[w];
		R.pend_head[w] = q->next;
		free(q);
	}
	R.pend_tail[w] = NULL;
	R.pend_bytes[w] = 0;
}

static void wake_workers(void)
{
	for (unsigned w = 0; w < R.n; w++) {
		if (!R.down_written[w])
			continue;
		R.down_written[w] = false;
		if (ring_wake(R.down[w], R.a->down_efd[w]) != XS_OK)
			log_error("waking worker %u: %s", w, strerror(errno));
	}
}

/* ------------------------------------------------------------ up records */

static void bind_session(unsigned w, const struct ring_rec *rec)
{
	const struct msg_bind *m = rec->data;
	if (rec->len < sizeof(*m) || (size_t)m->bare_len + m->res_len + 2 != rec->len - sizeof(*m) ||
	    m->data[m->bare_len] != '\0' || m->data[m->bare_len + 1 + m->res_len] != '\0' ||
	    conn_id_worker(m->conn) != w) {
		log_error("up ring %u: bad bind record", w);
		return;
	}
	const char *bare = m->data, *res = m->data + m->bare_len + 1;
	struct {
		struct msg_bound b;
		char jid[JID_MAX + 2];
	} out = { 0 };
	out.b.conn = m->conn;
	/* The newest session wins a conflict (as ejabberd and Prosody do by
	 * default): the old one ends like any other, then is told why. */
	struct sess_rec old;
	char full[JID_MAX + 2];
	if (*res && (size_t)snprintf(full, sizeof(full), "%s/%s", bare, res) < sizeof(full) &&
	    sess_get(full, &old) == XS_OK && old.conn != m->conn) {
		log_info("%s: replaced by a new connection", full);
		route_session_gone(full, old.conn);
		route_kick(old.conn, KICK_CONFLICT);
	}
	uint8_t flags = m->flags & MSG_BIND_ANONYMOUS ? SESS_F_ANONYMOUS : 0;
	if (sess_bind(bare, res, m->conn, flags, out.jid, sizeof(out.jid)) != XS_OK) {
		out.b.status = BIND_FAILED;
		out.jid[0] = '\0';
	}
	out.b.jid_len = (uint32_t)strlen(out.jid);
	router_down(w, MSG_DOWN_BOUND, &out, (uint32_t)((sizeof(out.b) + out.b.jid_len + 1 + 7) & ~7u),
	            NULL, 0);
	if (out.b.status == BIND_OK) {
		struct hook_args a = { .jid = out.jid };
		route_enter();
		hooks_run(HOOK_SESSION_OPENED, &a);
		route_leave();
	}
}

static void closed(unsigned w, const struct ring_rec *rec)
{
	const struct msg_closed *m = rec->data;
	if (rec->len < sizeof(*m) + 1 || m->jid_len >= rec->len - sizeof(*m) ||
	    m->jid[m->jid_len] != '\0') {
		log_error("up ring %u: bad closed record", w);
		return;
	}
	if (m->jid_len > 0)
		route_session_gone(m->jid, m->conn);
}

static void preauth(unsigned w, const struct ring_rec *rec)
{
	const struct msg_preauth *m = rec->data;
	struct stz s;
	if (rec->len < sizeof(*m) ||
	    stz_view(&s, (const char *)rec->data + sizeof(*m), rec->len - sizeof(*m)) != XS_OK ||
	    conn_id_worker(m->conn) != w || s.h->conn != m->conn || m->host >= R.cfg->nhosts ||
	    s.h->kind != STZ_IQ || s.h->from.len != 0) {
		log_error("up ring %u: bad pre-authentication record", w);
		return;
	}
	route_preauth(&s, R.cfg->hosts[m->host], &m->ip);
}

static void handle_up(unsigned w, const struct ring_rec *rec)
{
	switch (rec->type) {
	case MSG_UP_STANZA: {
		R.stats.stanzas++;
		struct stz s;
		if (stz_view(&s, rec->data, rec->len) != XS_OK || conn_id_worker(s.h->conn) != w) {
			log_error("up ring %u: bad stanza record (%u bytes)", w, rec->len);
			return;
		}
		route_enter();
		route_trace_begin(&s);
		struct hook_args a = { .stz = &s, .jid = stz_from(&s) };
		if (!hooks_any(HOOK_USER_SEND_PACKET) || hooks_run(HOOK_USER_SEND_PACKET, &a) != XS_DROP)
			route_now(&s);
		route_leave();
		route_trace_begin(NULL);
		break;
	}
	case MSG_UP_PREAUTH:
		preauth(w, rec);
		break;
	case MSG_UP_BIND:
		bind_session(w, rec);
		break;
	case MSG_UP_CLOSED:
		closed(w, rec);
		break;
	default:
		log_error("up ring %u: unknown record type %u", w, rec->type);
	}
}

/* Takes up to `budget` records from worker w's up ring; returns how many. */
static unsigned drain_up(unsigned w, unsigned budget)
{
	struct ring_rec rec;
	unsigned n = 0;
	while (n < budget) {
		int rc = ring_peek(R.up[w], &rec);
		if (rc == XS_AGAIN)
			break;
		if (rc != XS_OK) {
			log_error("up ring %u corrupt; router exits", w);
			exit(2);
		}
		/* At most once: the record is taken off the ring before anything it
		 * causes is visible, so a router that dies handling it and is
		 * restarted never handles it twice (it may lose that one). */
		if (rec.len > R.rec_cap) {
			free(R.rec_buf);
			R.rec_cap = (rec.len + 4095) & ~(size_t)4095;
			R.rec_buf = aligned_alloc(8, R.rec_cap);
			if (R.rec_buf == NULL) {
				log_error("out of memory for an up record; router exits");
				exit(2);
			}
		}
		memcpy(R.rec_buf, rec.data, rec.len);
		rec.data = R.rec_buf;
		ring_consume(R.up[w]);
		handle_up(w, &rec);
		n++;
	}
	return n;
}

/* ------------------------------------------------------------ the master */

struct gone {
	char (*jids)[JID_MAX + 2];
	uint64_t *conns;
	size_t n, cap;
	unsigned worker, gen;
};

static bool collect_dead(const char *full, const struct sess_rec *r, void *arg)
{
	struct gone *g = arg;
	if (conn_id_worker(r->conn) != g->worker || conn_id_gen(r->conn) != (g->gen & 0xffff))
		return true;
	if (g->n == g->cap) {
		size_t nc = g->cap ? g->cap * 2 : 64;
		void *nj = realloc(g->jids, nc * sizeof(*g->jids));
		if (nj == NULL)
			return false;
		g->jids = nj;
		void *ncn = realloc(g->conns, nc * sizeof(*g->conns));
		if (ncn == NULL)
			return false;
		g->conns = ncn;
		g->cap = nc;
	}
	strcpy(g->jids[g->n], full);
	g->conns[g->n++] = r->conn;
	return true;
}

static void worker_died(unsigned w, unsigned gen)
{
	if (w >= R.n)
		return;
	/* What it published before dying is still valid and comes first. */
	while (drain_up(w, UINT32_MAX) > 0)
		;
	drop_pending(w);
	struct gone g = { .worker = w, .gen = gen };
	sess_foreach_all(collect_dead, &g);
	for (size_t i = 0; i < g.n; i++)
		route_session_gone(g.jids[i], g.conns[i]);
	log_info("worker %u (generation %u) died: %zu session(s) removed", w, gen, g.n);
	free(g.jids);
	free(g.conns);
	data_reader_check();
	sess_commit();
}

int router_tell_master(uint32_t type, int32_t status)
{
	struct msg_ctl m = { .type = type, .status = status };
	if (send(R.a->sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) == -1) {
		log_error("telling the master: %s", strerror(errno));
		return XS_ERROR;
	}
	return XS_OK;
}

/* The config's `trace:` list joins what xmppctl trace turned on (both live
 * in the shm trace table, which outlives a router restart). */
static void apply_trace_config(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->ntrace; i++) {
		int rc = shm_trace_set(R.a->seg, cfg->trace[i], true);
		if (rc == XS_ERROR)
			log_error("trace %s: the trace table is full (%u JIDs)", cfg->trace[i],
			          SHM_TRACE_MAX);
		else if (rc == XS_OK)
			log_info("tracing the stanzas of %s", cfg->trace[i]);
	}
}

/* The master reloaded the configuration: read it again, give modules their
 * new options, answer.  A file that no longer loads changes nothing here. */
static void router_reload(void)
{
	struct cfg *n = cfg_reread(R.cfg);
	int rc = n ? XS_OK : XS_ERROR;
	if (n) {
		struct cfg *old = (struct cfg *)R.cfg;
		R.cfg = n;
		plugins_reload(n);
		apply_trace_config(n);
		if (old != R.a->cfg)
			cfg_retire(old);
		log_info("reload: applied");
	}
	router_tell_master(MSG_SOCK_RELOAD_DONE, rc);
}

static void master_event(void)
{
	for (;;) {
		union {
			struct msg_worker_died d;
			struct msg_ctl_client c;
			struct msg_ctl x;
			uint32_t type;
		} m;
		int fd;
		ssize_t n = fdpass_recv(R.a->sock, &m, sizeof(m), &fd);
		if (n == -1) {
			if (errno != EAGAIN)
				log_error("recvmsg from master: %s", strerror(errno));
			if (errno == EPROTO)
				continue;
			return;
		}
		if (n == 0) {
			log_info("master went away; router exits");
			R.running = false;
			return;
		}
		if (n == sizeof(m.x) && fd == -1 && m.type >= MSG_SOCK_RELOAD &&
		    m.type <= MSG_SOCK_LOGLEVEL) {
			m.x.text[sizeof(m.x.text) - 1] = '\0';
			if (m.type == MSG_SOCK_RELOAD)
				router_reload();
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

int router_watch(int fd, void *tag, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };
	if (epoll_ctl(R.epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("epoll_ctl: %s", strerror(errno));
		return XS_ERROR;
	}
	return XS_OK;
}

int router_rewatch(int fd, void *tag, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = tag };
	return epoll_ctl(R.epfd, EPOLL_CTL_MOD, fd, &ev) == -1 ? XS_ERROR : XS_OK;
}

void router_unwatch(int fd)
{
	epoll_ctl(R.epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ------------------------------------------------------------ main loop */

static void on_signals(void)
{
	struct signalfd_siginfo si;
	while (read(R.sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			if (log_reopen() != XS_OK)
				log_error("reopening the log file: %s", strerror(errno));
		} else if (R.running) {
			log_info("stopping");
			R.running = false;
		}
	}
}

/* The data commit failed: what waited for it told of writes that are not
 * on disk, so it does not go out. */
static void drop_held(void)
{
	size_t n = 0;
	for (unsigned w = 0; w < R.n; w++) {
		struct pend **pp = &R.pend_head[w], *last = NULL;
		while (*pp) {
			struct pend *q = *pp;
			if (!q->held) {
				last = q;
				pp = &q->next;
				continue;
			}
			*pp = q->next;
			R.pend_bytes[w] -= q->len;
			free(q);
			n++;
		}
		R.pend_tail[w] = last;
	}
	if (n)
		log_error("%zu delivery record(s) dropped: they acknowledged writes that did not "
		          "reach the disk", n);
}

void router_end_batch(void)
{
	sess_commit();
	if (data_commit() != XS_OK)
		drop_held();
}


static int setup(const struct router_args *a)
{
	R.a = a;
	R.cfg = a->cfg;
	R.n = a->cfg->workers;
	R.up = calloc(R.n, sizeof(*R.up));
	R.down = calloc(R.n, sizeof(*R.down));
	R.down_written = calloc(R.n, sizeof(*R.down_written));
	R.pend_head = calloc(R.n, sizeof(*R.pend_head));
	R.pend_tail = calloc(R.n, sizeof(*R.pend_tail));
	R.pend_bytes = calloc(R.n, sizeof(*R.pend_bytes));
	R.dropped = calloc(R.n, sizeof(*R.dropped));
	R.up_tags = calloc(R.n, sizeof(*R.up_tags));
	if (!R.up || !R.down || !R.down_written || !R.pend_head || !R.pend_tail || !R.pend_bytes ||
	    !R.dropped || !R.up_tags)
		return XS_ERROR;
	R.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (R.epfd == -1) {
		log_error("epoll_create1: %s", strerror(errno));
		return XS_ERROR;
	}
	for (unsigned w = 0; w < R.n; w++) {
		R.up[w] = shm_up_ring(a->seg, w);
		R.down[w] = shm_down_ring(a->seg, w);
		ring_consumer_attach(R.up[w]);
		ring_producer_attach(R.down[w]);
		R.up_tags[w] = (struct up_tag){ .tag = TAG_UP, .worker = w };
		if (router_watch(a->up_efd[w], &R.up_tags[w], EPOLLIN) != XS_OK)
			return XS_ERROR;
	}
	if (router_watch(a->sock, &tag_master, EPOLLIN) != XS_OK)
		return XS_ERROR;
	/* SIGTERM ends the loop cleanly; ^C on a terminal is the master's. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1); /* reopen the log file */
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGINT);
	R.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (R.sigfd == -1 || router_watch(R.sigfd, &tag_sig, EPOLLIN) != XS_OK)
		return XS_ERROR;
	if (sess_open(a->cfg) != XS_OK || data_open(a->cfg) != XS_OK)
		return XS_ERROR;
	R.started = (int64_t)time(NULL);
	apply_trace_config(a->cfg);
	if (plugins_load(a->cfg) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

static void teardown(void)
{
	plugins_stop();
	sess_commit();
	sess_close();
	data_commit();
	data_close();
	if (R.cfg && R.cfg != R.a->cfg) {
		cfg_free((struct cfg *)R.cfg);
		free((struct cfg *)R.cfg);
	}
	cfg_retired_free();
	for (unsigned w = 0; w < R.n; w++)
		drop_pending(w);
	free(R.up);
	free(R.down);
	free(R.down_written);
	free(R.pend_head);
	free(R.pend_tail);
	free(R.pend_bytes);
	free(R.dropped);
	free(R.up_tags);
	free(R.rec_buf);
	if (R.sigfd > 0)
		close(R.sigfd);
	close(R.epfd);
}

int router_main(const struct router_args *a)
{
	memset(&R, 0, sizeof(R));
	if (setup(a) != XS_OK) {
		log_error("router start failed");
		teardown();
		return ROUTER_EXIT_CONFIG;
	}
	log_info("router ready: %u worker ring pair(s)", R.n);
	router_tell_master(MSG_SOCK_ROUTER_READY, 0);
	R.running = true;
	while (R.running) {
		bool pending = flush_pending();
		unsigned done = 0;
		for (unsigned w = 0; w < R.n; w++)
			done += drain_up(w, UP_BATCH);
		R.stats.batches += done > 0;
		/* One commit for the whole batch: the group commit of the session
		 * table and of the data env (then what waited for it goes out). */
		router_end_batch();
		pending = flush_pending() || pending;
		wake_workers();

		int timeout = 0;
		bool slept = false;
		if (done == 0) {
			bool all_quiet = true;
			for (unsigned w = 0; w < R.n && all_quiet; w++)
				if (ring_sleep_prepare(R.up[w]) == XS_AGAIN)
					all_quiet = false;
			slept = true;
			/* A full down ring frees up without telling us: look again soon. */
			timeout = !all_quiet ? 0 : pending ? 1 : -1;
		}
		struct epoll_event evs[64];
		int n = epoll_wait(R.epfd, evs, 64, timeout);
		if (slept)
			for (unsigned w = 0; w < R.n; w++)
				ring_sleep_done(R.up[w]);
		if (n == -1 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			int tag = *(int *)evs[i].data.ptr;
			if (tag == TAG_UP) {
				uint64_t v;
				unsigned w = ((struct up_tag *)evs[i].data.ptr)->worker;
				while (read(a->up_efd[w], &v, sizeof(v)) == sizeof(v))
					;
			} else if (tag == TAG_MASTER) {
				master_event();
			} else if (tag == TAG_SIG) {
				on_signals();
			} else {
				ctl_event(evs[i].data.ptr, evs[i].events);
			}
		}
		router_end_batch();
		flush_pending();
		wake_workers();
	}
	/* What the workers said before they stopped still counts. */
	for (unsigned w = 0; w < R.n; w++)
		while (drain_up(w, UP_BATCH) > 0)
			;
	router_end_batch();
	flush_pending();
	wake_workers();
	teardown();
	return 0;
}

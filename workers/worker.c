/* worker.c — the worker process: event loop, connection slots, hand-off
 * from the master, the down ring, and the up ring's wake-ups.  Reading a
 * connection goes through its transport, what was read to its protocol:
 * both through their tables (transport.h, proto.h), so nothing below calls
 * back into this file. */
#include "workers/worker.h"
#include "workers/conn.h"
#include "workers/ctx.h"
#include "workers/proto.h"
#include "workers/tls.h"
#include "workers/up.h"
#include "lib/fdpass.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { TAG_CONN = 1, TAG_SOCK, TAG_DOWN, TAG_SIG };

#define READ_CHUNK   16384
#define DOWN_BUDGET  4096     /* records taken from the down ring per iteration */

/* The loop's own state: the rings, the epoll set, the connection slots. */
static struct {
	const struct worker_args *a;
	struct ring *up, *down;
	int epfd;
	struct conn **slots;      /* by slot index */
	uint16_t *reuse;          /* per slot: bumped when the slot is reused */
	uint32_t nslots, cap;
	uint32_t *free_slots;
	uint32_t nfree;
	uint64_t next_sweep_ms;
	struct id_list shaped;    /* connections waiting for shaper tokens */
	bool running;
} loop;

static int tag_sock = TAG_SOCK, tag_down = TAG_DOWN, tag_sig = TAG_SIG;

static uint64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ connection slots */

/* A connection by id: NULL when it closed (its slot may still be held
 * until the end of the iteration) or the slot went to another. */
static struct conn *slot_lookup(uint64_t id)
{
	uint32_t slot = conn_id_slot(id);
	if (slot >= loop.nslots || loop.slots[slot] == NULL || loop.slots[slot]->id != id ||
	    loop.slots[slot]->closed)
		return NULL;
	return loop.slots[slot];
}

static int slot_take(struct conn *c)
{
	uint32_t slot;
	if (loop.nfree > 0) {
		slot = loop.free_slots[--loop.nfree];
	} else {
		if (loop.nslots == loop.cap) {
			uint32_t nc = loop.cap ? loop.cap * 2 : 1024;
			if (nc > (1u << 24))
				return XS_ERROR;
			/* Closing a connection must not need memory (conn.h). */
			if (conn_reserve_closed(nc) != XS_OK)
				return XS_ERROR;
			struct conn **ns = realloc(loop.slots, nc * sizeof(*ns));
			if (ns == NULL)
				return XS_ERROR;
			loop.slots = ns;
			uint16_t *nr = realloc(loop.reuse, nc * sizeof(*nr));
			if (nr == NULL)
				return XS_ERROR;
			loop.reuse = nr;
			uint32_t *nf = realloc(loop.free_slots, nc * sizeof(*nf));
			if (nf == NULL)
				return XS_ERROR;
			loop.free_slots = nf;
			loop.cap = nc;
		}
		slot = loop.nslots++;
		loop.reuse[slot] = 0;
	}
	loop.slots[slot] = c;
	c->slot = slot;
	c->id = conn_id_make(loop.a->index, loop.a->generation, slot, ++loop.reuse[slot]);
	return XS_OK;
}

static void slot_release(struct conn *c)
{
	if (loop.slots[c->slot] != c)
		return;
	loop.slots[c->slot] = NULL;
	loop.free_slots[loop.nfree++] = c->slot;
}

/* Slots of the connections closed since the last call go back to the free
 * list, then the connections whose sockets are closed are freed. */
static void free_dead(void)
{
	size_t n;
	struct conn **closed = conn_take_closed(&n);
	for (size_t i = 0; i < n; i++)
		slot_release(closed[i]);
	conn_reap();
}

/* ------------------------------------------------------------ down ring */

static void deliver(const struct ring_rec *rec)
{
	const struct msg_deliver *m = rec->data;
	if (rec->len < sizeof(*m) || m->nconns == 0 ||
	    (rec->len - sizeof(*m)) / sizeof(uint64_t) < m->nconns) {
		log_error("down ring: bad deliver record of %u bytes", rec->len);
		return;
	}
	size_t off = sizeof(*m) + (size_t)m->nconns * sizeof(uint64_t);
	struct stz s;
	if (stz_view(&s, (const char *)rec->data + off, rec->len - off) != XS_OK) {
		log_error("down ring: bad stanza encoding");
		return;
	}
	struct conn_delivery d = {
		.s = &s,
		.stamp_to = (m->flags & MSG_DELIVER_STAMP_TO) != 0,
		.shared = m->nconns > 1,
	};
	for (uint32_t i = 0; i < m->nconns; i++) {
		struct conn *c = slot_lookup(m->conns[i]);
		if (c)
			c->proto->deliver(c, &d);
	}
}

static void handle_down(const struct ring_rec *rec)
{
	switch (rec->type) {
	case MSG_DOWN_DELIVER:
		deliver(rec);
		break;
	case MSG_DOWN_BOUND: {
		const struct msg_bound *m = rec->data;
		if (rec->len < sizeof(*m) + 1 || m->jid_len >= rec->len - sizeof(*m) ||
		    m->jid[m->jid_len] != '\0') {
			log_error("down ring: bad bound record");
			break;
		}
		struct conn *c = slot_lookup(m->conn);
		if (c)
			c->proto->bound(c, m->status, m->jid);
		break;
	}
	case MSG_DOWN_TRACE: {
		const struct msg_trace *m = rec->data;
		if (rec->len < sizeof(*m)) {
			log_error("down ring: bad trace record");
			break;
		}
		struct conn *c = slot_lookup(m->conn);
		if (c) {
			c->trace = m->on != 0;
			log_trace("%016" PRIx64 " %s tracing %s", c->id, c->trace ? "start" : "stop",
			          c->jid ? c->jid : c->peer);
		}
		break;
	}
	case MSG_DOWN_KICK: {
		const struct msg_kick *m = rec->data;
		if (rec->len < sizeof(*m)) {
			log_error("down ring: bad kick record");
			break;
		}
		struct conn *c = slot_lookup(m->conn);
		if (c)
			c->proto->kick(c, m->reason);
		break;
	}
	default:
		log_error("down ring: unknown record type %u", rec->type);
	}
}

/* XS_OK when the ring was emptied, XS_AGAIN when the budget ran out. */
static int drain_down(void)
{
	struct ring_rec rec;
	for (int i = 0; i < DOWN_BUDGET; i++) {
		int rc = ring_peek(loop.down, &rec);
		if (rc == XS_AGAIN)
			return XS_OK;
		if (rc != XS_OK) {
			/* Our own protocol broke: stop rather than guess. */
			log_error("down ring corrupt; worker exits");
			exit(2);
		}
		handle_down(&rec);
		ring_consume(loop.down);
	}
	return XS_AGAIN;
}

/* ------------------------------------------------------------ sockets */

static void peer_name(const struct msg_conn *m, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (m->peer.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&m->peer;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
	} else if (m->peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&m->peer;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
	}
	snprintf(out, cap, "%s:%u", ip, port);
}

/* The master reloaded the configuration: read the file again and apply
 * what a worker applies live (log, limits, TLS credentials for new
 * connections, listener settings, registration and anonymous access); the
 * master hears back.  Connections keep pointing into the old config, which
 * is kept (cfg_retire). */
static void worker_reload(void)
{
	struct cfg *n = cfg_reread(worker.cfg);
	int rc = n ? XS_OK : XS_ERROR;
	if (n) {
		tls_reload(n); /* on failure TLS keeps the old credentials (logged) */
		struct cfg *old = (struct cfg *)worker.cfg;
		worker.cfg = n;
		if (old != loop.a->cfg)
			cfg_retire(old);
		log_info("reload: applied");
	}
	struct msg_ctl m = { .type = MSG_SOCK_RELOAD_DONE, .status = rc };
	if (send(loop.a->sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_error("answering the master: %s", strerror(errno));
}

static void receive_conns(void)
{
	for (;;) {
		union {
			struct msg_conn c;
			struct msg_ctl x;
			uint32_t type;
		} u;
		int fd;
		ssize_t n = fdpass_recv(loop.a->sock, &u, sizeof(u), &fd);
		if (n == -1) {
			if (errno != EAGAIN)
				log_error("recvmsg from master: %s", strerror(errno));
			if (errno == EPROTO)
				continue;
			return;
		}
		if (n == 0) {
			log_info("master went away; worker exits");
			loop.running = false;
			return;
		}
		if (n == sizeof(u.x) && fd == -1 &&
		    (u.type == MSG_SOCK_RELOAD || u.type == MSG_SOCK_LOGLEVEL)) {
			if (u.type == MSG_SOCK_RELOAD)
				worker_reload();
			else if (u.x.status >= LOG_LVL_ERROR && u.x.status <= LOG_LVL_DEBUG)
				log_set_level((enum log_level)u.x.status);
			continue;
		}
		struct msg_conn m = u.c;
		if (n != sizeof(m) || m.type != MSG_SOCK_CONN || fd == -1 ||
		    m.listener >= worker.cfg->nlisten) {
			log_error("bad hand-off message from master (%zd bytes)", n);
			if (fd != -1)
				close(fd);
			continue;
		}
		worker_stat_add(&worker.stats->accepted, 1);
		const struct cfg_listen *lst = &worker.cfg->listen[m.listener];
		const struct proto *proto = proto_for_listener(lst);
		if (proto == NULL) {
			log_error("listener on port %u: no protocol for its module", lst->port);
			close(fd);
			continue;
		}
		/* Output is already batched per loop iteration; Nagle would only
		 * hold a stanza back behind the previous one's ACK. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = proto->new();
		if (c) {
			c->fd = fd;
			c->proto = proto;
			c->tp = (struct transport){ .ops = &transport_tcp };
		}
		if (c == NULL || slot_take(c) != XS_OK) {
			log_error("no memory for a new connection");
			if (c)
				conn_free(c);
			close(fd);
			continue;
		}
		c->tag = TAG_CONN;
		c->lst = lst;
		peer_name(&m, c->peer, sizeof(c->peer));
		c->ip.family = (uint8_t)m.peer.ss_family;
		if (m.peer.ss_family == AF_INET)
			memcpy(c->ip.addr, &((struct sockaddr_in *)&m.peer)->sin_addr, 4);
		else if (m.peer.ss_family == AF_INET6)
			memcpy(c->ip.addr, &((struct sockaddr_in6 *)&m.peer)->sin6_addr, 16);
		c->born = c->last_io = worker_now_s();
		c->tokens = (int64_t)worker.cfg->max_stanza_size;
		c->tokens_ms = worker.now_ms;
		/* A peer that acknowledges nothing (a keepalive included) for two
		 * keepalive intervals is dead: the kernel says so, epoll tells us. */
		unsigned ka = worker.cfg->limits.keepalive_interval;
		if (ka) {
			unsigned ms = 2 * ka * 1000;
			setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
		}
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = c };
		if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			log_error("epoll_ctl: %s", strerror(errno));
			slot_release(c);
			conn_free(c);
			close(fd);
			continue;
		}
		worker_stat_add(&worker.stats->connections, 1);
		/* Direct TLS (XEP-0368): the handshake comes before any XML. */
		if (c->lst->tls && conn_start_tls(c) != XS_OK) {
			conn_close(c);
			continue;
		}
		conn_want_read(c); /* bytes may have arrived before we watched */
	}
}


/* Reads once from each connection with pending input; connections that may
 * have more stay on the list, so one busy peer cannot starve the others. */
static void read_ready(void)
{
	size_t n;
	uint64_t *ids = conn_take_readable(&n);
	static char data[READ_CHUNK];
	for (size_t i = 0; i < n; i++) {
		struct conn *c = slot_lookup(ids[i]);
		if (c == NULL || c->fd < 0)
			continue;
		if (c->handshaking) {
			conn_handshake(c);
			continue;
		}
		if (up_blocked()) { /* paused by backpressure: keep it for later */
			conn_want_read(c);
			continue;
		}
		size_t want = sizeof(data);
		unsigned rate = worker.cfg->limits.shaper_bytes_per_second;
		if (rate) {
			/* Token bucket: refills at the rate, holds one stanza's worth. */
			int64_t cap = (int64_t)worker.cfg->max_stanza_size;
			c->tokens += (int64_t)((worker.now_ms - c->tokens_ms) * rate / 1000);
			c->tokens_ms = worker.now_ms;
			if (c->tokens > cap)
				c->tokens = cap;
			if (c->tokens <= 0) {
				/* Listed once, however many times epoll reports input meanwhile. */
				if (!c->shaped && id_list_push(&loop.shaped, c->id) == XS_OK)
					c->shaped = true;
				continue;
			}
			if ((size_t)c->tokens < want)
				want = (size_t)c->tokens;
		}
		ssize_t r = c->tp.ops->read(c->tp.state, c->fd, data, want);
		if (r == -1) {
			if (errno == EINTR) {
				conn_want_read(c);
			} else if (errno != EAGAIN) {
				log_debug("%s: read: %s", c->peer, strerror(errno));
				conn_close(c);
			}
			continue;
		}
		if (r == 0) {
			log_debug("%s: connection closed by peer", c->peer);
			conn_close(c);
			continue;
		}
		worker_stat_add(&worker.stats->bytes_in, (uint64_t)r);
		c->tokens -= r;
		c->last_io = worker_now_s();
		c->proto->input(c, data, (size_t)r);
		/* More may wait: in the socket when the read filled the buffer, or
		 * inside the transport where epoll cannot see it (TLS). */
		if (c->fd >= 0 && !c->closed && !c->handshaking &&
		    (r == (ssize_t)want || c->tp.ops->pending(c->tp.state) > 0))
			conn_want_read(c);
	}
	free(ids);
}

/* Once a second: lingering sockets past their time, connections that took
 * too long to establish a session, sessions due a whitespace keepalive,
 * shaped connections whose tokens came. */
static void sweep(void)
{
	if (worker.now_ms < loop.next_sweep_ms)
		return;
	loop.next_sweep_ms = worker.now_ms + 1000;
	uint32_t now = worker_now_s();
	const struct cfg_limits *l = &worker.cfg->limits;
	conn_linger_sweep(now);
	for (uint32_t i = 0; i < loop.nslots; i++) {
		struct conn *c = loop.slots[i];
		if (c == NULL || c->fd < 0 || c->closed)
			continue;
		if (!c->established) {
			if (l->auth_timeout && now - c->born >= l->auth_timeout)
				c->proto->stream_error(c, "connection-timeout", NULL);
			continue;
		}
		if (l->keepalive_interval && now - c->last_io >= l->keepalive_interval &&
		    buf_pending(&c->out) == 0) {
			conn_write(c, " ", 1); /* RFC 6120 §4.6.1 */
			c->last_io = now;
		}
	}
	/* Shaped connections get another go; those still short wait again. */
	size_t n = loop.shaped.n;
	uint64_t *ids = loop.shaped.v;
	loop.shaped = (struct id_list){ 0 };
	if (n > 0)
		log_debug("shaper: %zu connection(s) waited for tokens", n);
	for (size_t i = 0; i < n; i++) {
		struct conn *c = slot_lookup(ids[i]);
		if (c) {
			c->shaped = false;
			conn_want_read(c);
		}
	}
	free(ids);
}

static void drain_eventfd(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* SIGTERM (from the master, or because it died): every peer is told
 * <system-shutdown/>, the router learns which sessions ended, then exit. */
static void shutdown_all(void)
{
	for (uint32_t i = 0; i < loop.nslots; i++) {
		struct conn *c = loop.slots[i];
		if (c && c->fd >= 0 && !c->closed)
			c->proto->kick(c, KICK_SHUTDOWN);
	}
	free_dead();
	for (int i = 0; i < 1000 && up_blocked(); i++) {
		up_flush();
		ring_wake(loop.up, loop.a->up_efd);
		if (up_blocked()) {
			struct timespec ts = { 0, 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	ring_wake(loop.up, loop.a->up_efd);
	loop.running = false;
}

static int signals_fd(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1); /* reopen the log file */
	sigaddset(&set, SIGINT); /* a terminal's ^C is the master's to handle */
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	sigdelset(&set, SIGINT);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* One epoll event of a connection. */
static void conn_event(struct conn *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (c->lingering) {
		conn_linger_event(c, (events & (EPOLLERR | EPOLLHUP)) != 0);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_want_read(c);
	if ((events & EPOLLOUT) && c->handshaking)
		conn_want_read(c);
	else if (events & EPOLLOUT)
		conn_writable(c);
}

int worker_main(const struct worker_args *a)
{
	memset(&loop, 0, sizeof(loop));
	loop.a = a;
	worker.cfg = a->cfg;
	worker.index = a->index;
	worker.seg = a->seg;
	worker.master_sock = a->sock;
	worker.now_ms = clock_ms();
	/* Trace ids: this worker and generation in the top bits, then a count. */
	worker.trace_next = ((uint64_t)(a->index + 1) << 56) |
	                    ((uint64_t)(a->generation & 0xffff) << 40);
	stz_b_init(&worker.reply, a->cfg->max_encoded);
	memcpy(worker.scram_secret, a->secret, sizeof(worker.scram_secret));
	loop.up = shm_up_ring(a->seg, a->index);
	loop.down = shm_down_ring(a->seg, a->index);
	worker.stats = &shm_slot(a->seg, a->index)->stats;
	atomic_store(&worker.stats->connections, 0);
	atomic_store(&worker.stats->sessions, 0);
	ring_producer_attach(loop.up);
	ring_consumer_attach(loop.down);
	up_init(loop.up);
	if (db_open_data(&worker.data, a->cfg->data_dir, false) != XS_OK)
		return 1;
	if (tls_init(a->cfg, a->ticket_key) != XS_OK)
		return 1;
	proto_init_all();
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop.epfd == -1) {
		log_error("epoll_create1: %s", strerror(errno));
		return 1;
	}
	conn_init(loop.epfd);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tag_sock };
	epoll_ctl(loop.epfd, EPOLL_CTL_ADD, a->sock, &ev);
	ev.data.ptr = &tag_down;
	epoll_ctl(loop.epfd, EPOLL_CTL_ADD, a->down_efd, &ev);
	int sigfd = signals_fd();
	if (sigfd == -1) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	ev.data.ptr = &tag_sig;
	epoll_ctl(loop.epfd, EPOLL_CTL_ADD, sigfd, &ev);
	log_info("worker %u ready (generation %u)", a->index, a->generation);

	loop.running = true;
	while (loop.running) {
		worker.now_ms = clock_ms();
		sweep();
		up_flush();
		int more = drain_down();
		read_ready();
		conn_flush_dirty();
		free_dead();
		up_flush();
		if (up_take_written())
			ring_wake(loop.up, a->up_efd);
		/* The sweep runs at least once a second. */
		int timeout = (int)(loop.next_sweep_ms > worker.now_ms
		                    ? loop.next_sweep_ms - worker.now_ms : 0);
		bool slept = false;
		if (up_blocked())
			timeout = 1; /* the router frees room without telling us */
		else if (more == XS_AGAIN || conn_readable_count() > 0)
			timeout = 0;
		else if (ring_sleep_prepare(loop.down) == XS_AGAIN)
			timeout = 0;
		else
			slept = true;
		struct epoll_event evs[256];
		int n = epoll_wait(loop.epfd, evs, 256, timeout);
		if (slept)
			ring_sleep_done(loop.down);
		if (n == -1 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int tag = *(int *)evs[i].data.ptr;
			if (tag == TAG_SOCK) {
				receive_conns();
			} else if (tag == TAG_DOWN) {
				drain_eventfd(a->down_efd);
			} else if (tag == TAG_SIG) {
				struct signalfd_siginfo si;
				bool stop = false;
				while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
					if (si.ssi_signo != SIGUSR1)
						stop = true;
					else if (log_reopen() != XS_OK)
						log_error("reopening the log file: %s", strerror(errno));
				}
				if (!stop)
					continue;
				log_info("stopping: closing %" PRIu64 " connection(s)",
				         atomic_load(&worker.stats->connections));
				shutdown_all();
				break;
			} else {
				conn_event(evs[i].data.ptr, evs[i].events);
			}
		}
		free_dead();
	}
	return 0;
}

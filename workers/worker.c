/* worker.c — the C2S worker process: event loop, connection table, hand-off
 * from the master, the up ring (with its in-order overflow queue) and the
 * down ring. */
#include "workers/worker.h"
#include "workers/conn.h"
#include "workers/tls.h"
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { TAG_CONN = 1, TAG_SOCK, TAG_DOWN, TAG_SIG };

#define READ_CHUNK   16384
#define DOWN_BUDGET  4096     /* records taken from the down ring per iteration */
#define OUT_MAX      (8u << 20) /* a client this far behind is cut off */
#define LINGER_S     5          /* seconds a closed connection's last output may take */

struct upq_item {
	struct upq_item *next;
	uint16_t type;
	uint32_t len;
	alignas(8) char data[];
};

struct worker_ctx W;

static struct {
	const struct worker_args *a;
	struct ring *up, *down;
	struct shm_worker_stats *stats;
	int epfd;
	struct conn **slots;      /* by slot index */
	uint16_t *reuse;          /* per slot: bumped when the slot is reused */
	uint32_t nslots, cap;
	uint32_t *free_slots;
	uint32_t nfree;
	struct upq_item *upq_head, *upq_tail;
	bool up_written;
	struct conn **dirty;      /* connections with output to flush */
	size_t ndirty, dirty_cap;
	uint64_t *readable;       /* connection ids with unread input (edge-triggered) */
	size_t nreadable, readable_cap;
	struct conn **dead;       /* closed, freed at the end of the iteration */
	size_t ndead, dead_cap;
	struct conn **linger;     /* closed, their last output draining (conn_close) */
	size_t nlinger, linger_cap;
	uint64_t now_ms;          /* monotonic clock, read once per iteration */
	uint64_t next_sweep_ms;
	uint64_t *shaped;         /* connections waiting for shaper tokens */
	size_t nshaped, shaped_cap;
	bool running;
} S;

static int tag_sock = TAG_SOCK, tag_down = TAG_DOWN, tag_sig = TAG_SIG;

static int push_ptr(void ***arr, size_t *n, size_t *cap, void *p)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		void **na = realloc(*arr, nc * sizeof(*na));
		if (na == NULL)
			return XS_ERROR;
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = p;
	return XS_OK;
}

static uint64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t now_s(void)
{
	return (uint32_t)(S.now_ms / 1000);
}

/* A report to the master; lost when its queue is full (the per-address
 * count then stays high until the worker restarts, never the reverse). */
static void report(uint32_t type, const struct msg_ip *ip)
{
	struct msg_peer m = { .type = type, .ip = *ip };
	if (fdpass_send(S.a->sock, &m, sizeof(m), -1) != XS_OK)
		log_warn("report to the master lost: %s", strerror(errno));
}

void worker_auth_abuse(struct conn *c)
{
	report(MSG_SOCK_AUTH_ABUSE, &c->ip);
	c2s_stream_error(c, "policy-violation", "too many failed authentications");
}

static void stat_add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static void stat_sub(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_sub_explicit(v, n, memory_order_relaxed);
}

void worker_stat_sessions(int delta)
{
	if (delta > 0)
		stat_add(&S.stats->sessions, (uint64_t)delta);
	else
		stat_sub(&S.stats->sessions, (uint64_t)-delta);
}

void worker_stat_stanza_in(void)
{
	stat_add(&S.stats->stanzas_in, 1);
}

/* ------------------------------------------------------------ connection table */

static struct conn *conn_lookup(uint64_t id)
{
	uint32_t slot = conn_id_slot(id);
	if (slot >= S.nslots || S.slots[slot] == NULL || S.slots[slot]->id != id)
		return NULL;
	return S.slots[slot];
}

static int conn_register(struct conn *c)
{
	uint32_t slot;
	if (S.nfree > 0) {
		slot = S.free_slots[--S.nfree];
	} else {
		if (S.nslots == S.cap) {
			uint32_t nc = S.cap ? S.cap * 2 : 1024;
			if (nc > (1u << 24))
				return XS_ERROR;
			struct conn **ns = realloc(S.slots, nc * sizeof(*ns));
			if (ns == NULL)
				return XS_ERROR;
			S.slots = ns;
			uint16_t *nr = realloc(S.reuse, nc * sizeof(*nr));
			if (nr == NULL)
				return XS_ERROR;
			S.reuse = nr;
			uint32_t *nf = realloc(S.free_slots, nc * sizeof(*nf));
			if (nf == NULL)
				return XS_ERROR;
			S.free_slots = nf;
			S.cap = nc;
		}
		slot = S.nslots++;
		S.reuse[slot] = 0;
	}
	S.slots[slot] = c;
	c->slot = slot;
	c->id = conn_id_make(S.a->index, S.a->generation, slot, ++S.reuse[slot]);
	return XS_OK;
}

static void mark_dirty(struct conn *c)
{
	if (!c->dirty && push_ptr((void ***)&S.dirty, &S.ndirty, &S.dirty_cap, c) == XS_OK)
		c->dirty = true;
}

static void mark_readable(struct conn *c)
{
	push_ptr((void ***)&S.readable, &S.nreadable, &S.readable_cap, (void *)(uintptr_t)c->id);
}

/* A client that does not read what it is sent: the stanza that went over
 * the bound is not queued (the output ends between two stanzas), the stream
 * ends with a stream error and the connection closes; both reach the client
 * if its socket still takes them (RFC 6120 §4.9.3.18: the server will not
 * hold more for it). */
static void output_overflow(struct conn *c)
{
	static struct log_limit over = { .what = "connections cut off for not reading" };
	log_limited(&over, LOG_LVL_WARNING, "%s: output over %u bytes not read, closing", c->peer,
	            OUT_MAX);
	c->overflowed = true;
	c2s_stream_error(c, "resource-constraint", "too much output not read");
}

int conn_write(struct conn *c, const char *data, size_t len)
{
	if (c->fd < 0 || c->lingering)
		return XS_ERROR;
	/* Past the bound only the stream error and the end of the stream go. */
	if (buf_pending(&c->out) + len > OUT_MAX && !c->overflowed) {
		output_overflow(c);
		return XS_ERROR;
	}
	if (buf_append(&c->out, data, len) != XS_OK) {
		conn_close(c);
		return XS_ERROR;
	}
	mark_dirty(c);
	return XS_OK;
}

int conn_writez(struct conn *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

uint64_t worker_trace_id(void)
{
	return ++W.trace_next;
}

int conn_write_stz(struct conn *c, const struct stz *s)
{
	if (c->fd < 0 || c->lingering)
		return XS_ERROR;
	if (s->h->trace || c->trace)
		log_trace("%016" PRIx64 " write %s type=%s to %s (connection %016" PRIx64 ")",
		          s->h->trace ? s->h->trace : c->id, stz_str(s, s->nodes[0].name),
		          s->h->type ? stz_type_name(s->h->type) : "-", c->jid ? c->jid : c->peer, c->id);
	size_t before = c->out.len;
	if (stz_to_xml(s, STZ_NS_CLIENT, &c->out) != XS_OK) {
		conn_close(c);
		return XS_ERROR;
	}
	/* One stanza alone may be larger (it was within max_stanza_size). */
	if (buf_pending(&c->out) > OUT_MAX && before > c->out.off) {
		c->out.len = before;
		output_overflow(c);
		return XS_ERROR;
	}
	stat_add(&S.stats->stanzas_out, 1);
	mark_dirty(c);
	return XS_OK;
}

static void set_events(struct conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET | (out ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(S.epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Writes queued output; XS_ERROR when the connection broke. */
static int conn_flush(struct conn *c)
{
	if (c->handshaking)
		return XS_OK; /* application data waits for the handshake */
	while (buf_pending(&c->out) > 0) {
		ssize_t n = c->tls ? tls_write(c->tls, c->out.data + c->out.off, buf_pending(&c->out))
		                   : write(c->fd, c->out.data + c->out.off, buf_pending(&c->out));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!c->want_out)
					set_events(c, true);
				return XS_OK;
			}
			return XS_ERROR;
		}
		stat_add(&S.stats->bytes_out, (uint64_t)n);
		buf_consume(&c->out, (size_t)n);
		c->last_io = now_s();
	}
	buf_free(&c->out); /* idle connections keep no output buffer */
	if (c->want_out)
		set_events(c, false);
	return XS_OK;
}

int conn_flush_now(struct conn *c)
{
	if (conn_flush(c) != XS_OK)
		return XS_ERROR;
	return buf_pending(&c->out) == 0 ? XS_OK : XS_ERROR;
}

int conn_start_tls(struct conn *c)
{
	c->tls = tls_conn_new(c->fd);
	if (c->tls == NULL)
		return XS_ERROR;
	c->handshaking = true;
	mark_readable(c); /* the ClientHello may be waiting already */
	return XS_OK;
}

/* One step of a TLS handshake, run when the socket is ready. */
static void handshake_step(struct conn *c)
{
	bool want_write = false;
	int rc = tls_handshake(c->tls, &want_write);
	if (rc == XS_ERROR) {
		log_debug("%s: TLS handshake failed", c->peer);
		conn_close(c);
		return;
	}
	if (rc == XS_AGAIN) {
		if (want_write != c->want_out)
			set_events(c, want_write);
		return;
	}
	c->handshaking = false;
	c->secure = true;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char d[96];
		log_debug("%s: TLS established (%s)", c->peer, tls_describe(c->tls, d, sizeof(d)));
	}
	set_events(c, buf_pending(&c->out) > 0);
	mark_readable(c); /* the client's first record may have come with it */
	if (buf_pending(&c->out) > 0)
		mark_dirty(c);
}

/* The socket of a connection whose session has ended: closed now, or once
 * its last output (a stream error, the end of the stream) has drained. */
static void close_socket(struct conn *c)
{
	if (c->tls && !c->handshaking)
		tls_bye(c->tls);
	epoll_ctl(S.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->lingering) {
		c->lingering = false;
		for (size_t i = 0; i < S.nlinger; i++)
			if (S.linger[i] == c) {
				S.linger[i] = S.linger[--S.nlinger];
				break;
			}
	}
	push_ptr((void ***)&S.dead, &S.ndead, &S.dead_cap, c);
}

void conn_close(struct conn *c)
{
	if (c->fd < 0 || c->lingering)
		return;
	bool broken = buf_pending(&c->out) > 0 && conn_flush(c) != XS_OK;
	c->state = C2S_CLOSING;
	if (c->bind_sent) {
		/* The router learns in ring order, after the bind it already has. */
		size_t jl = c->jid ? strlen(c->jid) : 0;
		size_t len = sizeof(struct msg_closed) + jl + 1;
		struct msg_closed *m = calloc(1, len);
		if (m) {
			m->conn = c->id;
			m->jid_len = (uint32_t)jl;
			if (jl)
				memcpy(m->jid, c->jid, jl);
			(void)worker_up(MSG_UP_CLOSED, m, (uint32_t)len);
			free(m);
		}
	}
	if (c->jid)
		stat_sub(&S.stats->sessions, 1);
	S.slots[c->slot] = NULL;
	S.free_slots[S.nfree++] = c->slot;
	stat_sub(&S.stats->connections, 1);
	report(MSG_SOCK_CLOSED, &c->ip);
	/* What the socket did not take yet (a client that reads slowly) gets
	 * LINGER_S seconds; nothing is added to it any more. */
	if (!broken && !c->handshaking && buf_pending(&c->out) > 0 &&
	    push_ptr((void ***)&S.linger, &S.nlinger, &S.linger_cap, c) == XS_OK) {
		c->lingering = true;
		c->linger_until = now_s() + LINGER_S;
		if (!c->want_out)
			set_events(c, true);
		return;
	}
	close_socket(c);
}

/* ------------------------------------------------------------ rings */

int worker_up(uint16_t type, const void *data, uint32_t len)
{
	if (len > S.up->max_record) {
		log_error("record of %u bytes exceeds the ring's limit", len);
		return XS_ERROR;
	}
	if (S.upq_head == NULL && ring_push(S.up, type, data, len) == XS_OK) {
		S.up_written = true;
		return XS_OK;
	}
	/* Ring full: keep order behind what is already waiting; reading from
	 * clients pauses until the queue drains (TCP pushes back). */
	struct upq_item *it = malloc(sizeof(*it) + len);
	if (it == NULL)
		return XS_ERROR;
	it->next = NULL;
	it->type = type;
	it->len = len;
	memcpy(it->data, data, len);
	if (S.upq_tail)
		S.upq_tail->next = it;
	else
		S.upq_head = it;
	S.upq_tail = it;
	return XS_OK;
}

static void flush_upq(void)
{
	while (S.upq_head) {
		struct upq_item *it = S.upq_head;
		if (ring_push(S.up, it->type, it->data, it->len) != XS_OK)
			return;
		S.up_written = true;
		S.upq_head = it->next;
		if (S.upq_head == NULL)
			S.upq_tail = NULL;
		free(it);
	}
}

int worker_encode(struct stz_builder *b, uint64_t conn, struct stz *out)
{
	size_t n = stz_b_size(b);
	if (n == 0)
		return XS_ERROR;
	if (n > W.scratch_cap) {
		size_t cap = (n + 4095) & ~(size_t)4095;
		char *p = aligned_alloc(8, cap);
		if (p == NULL)
			return XS_ERROR;
		free(W.scratch);
		W.scratch = p;
		W.scratch_cap = cap;
	}
	stz_b_write(b, W.scratch, conn);
	return stz_view(out, W.scratch, n);
}

MDB_txn *worker_rtxn(void)
{
	int rc;
	if (W.rtxn == NULL)
		rc = mdb_txn_begin(W.data.env, NULL, MDB_RDONLY, &W.rtxn);
	else
		rc = mdb_txn_renew(W.rtxn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(W.data.env, 0);
		rc = mdb_txn_renew(W.rtxn);
	}
	if (rc != 0) {
		log_error("lmdb read txn: %s", mdb_strerror(rc));
		if (W.rtxn) {
			mdb_txn_abort(W.rtxn);
			W.rtxn = NULL;
		}
		return NULL;
	}
	return W.rtxn;
}

void worker_rtxn_done(void)
{
	if (W.rtxn)
		mdb_txn_reset(W.rtxn);
}

static void deliver(const struct ring_rec *rec)
{
	const struct msg_deliver *d = rec->data;
	if (rec->len < sizeof(*d) || d->nconns == 0 ||
	    (rec->len - sizeof(*d)) / sizeof(uint64_t) < d->nconns) {
		log_error("down ring: bad deliver record of %u bytes", rec->len);
		return;
	}
	size_t off = sizeof(*d) + (size_t)d->nconns * sizeof(uint64_t);
	struct stz s;
	if (stz_view(&s, (const char *)rec->data + off, rec->len - off) != XS_OK) {
		log_error("down ring: bad stanza encoding");
		return;
	}
	for (uint32_t i = 0; i < d->nconns; i++) {
		struct conn *c = conn_lookup(d->conns[i]);
		/* Besides sessions: the answers to pre-authentication requests. */
		if (c && (c->state == C2S_BOUND || (c->state == C2S_AUTH && c->preauth_iqs > 0)))
			conn_write_stz(c, &s);
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
		struct conn *c = conn_lookup(m->conn);
		if (c)
			c2s_bound(c, m->status, m->jid);
		break;
	}
	case MSG_DOWN_TRACE: {
		const struct msg_trace *m = rec->data;
		if (rec->len < sizeof(*m)) {
			log_error("down ring: bad trace record");
			break;
		}
		struct conn *c = conn_lookup(m->conn);
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
		struct conn *c = conn_lookup(m->conn);
		if (c)
			c2s_kick(c, m->reason);
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
		int rc = ring_peek(S.down, &rec);
		if (rc == XS_AGAIN)
			return XS_OK;
		if (rc != XS_OK) {
			/* Our own protocol broke: stop rather than guess. */
			log_error("down ring corrupt; worker exits");
			exit(2);
		}
		handle_down(&rec);
		ring_consume(S.down);
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
	struct cfg *n = cfg_reread(W.cfg);
	int rc = n ? XS_OK : XS_ERROR;
	if (n) {
		tls_reload(n); /* on failure TLS keeps the old credentials (logged) */
		struct cfg *old = (struct cfg *)W.cfg;
		W.cfg = n;
		if (old != S.a->cfg)
			cfg_retire(old);
		log_info("reload: applied");
	}
	struct msg_ctl m = { .type = MSG_SOCK_RELOAD_DONE, .status = rc };
	if (send(S.a->sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
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
		ssize_t n = fdpass_recv(S.a->sock, &u, sizeof(u), &fd);
		if (n == -1) {
			if (errno != EAGAIN)
				log_error("recvmsg from master: %s", strerror(errno));
			if (errno == EPROTO)
				continue;
			return;
		}
		if (n == 0) {
			log_info("master went away; worker exits");
			S.running = false;
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
		    m.listener >= W.cfg->nlisten) {
			log_error("bad hand-off message from master (%zd bytes)", n);
			if (fd != -1)
				close(fd);
			continue;
		}
		stat_add(&S.stats->accepted, 1);
		/* Output is already batched per loop iteration; Nagle would only
		 * hold a stanza back behind the previous one's ACK. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = c2s_new(fd);
		if (c == NULL || conn_register(c) != XS_OK) {
			log_error("no memory for a new connection");
			if (c)
				c2s_free(c);
			close(fd);
			continue;
		}
		c->tag = TAG_CONN;
		c->lst = &W.cfg->listen[m.listener];
		peer_name(&m, c->peer, sizeof(c->peer));
		c->ip.family = (uint8_t)m.peer.ss_family;
		if (m.peer.ss_family == AF_INET)
			memcpy(c->ip.addr, &((struct sockaddr_in *)&m.peer)->sin_addr, 4);
		else if (m.peer.ss_family == AF_INET6)
			memcpy(c->ip.addr, &((struct sockaddr_in6 *)&m.peer)->sin6_addr, 16);
		c->born = c->last_io = now_s();
		c->tokens = (int64_t)W.cfg->max_stanza_size;
		c->tokens_ms = S.now_ms;
		/* A peer that acknowledges nothing (a keepalive included) for two
		 * keepalive intervals is dead: the kernel says so, epoll tells us. */
		unsigned ka = W.cfg->limits.keepalive_interval;
		if (ka) {
			unsigned ms = 2 * ka * 1000;
			setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
		}
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = c };
		if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
			log_error("epoll_ctl: %s", strerror(errno));
			S.slots[c->slot] = NULL;
			S.free_slots[S.nfree++] = c->slot;
			c2s_free(c);
			close(fd);
			continue;
		}
		stat_add(&S.stats->connections, 1);
		/* Direct TLS (XEP-0368): the handshake comes before any XML. */
		if (c->lst->tls && conn_start_tls(c) != XS_OK) {
			conn_close(c);
			continue;
		}
		mark_readable(c); /* bytes may have arrived before we watched */
	}
}

/* Reads once from each connection with pending input; connections that may
 * have more stay on the list, so one busy client cannot starve the others. */
static void read_ready(void)
{
	size_t n = S.nreadable;
	uint64_t *ids = S.readable;
	S.readable = NULL;
	S.nreadable = S.readable_cap = 0;
	static char data[READ_CHUNK];
	for (size_t i = 0; i < n; i++) {
		struct conn *c = conn_lookup(ids[i]);
		if (c == NULL || c->fd < 0)
			continue;
		if (c->handshaking) {
			handshake_step(c);
			continue;
		}
		if (S.upq_head) { /* paused by backpressure: keep it for later */
			mark_readable(c);
			continue;
		}
		size_t want = sizeof(data);
		unsigned rate = W.cfg->limits.shaper_bytes_per_second;
		if (rate) {
			/* Token bucket: refills at the rate, holds one stanza's worth. */
			int64_t cap = (int64_t)W.cfg->max_stanza_size;
			c->tokens += (int64_t)((S.now_ms - c->tokens_ms) * rate / 1000);
			c->tokens_ms = S.now_ms;
			if (c->tokens > cap)
				c->tokens = cap;
			if (c->tokens <= 0) {
				push_ptr((void ***)&S.shaped, &S.nshaped, &S.shaped_cap,
				         (void *)(uintptr_t)c->id);
				continue;
			}
			if ((size_t)c->tokens < want)
				want = (size_t)c->tokens;
		}
		ssize_t r = c->tls ? tls_read(c->tls, data, want) : read(c->fd, data, want);
		if (r == -1) {
			if (errno == EINTR) {
				mark_readable(c);
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
		stat_add(&S.stats->bytes_in, (uint64_t)r);
		c->tokens -= r;
		c->last_io = now_s();
		c2s_input(c, data, (size_t)r);
		/* More may wait: in the socket, or inside GnuTLS where epoll cannot
		 * see it (so a TLS connection is read until it says AGAIN). */
		if (c->fd >= 0 && !c->handshaking && (r == (ssize_t)want || c->tls))
			mark_readable(c);
	}
	free(ids);
}

/* Once a second: connections that took too long to authenticate, bound
 * connections due a whitespace keepalive, shaped ones whose tokens came. */
static void sweep(void)
{
	if (S.now_ms < S.next_sweep_ms)
		return;
	S.next_sweep_ms = S.now_ms + 1000;
	uint32_t now = now_s();
	const struct cfg_limits *l = &W.cfg->limits;
	for (size_t i = S.nlinger; i-- > 0;)
		if ((int32_t)(now - S.linger[i]->linger_until) >= 0)
			close_socket(S.linger[i]);
	for (uint32_t i = 0; i < S.nslots; i++) {
		struct conn *c = S.slots[i];
		if (c == NULL || c->fd < 0)
			continue;
		if (c->state != C2S_BOUND) {
			if (l->auth_timeout && now - c->born >= l->auth_timeout)
				c2s_stream_error(c, "connection-timeout", NULL);
			continue;
		}
		if (l->keepalive_interval && now - c->last_io >= l->keepalive_interval &&
		    buf_pending(&c->out) == 0) {
			conn_write(c, " ", 1); /* RFC 6120 §4.6.1 */
			c->last_io = now;
		}
	}
	/* Shaped connections get another go; those still short wait again. */
	size_t n = S.nshaped;
	uint64_t *ids = S.shaped;
	S.shaped = NULL;
	S.nshaped = S.shaped_cap = 0;
	for (size_t i = 0; i < n; i++) {
		struct conn *c = conn_lookup(ids[i]);
		if (c)
			mark_readable(c);
	}
	free(ids);
}

static void flush_dirty(void)
{
	for (size_t i = 0; i < S.ndirty; i++) {
		struct conn *c = S.dirty[i];
		c->dirty = false;
		if (c->fd < 0)
			continue;
		if (c->lingering) {
			if (conn_flush(c) != XS_OK || buf_pending(&c->out) == 0)
				close_socket(c);
		} else if (conn_flush(c) != XS_OK) {
			conn_close(c);
		}
	}
	S.ndirty = 0;
}

static void free_dead(void)
{
	for (size_t i = 0; i < S.ndead; i++)
		c2s_free(S.dead[i]);
	S.ndead = 0;
}

static void drain_eventfd(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

/* SIGTERM (from the master, or because it died): every client is told
 * <system-shutdown/>, the router learns which sessions ended, then exit. */
static void shutdown_all(void)
{
	for (uint32_t i = 0; i < S.nslots; i++)
		if (S.slots[i] && S.slots[i]->fd >= 0)
			c2s_kick(S.slots[i], KICK_SHUTDOWN);
	free_dead();
	for (int i = 0; i < 1000 && S.upq_head; i++) {
		flush_upq();
		ring_wake(S.up, S.a->up_efd);
		if (S.upq_head) {
			struct timespec ts = { 0, 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	ring_wake(S.up, S.a->up_efd);
	S.running = false;
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

int worker_main(const struct worker_args *a)
{
	memset(&S, 0, sizeof(S));
	S.a = a;
	W.cfg = a->cfg;
	W.index = a->index;
	W.seg = a->seg;
	/* Trace ids: this worker and generation in the top bits, then a count. */
	W.trace_next = ((uint64_t)(a->index + 1) << 56) | ((uint64_t)(a->generation & 0xffff) << 40);
	stz_b_init(&W.reply, a->cfg->max_encoded);
	memcpy(W.scram_secret, a->secret, sizeof(W.scram_secret));
	S.up = shm_up_ring(a->seg, a->index);
	S.down = shm_down_ring(a->seg, a->index);
	S.stats = &shm_slot(a->seg, a->index)->stats;
	atomic_store(&S.stats->connections, 0);
	atomic_store(&S.stats->sessions, 0);
	ring_producer_attach(S.up);
	ring_consumer_attach(S.down);
	if (db_open_data(&W.data, a->cfg->data_dir, false) != XS_OK)
		return 1;
	if (tls_init(a->cfg, a->ticket_key) != XS_OK)
		return 1;
	S.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (S.epfd == -1) {
		log_error("epoll_create1: %s", strerror(errno));
		return 1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tag_sock };
	epoll_ctl(S.epfd, EPOLL_CTL_ADD, a->sock, &ev);
	ev.data.ptr = &tag_down;
	epoll_ctl(S.epfd, EPOLL_CTL_ADD, a->down_efd, &ev);
	int sigfd = signals_fd();
	if (sigfd == -1) {
		log_error("signalfd: %s", strerror(errno));
		return 1;
	}
	ev.data.ptr = &tag_sig;
	epoll_ctl(S.epfd, EPOLL_CTL_ADD, sigfd, &ev);
	log_info("worker %u ready (generation %u)", a->index, a->generation);

	S.running = true;
	while (S.running) {
		S.now_ms = clock_ms();
		sweep();
		flush_upq();
		int more = drain_down();
		read_ready();
		flush_dirty();
		free_dead();
		flush_upq();
		if (S.up_written) {
			S.up_written = false;
			ring_wake(S.up, a->up_efd);
		}
		/* The sweep runs at least once a second. */
		int timeout = (int)(S.next_sweep_ms > S.now_ms ? S.next_sweep_ms - S.now_ms : 0);
		bool slept = false;
		if (S.upq_head)
			timeout = 1; /* the router frees room without telling us */
		else if (more == XS_AGAIN || S.nreadable > 0)
			timeout = 0;
		else if (ring_sleep_prepare(S.down) == XS_AGAIN)
			timeout = 0;
		else
			slept = true;
		struct epoll_event evs[256];
		int n = epoll_wait(S.epfd, evs, 256, timeout);
		if (slept)
			ring_sleep_done(S.down);
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
				         atomic_load(&S.stats->connections));
				shutdown_all();
				break;
			} else {
				struct conn *c = evs[i].data.ptr;
				if (c->fd < 0)
					continue;
				if (c->lingering) {
					if ((evs[i].events & (EPOLLERR | EPOLLHUP)) || conn_flush(c) != XS_OK ||
					    buf_pending(&c->out) == 0)
						close_socket(c);
					continue;
				}
				if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
					mark_readable(c);
				if ((evs[i].events & EPOLLOUT) && c->handshaking)
					mark_readable(c);
				else if ((evs[i].events & EPOLLOUT) && conn_flush(c) != XS_OK)
					conn_close(c);
			}
		}
		free_dead();
	}
	return 0;
}

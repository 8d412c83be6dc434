/* conn.c — connection services: output, STARTTLS, close and linger, and
 * the loop's per-iteration lists. */
#include "workers/conn.h"
#include "workers/ctx.h"
#include "workers/tls.h"
#include "workers/up.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define OUT_MAX  (8u << 20) /* a peer this far behind is cut off */
#define LINGER_S 5          /* seconds a closed connection's last output may take */

struct ptr_list {
	void **v;
	size_t n, cap;
};

static struct {
	int epfd;
	struct ptr_list dirty;    /* struct conn *: output to flush */
	struct id_list readable;  /* input may wait */
	struct ptr_list closed;   /* struct conn *: closed, slot not yet released */
	struct ptr_list linger;   /* struct conn *: closed, last output draining */
	struct ptr_list dead;     /* struct conn *: socket closed, to free */
	struct ptr_list closed_out; /* what conn_take_closed handed over */
	struct stz_wire wire;     /* a delivery's bytes, made once for its recipients */
} cs;

static int push(struct ptr_list *l, void *p)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		void **nv = realloc(l->v, nc * sizeof(*nv));
		if (nv == NULL)
			return XS_ERROR;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = p;
	return XS_OK;
}

int id_list_push(struct id_list *l, uint64_t id)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		uint64_t *nv = realloc(l->v, nc * sizeof(*nv));
		if (nv == NULL)
			return XS_ERROR;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = id;
	return XS_OK;
}

void conn_init(int epfd)
{
	cs.epfd = epfd;
}

static int reserve(struct ptr_list *l, size_t n)
{
	if (l->cap >= n)
		return XS_OK;
	void **nv = realloc(l->v, n * sizeof(*nv));
	if (nv == NULL)
		return XS_ERROR;
	l->v = nv;
	l->cap = n;
	return XS_OK;
}

int conn_reserve_closed(size_t n)
{
	/* Both lists: conn_take_closed swaps them. */
	if (reserve(&cs.closed, n) != XS_OK || reserve(&cs.closed_out, n) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

static void mark_dirty(struct conn *c)
{
	if (!c->dirty && push(&cs.dirty, c) == XS_OK)
		c->dirty = true;
}

void conn_want_read(struct conn *c)
{
	if (id_list_push(&cs.readable, c->id) != XS_OK)
		log_error("worker: no memory to list connection %016" PRIx64 " as readable: its input "
		          "waits for its next packet", c->id);
}

uint64_t *conn_take_readable(size_t *n)
{
	uint64_t *ids = cs.readable.v;
	*n = cs.readable.n;
	cs.readable = (struct id_list){ 0 };
	return ids;
}

size_t conn_readable_count(void)
{
	return cs.readable.n;
}

/* A peer that does not read what it is sent: the stanza that went over
 * the bound is not queued (the output ends between two stanzas), the stream
 * ends with a stream error and the connection closes; both reach the peer
 * if its socket still takes them (RFC 6120 §4.9.3.18: the server will not
 * hold more for it). */
static void output_overflow(struct conn *c)
{
	static struct log_limit over = { .what = "connections cut off for not reading" };
	log_limited(&over, LOG_LVL_WARNING, "%s: output over %u bytes not read, closing", c->peer,
	            OUT_MAX);
	c->overflowed = true;
	c->proto->stream_error(c, "resource-constraint", "too much output not read");
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

int conn_deliver(struct conn *c, struct conn_delivery *d)
{
	const struct stz *s = d->s;
	if (c->fd < 0 || c->lingering)
		return XS_ERROR;
	if (s->h->trace || c->trace)
		log_trace("%016" PRIx64 " write %s type=%s to %s (connection %016" PRIx64 ")",
		          s->h->trace ? s->h->trace : c->id, stz_str(s, s->nodes[0].name),
		          s->h->type ? stz_type_name(s->h->type) : "-", c->jid ? c->jid : c->peer, c->id);
	size_t before = buf_mark(&c->out);
	const char *ns = c->proto->stream_ns;
	int rc;
	if (!d->shared && !d->stamp_to) {
		rc = stz_to_xml(s, ns, &c->out);
	} else {
		rc = XS_OK;
		if (d->made_for != ns) {
			rc = stz_wire_make(&cs.wire, s, ns, d->stamp_to);
			d->made_for = rc == XS_OK ? ns : NULL;
		}
		if (rc == XS_OK)
			rc = stz_wire_put(&cs.wire, c->jid, &c->out);
	}
	if (rc != XS_OK) {
		conn_close(c);
		return XS_ERROR;
	}
	/* One stanza alone may be larger (it was within max_stanza_size). */
	if (buf_pending(&c->out) > OUT_MAX && before > 0) {
		buf_rollback(&c->out, before);
		output_overflow(c);
		return XS_ERROR;
	}
	worker_stat_add(&worker.stats->stanzas_out, 1);
	mark_dirty(c);
	return XS_OK;
}

int conn_write_stz(struct conn *c, const struct stz *s)
{
	struct conn_delivery d = { .s = s };
	return conn_deliver(c, &d);
}

static void set_events(struct conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET | (out ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(cs.epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->want_out = out;
}

/* Writes queued output; XS_ERROR when the connection broke. */
static int flush(struct conn *c)
{
	if (c->handshaking)
		return XS_OK; /* application data waits for the handshake */
	while (buf_pending(&c->out) > 0) {
		ssize_t n = c->tp.ops->write(c->tp.state, c->fd, c->out.data + c->out.off,
		                             buf_pending(&c->out));
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
		worker_stat_add(&worker.stats->bytes_out, (uint64_t)n);
		buf_consume(&c->out, (size_t)n);
		c->last_io = worker_now_s();
	}
	buf_free(&c->out); /* idle connections keep no output buffer */
	if (c->want_out)
		set_events(c, false);
	return XS_OK;
}

int conn_flush_now(struct conn *c)
{
	if (flush(c) != XS_OK)
		return XS_ERROR;
	return buf_pending(&c->out) == 0 ? XS_OK : XS_ERROR;
}

void conn_writable(struct conn *c)
{
	if (flush(c) != XS_OK)
		conn_close(c);
}

int conn_start_tls(struct conn *c)
{
	struct transport t;
	if (tls_transport_start(&t, c->fd) != XS_OK)
		return XS_ERROR;
	c->tp.ops->free(c->tp.state);
	c->tp = t;
	c->handshaking = true;
	conn_want_read(c); /* the ClientHello may be waiting already */
	return XS_OK;
}

void conn_handshake(struct conn *c)
{
	bool want_write = false;
	int rc = c->tp.ops->handshake ? c->tp.ops->handshake(c->tp.state, &want_write) : XS_OK;
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
		log_debug("%s: TLS established (%s)", c->peer, c->tp.ops->describe(c->tp.state, d, sizeof(d)));
	}
	set_events(c, buf_pending(&c->out) > 0);
	conn_want_read(c); /* the peer's first record may have come with it */
	if (buf_pending(&c->out) > 0)
		mark_dirty(c);
}

static void remove_from(struct ptr_list *l, void *p)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == p) {
			l->v[i] = l->v[--l->n];
			return;
		}
}

/* The socket of a connection whose session has ended: closed now, or once
 * its last output (a stream error, the end of the stream) has drained. */
static void close_socket(struct conn *c)
{
	if (!c->handshaking)
		c->tp.ops->shutdown(c->tp.state, c->fd);
	epoll_ctl(cs.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->lingering) {
		c->lingering = false;
		remove_from(&cs.linger, c);
	}
	push(&cs.dead, c);
}

/* The router learns in ring order, after the bind it already has. */
static void tell_router(struct conn *c)
{
	size_t jl = c->jid ? strlen(c->jid) : 0;
	size_t len = sizeof(struct msg_closed) + jl + 1;
	struct msg_closed *m = calloc(1, len);
	if (m == NULL)
		return;
	m->conn = c->id;
	m->jid_len = (uint32_t)jl;
	if (jl)
		memcpy(m->jid, c->jid, jl);
	(void)up_send(MSG_UP_CLOSED, m, (uint32_t)len);
	free(m);
}

void conn_close(struct conn *c)
{
	if (c->fd < 0 || c->lingering || c->closed)
		return;
	bool broken = buf_pending(&c->out) > 0 && flush(c) != XS_OK;
	c->closed = true;
	if (c->routed)
		tell_router(c);
	if (c->jid)
		worker_stat_sub(&worker.stats->sessions, 1);
	/* No allocation here: a connection missing from this list would keep
	 * its slot after being freed.  conn_reserve_closed made room for every
	 * slot, and only connections holding one are on it. */
	cs.closed.v[cs.closed.n++] = c;
	worker_stat_sub(&worker.stats->connections, 1);
	worker_report_peer(MSG_SOCK_CLOSED, &c->ip);
	/* What the socket did not take yet (a peer that reads slowly) gets
	 * LINGER_S seconds; nothing is added to it any more. */
	if (!broken && !c->handshaking && buf_pending(&c->out) > 0 && push(&cs.linger, c) == XS_OK) {
		c->lingering = true;
		c->linger_until = worker_now_s() + LINGER_S;
		if (!c->want_out)
			set_events(c, true);
		return;
	}
	close_socket(c);
}

void conn_linger_event(struct conn *c, bool broken)
{
	if (broken || flush(c) != XS_OK || buf_pending(&c->out) == 0)
		close_socket(c);
}

void conn_linger_sweep(uint32_t now)
{
	for (size_t i = cs.linger.n; i-- > 0;) {
		struct conn *c = cs.linger.v[i];
		if ((int32_t)(now - c->linger_until) >= 0)
			close_socket(c);
	}
}

void conn_flush_dirty(void)
{
	for (size_t i = 0; i < cs.dirty.n; i++) {
		struct conn *c = cs.dirty.v[i];
		c->dirty = false;
		if (c->fd < 0)
			continue;
		if (c->lingering) {
			if (flush(c) != XS_OK || buf_pending(&c->out) == 0)
				close_socket(c);
		} else if (flush(c) != XS_OK) {
			conn_close(c);
		}
	}
	cs.dirty.n = 0;
}

struct conn **conn_take_closed(size_t *n)
{
	/* Two lists swap, so what was handed over stays valid while the
	 * caller works and the next closes go to the other. */
	struct ptr_list t = cs.closed_out;
	cs.closed_out = cs.closed;
	cs.closed = t;
	cs.closed.n = 0;
	*n = cs.closed_out.n;
	return (struct conn **)cs.closed_out.v;
}

void conn_free(struct conn *c)
{
	c->tp.ops->free(c->tp.state);
	buf_free(&c->out);
	free(c->jid);
	c->proto->free(c);
}

void conn_reap(void)
{
	for (size_t i = 0; i < cs.dead.n; i++)
		conn_free(cs.dead.v[i]);
	cs.dead.n = 0;
}

/* net.c — the generator's event loop: one epoll instance, non-blocking
 * sockets, an output queue per connection written once per round, and the
 * deadlines of logins and logouts in progress.
 *
 * Level-triggered epoll: a connection that has nothing to write is polled
 * for input only, so an idle session costs nothing per round. */
#include "bench/bench.h"
#include "bench/client.h"
#include "bench/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Deadlines are checked this often; they are seconds long, so coarse is fine. */
#define TIMEOUT_SCAN_NS (50 * NS_PER_MS)
#define MAX_EVENTS 512

static int ep = -1;
static struct sockaddr_in dst;
static struct client *dirty_head;
static struct client *pending_head;
static int64_t next_scan;
/* One read buffer for every connection: most reads hold whole elements and
 * need no per-connection copy at all. */
static char rbuf[64 * 1024];

int net_init(void)
{
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep == -1) {
		bench_say("epoll_create1: %s", strerror(errno));
		return -1;
	}
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons(opt.port);
	if (inet_pton(AF_INET, opt.addr, &dst.sin_addr) != 1) {
		bench_say("--addr %s: not an IPv4 address", opt.addr);
		return -1;
	}
	return 0;
}

static bool wants_out(const struct client *c)
{
	if (c->state == CL_CONNECTING)
		return true;
	if (c->state == CL_HANDSHAKE)
		return tls_wants_write(c);
	return buf_pending(&c->out) > 0;
}

static void update_events(struct client *c)
{
	bool want = wants_out(c);
	if (want == c->pollout || c->fd < 0)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
		client_eof(c, "epoll_ctl");
		return;
	}
	c->pollout = want;
}

int net_connect(struct client *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* Stanzas are small and we batch them ourselves: Nagle would only add
	 * latency to what we measure. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&dst, sizeof(dst)) == -1 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	c->fd = fd;
	c->gen++;
	c->pollout = true;
	c->state = CL_CONNECTING;
	return 0;
}

void net_close(struct client *c)
{
	net_pending_del(c);
	if (c->tls)
		tls_end(c);
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	c->pollout = false;
	c->state = CL_IDLE;
	buf_free(&c->out);
	buf_free(&c->in);
	/* A client on the flush list stays there; flushing skips fd -1. */
}

void net_mark_dirty(struct client *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dnext = dirty_head;
	dirty_head = c;
}

void net_pending_add(struct client *c, int64_t deadline)
{
	c->t_deadline = deadline;
	if (c->in_pending)
		return;
	c->in_pending = true;
	c->pprev = NULL;
	c->pnext = pending_head;
	if (pending_head)
		pending_head->pprev = c;
	pending_head = c;
}

void net_pending_del(struct client *c)
{
	if (!c->in_pending)
		return;
	if (c->pprev)
		c->pprev->pnext = c->pnext;
	else
		pending_head = c->pnext;
	if (c->pnext)
		c->pnext->pprev = c->pprev;
	c->pprev = c->pnext = NULL;
	c->in_pending = false;
}

/* Writes what is queued; stops at EAGAIN and asks for EPOLLOUT. */
static void flush(struct client *c)
{
	if (c->fd < 0 || c->state == CL_CONNECTING || c->state == CL_HANDSHAKE)
		return;
	while (buf_pending(&c->out) > 0) {
		const char *p = c->out.data + c->out.off;
		size_t n = buf_pending(&c->out);
		ssize_t w;
		if (c->tls) {
			w = tls_send(c, p, n);
			if (w == TLS_AGAIN)
				break;
			if (w < 0) {
				client_eof(c, "TLS send failed");
				return;
			}
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w == -1) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				char msg[96];
				snprintf(msg, sizeof(msg), "send: %s", strerror(errno));
				client_eof(c, msg);
				return;
			}
		}
		buf_consume(&c->out, (size_t)w);
	}
	update_events(c);
}

static void read_some(struct client *c)
{
	int fd = c->fd;
	uint32_t gen = c->gen;
	for (;;) {
		ssize_t n;
		if (c->tls) {
			n = tls_recv(c, rbuf, sizeof(rbuf));
			if (n == TLS_AGAIN)
				return;
			if (n < 0) {
				client_eof(c, "TLS receive failed");
				return;
			}
		} else {
			n = recv(fd, rbuf, sizeof(rbuf), 0);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				char msg[96];
				snprintf(msg, sizeof(msg), "recv: %s", strerror(errno));
				client_eof(c, msg);
				return;
			}
		}
		if (n == 0) {
			client_eof(c, "the server closed the connection");
			return;
		}
		client_input(c, rbuf, (size_t)n);
		if (c->fd != fd || c->gen != gen)
			return; /* closed by what it read */
		if (c->state == CL_HANDSHAKE)
			return; /* <proceed/>: the next bytes are the handshake's */
		/* A full buffer may mean more is waiting; TLS may hold decrypted
		 * bytes epoll cannot see. */
		if ((size_t)n < sizeof(rbuf) && !(c->tls && tls_pending(c)))
			return;
	}
}

static void connected(struct client *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "connect to %s:%u: %s", opt.addr, opt.port, strerror(err));
		client_eof(c, msg);
		return;
	}
	c->state = CL_FEATURES;
	client_connected(c);
}

static void handle(struct client *c, uint32_t events)
{
	if (c->fd < 0)
		return; /* closed earlier in this round */
	if (c->state == CL_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			connected(c);
		return;
	}
	if (c->state == CL_HANDSHAKE) {
		int rc = tls_handshake(c);
		if (rc == TLS_DONE)
			client_tls_ready(c);
		else if (rc != TLS_AGAIN)
			client_eof(c, "TLS handshake failed");
		if (c->fd >= 0)
			update_events(c);
		return;
	}
	if (events & EPOLLOUT)
		flush(c);
	if (c->fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_some(c);
	if (c->fd >= 0)
		update_events(c); /* e.g. a TLS handshake started by what was read */
}

static void expire(int64_t now)
{
	struct client *c = pending_head;
	while (c) {
		struct client *next = c->pnext;
		if (now >= c->t_deadline)
			client_timeout(c); /* takes it off the list */
		c = next;
	}
}

static void flush_dirty(void)
{
	struct client *c;
	while ((c = dirty_head) != NULL) {
		dirty_head = c->dnext;
		c->dirty = false;
		flush(c);
	}
}

void net_poll(int timeout_ms)
{
	/* What the scenario queued between rounds goes out before we sleep. */
	flush_dirty();
	struct epoll_event evs[MAX_EVENTS];
	int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
	if (n == -1 && errno != EINTR)
		bench_say("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		handle(evs[i].data.ptr, evs[i].events);
	flush_dirty();
	int64_t now = now_ns();
	if (now >= next_scan) {
		next_scan = now + TIMEOUT_SCAN_NS;
		expire(now);
		flush_dirty(); /* what the scenario queued when told of a timeout */
	}
}

bool net_run_until(bool (*done)(void *), void *arg, int64_t until)
{
	for (;;) {
		if (done != NULL && done(arg))
			return true;
		int64_t now = now_ns();
		if (now >= until || past_deadline())
			return false;
		int64_t left = (until - now) / NS_PER_MS;
		net_poll(left > 50 ? 50 : (int)left);
	}
}

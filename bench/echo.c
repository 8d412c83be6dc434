/* echo.c — the echo scenario and its trivial epoll echo server.
 *
 * The server sends every byte back on the connection it came from, with
 * one read() and one write() per readiness: about the least work a server
 * can do for the msg scenario's byte pattern, so msg over echo is the
 * ceiling of this machine (kernel, loopback, the generator itself).
 * A connection whose peer does not read keeps its unsent bytes and is not
 * read until they are gone, so memory stays bounded. */
#include "bench/bench.h"
#include "bench/client.h"
#include "lib/buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct echo_conn {
	int fd;
	struct buf out;
};

static int echo_listen(const char *addr, uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		bench_say("echo server: '%s' is not an IPv4 address", addr);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		bench_say("echo server: socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t len = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 || listen(fd, 4096) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		bench_say("echo server: %s:%u: %s", addr, port, strerror(errno));
		close(fd);
		return -1;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

static void echo_drop(struct echo_conn *e)
{
	close(e->fd);
	buf_free(&e->out);
	free(e);
}

/* Writes what is pending; -1 when the connection is dead. */
static int echo_flush(int ep, struct echo_conn *e)
{
	while (buf_pending(&e->out) > 0) {
		ssize_t w = send(e->fd, e->out.data + e->out.off, buf_pending(&e->out), MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EAGAIN)
				break;
			return -1;
		}
		buf_consume(&e->out, (size_t)w);
	}
	/* Read again only once everything went out. */
	struct epoll_event ev = {
		.events = buf_pending(&e->out) ? EPOLLOUT : EPOLLIN,
		.data.ptr = e,
	};
	return epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &ev);
}

static int echo_read(int ep, struct echo_conn *e)
{
	static char b[64 * 1024];
	ssize_t n = recv(e->fd, b, sizeof(b), 0);
	if (n == 0 || (n == -1 && errno != EAGAIN))
		return -1;
	if (n < 0)
		return 0;
	ssize_t w = send(e->fd, b, (size_t)n, MSG_NOSIGNAL);
	if (w == -1 && errno != EAGAIN)
		return -1;
	if (w < 0)
		w = 0;
	if (w < n) {
		if (buf_append(&e->out, b + w, (size_t)(n - w)) != 0)
			return -1;
		return echo_flush(ep, e);
	}
	return 0;
}

/* Serves until SIGTERM or SIGINT. */
static int echo_serve(int lfd)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd == -1 || ep == -1) {
		bench_say("echo server: %s", strerror(errno));
		return EXIT_FAILED;
	}
	/* The listener and the signal fd are told apart by their data.ptr. */
	static int lmark, smark;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lmark };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &smark;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1);
		if (n == -1 && errno != EINTR) {
			bench_say("echo server: epoll_wait: %s", strerror(errno));
			return EXIT_FAILED;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &smark)
				return EXIT_OK;
			if (evs[i].data.ptr == &lmark) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
					struct echo_conn *e = calloc(1, sizeof(*e));
					int one = 1;
					(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct epoll_event cev = { .events = EPOLLIN, .data.ptr = e };
					if (e == NULL || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) == -1) {
						close(fd);
						free(e);
						continue;
					}
					e->fd = fd;
				}
				continue;
			}
			struct echo_conn *e = evs[i].data.ptr;
			int rc = 0;
			if (evs[i].events & EPOLLOUT)
				rc = echo_flush(ep, e);
			else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				rc = echo_read(ep, e);
			if (rc != 0)
				echo_drop(e);
		}
	}
}

int echo_server_main(const char *addr, uint16_t port)
{
	uint16_t bound;
	int lfd = echo_listen(addr, port, &bound);
	if (lfd == -1)
		return EXIT_FAILED;
	bench_say("echo server on %s:%u, pid %d", addr, bound, (int)getpid());
	return echo_serve(lfd);
}

int sc_echo(struct result *r)
{
	pid_t child = -1;
	if (opt.server_pid <= 0) {
		uint16_t port;
		int lfd = echo_listen("127.0.0.1", 0, &port);
		if (lfd == -1)
			return EXIT_FAILED;
		child = fork();
		if (child == -1) {
			bench_say("fork: %s", strerror(errno));
			close(lfd);
			return EXIT_FAILED;
		}
		if (child == 0) {
			/* A generator that dies must not leave its server behind. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(EXIT_FAILED);
			_exit(echo_serve(lfd));
		}
		close(lfd);
		opt.addr = "127.0.0.1";
		opt.port = port;
		opt.server_pid = child;
	}
	int rc = EXIT_FAILED;
	if (net_init() == 0)
		rc = msg_run(r, true);
	if (child > 0) {
		kill(child, SIGTERM);
		int st;
		while (waitpid(child, &st, 0) == -1 && errno == EINTR)
			;
	}
	return rc;
}

/* tcp.c — the plain TCP transport: the socket as it is. */
#include "workers/transport.h"

#include <stdio.h>
#include <unistd.h>

static ssize_t tcp_read(void *state, int fd, void *buf, size_t len)
{
	(void)state;
	return read(fd, buf, len);
}

static ssize_t tcp_write(void *state, int fd, const void *buf, size_t len)
{
	(void)state;
	return write(fd, buf, len);
}

/* The kernel holds everything unread, and epoll sees it. */
static size_t tcp_pending(void *state)
{
	(void)state;
	return 0;
}

static void tcp_shutdown(void *state, int fd)
{
	(void)state;
	(void)fd; /* closing the socket is the end of the stream */
}

static void tcp_free(void *state)
{
	(void)state;
}

static const char *tcp_describe(void *state, char *buf, size_t cap)
{
	(void)state;
	snprintf(buf, cap, "plain TCP");
	return buf;
}

const struct transport_ops transport_tcp = {
	.name = "tcp",
	.read = tcp_read,
	.write = tcp_write,
	.pending = tcp_pending,
	.shutdown = tcp_shutdown,
	.free = tcp_free,
	.describe = tcp_describe,
};

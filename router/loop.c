/* loop.c — the router's epoll set (router/loop.h). */
#include "router/loop.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_EVENTS 64

static int epfd = -1;

int loop_open(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1) {
		log_error("epoll_create1: %s", strerror(errno));
		return XS_ERROR;
	}
	return XS_OK;
}

void loop_close(void)
{
	if (epfd != -1)
		close(epfd);
	epfd = -1;
}

int loop_watch(int fd, struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("epoll_ctl add: %s", strerror(errno));
		return XS_ERROR;
	}
	return XS_OK;
}

int loop_rewatch(int fd, struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1) {
		log_error("epoll_ctl mod: %s", strerror(errno));
		return XS_ERROR;
	}
	return XS_OK;
}

void loop_unwatch(int fd)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
}

int loop_wait(int timeout_ms)
{
	struct epoll_event evs[LOOP_EVENTS];
	int n = epoll_wait(epfd, evs, LOOP_EVENTS, timeout_ms);
	if (n == -1) {
		if (errno == EINTR)
			return 0;
		log_error("epoll_wait: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct loop_watch *w = evs[i].data.ptr;
		w->fn(w, evs[i].events);
	}
	return n;
}

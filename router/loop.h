/* loop.h — the router's epoll set (router/loop.c).
 *
 * Whoever watches a file descriptor hands a struct loop_watch (usually the
 * first member of its own state) whose fn is called with the ready events:
 * the loop calls back into its users through that pointer, never by name, so
 * no file depends on the ones that watch.  A leaf. */
#ifndef XMPPD_ROUTER_LOOP_H
#define XMPPD_ROUTER_LOOP_H

#include <stdint.h>

struct loop_watch {
	void (*fn)(struct loop_watch *w, uint32_t events);
};

int loop_open(void);
void loop_close(void);
/* Adds, changes, removes an fd.  XS_OK or XS_ERROR (logged). */
int loop_watch(int fd, struct loop_watch *w, uint32_t events);
int loop_rewatch(int fd, struct loop_watch *w, uint32_t events);
void loop_unwatch(int fd);
/* Waits up to timeout_ms (-1: no limit), then calls every ready watch.
 * Returns how many were ready, or -1 on a failure other than EINTR (logged). */
int loop_wait(int timeout_ms);

#endif

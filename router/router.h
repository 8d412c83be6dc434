/* router.h — the router process (router/router.c): drains every worker's up
 * ring in batches, keeps the session and domain tables (LMDB sessions env)
 * as their single writer, runs the hook chains, IQ handlers and timers of
 * the loaded modules, and writes deliveries to the down rings.
 *
 * The files of router/, each with its header, none calling back into one
 * that calls it (test/layering-router.sh checks):
 *   router.c    the process: setup, the main loop, the master's messages
 *   up.c        up-ring records            ctl.c      xmppctl requests
 *   plugins.c   loading modules            api.c      the module API
 *   route.c     the routing core           registry.c hooks, IQ table, features
 *   down.c      the down-ring writer       routes.c   the domain table
 *   trace.c     the tracing context        loop.c     the epoll set
 *   sessions.c  the session table          data.c     the data env
 *   timer.c     the timer queue            state.c    what the process shares */
#ifndef XMPPD_ROUTER_ROUTER_H
#define XMPPD_ROUTER_ROUTER_H

#include "lib/cfg.h"
#include "router/plugins.h"
#include "shm/shm.h"

struct router_args {
	const struct cfg *cfg;
	struct shm_segment *seg;
	int sock;                /* SOCK_SEQPACKET to the master */
	const int *up_efd;       /* [nworkers]: the router sleeps on these */
	const int *down_efd;     /* [nworkers]: wakes each worker */
};

/* Runs the router until SIGTERM or the master goes; its exit status. */
int router_main(const struct router_args *a);

#endif

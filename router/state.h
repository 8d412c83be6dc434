/* state.h — what the whole router process shares: the configuration in
 * force, the shared-memory segment, the socket to the master, the module
 * timer queue, when the router started and its counters.
 *
 * router.c sets it at start (and the configuration at a reload); every other
 * file of router/ reads it.  A leaf: it calls nothing else of router/. */
#ifndef XMPPD_ROUTER_STATE_H
#define XMPPD_ROUTER_STATE_H

#include "lib/cfg.h"
#include "shm/shm.h"

#include <stdint.h>

struct timerq;

void state_init(const struct cfg *cfg, struct shm_segment *seg, int master_sock,
                struct timerq *timers);
/* The configuration in force: the router's, or the one plugins_check is
 * checking outside a router (NULL otherwise). */
const struct cfg *router_cfg(void);
void router_cfg_set(const struct cfg *cfg);
struct shm_segment *router_segment(void);
/* The queue of module timers (router/timer.h). */
struct timerq *router_timers(void);
/* Unix time the router started (mod_uptime). */
int64_t router_started(void);
/* Sends a struct msg_ctl to the master.  XS_OK or XS_ERROR (logged). */
int router_tell_master(uint32_t type, int32_t status);

/* Counters of the router's work since it started (xmppctl stats), each
 * written by the file that does that work. */
struct router_stats {
	uint64_t stanzas;        /* routed from the up rings (up.c) */
	uint64_t deliveries;     /* records written to down rings (down.c) */
	uint64_t batches;        /* drain rounds that did work (router.c) */
};
struct router_stats *router_stats(void);

#endif

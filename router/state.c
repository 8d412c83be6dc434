/* state.c — the router process's shared state (router/state.h). */
#include "router/state.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static struct {
	const struct cfg *cfg;
	struct shm_segment *seg;
	int master_sock;
	struct timerq *timers;
	int64_t started;
	struct router_stats stats;
} router_state = { .master_sock = -1 };

void state_init(const struct cfg *cfg, struct shm_segment *seg, int master_sock,
                struct timerq *timers)
{
	router_state.cfg = cfg;
	router_state.seg = seg;
	router_state.master_sock = master_sock;
	router_state.timers = timers;
	router_state.started = (int64_t)time(NULL);
	memset(&router_state.stats, 0, sizeof(router_state.stats));
}

const struct cfg *router_cfg(void)
{
	return router_state.cfg;
}

void router_cfg_set(const struct cfg *cfg)
{
	router_state.cfg = cfg;
}

struct shm_segment *router_segment(void)
{
	return router_state.seg;
}

struct timerq *router_timers(void)
{
	return router_state.timers;
}

int64_t router_started(void)
{
	return router_state.started;
}

struct router_stats *router_stats(void)
{
	return &router_state.stats;
}

int router_tell_master(uint32_t type, int32_t status)
{
	struct msg_ctl m = { .type = type, .status = status };
	if (send(router_state.master_sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) == -1) {
		log_error("telling the master: %s", strerror(errno));
		return XS_ERROR;
	}
	return XS_OK;
}

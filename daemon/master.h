/* master.h — the master process: listeners, shared memory, children,
 * accept and hand-off, supervision, the control socket. */
#ifndef XMPPD_DAEMON_MASTER_H
#define XMPPD_DAEMON_MASTER_H

#include "lib/cfg.h"

/* Runs the server until SIGTERM/SIGINT; returns the exit status (0 after a
 * clean stop).  ready_fd (-1: none) gets one byte once the server serves
 * ('1') or failed to start ('0'), then is closed: `xmppd -d` waits on it. */
int master_run(struct cfg *cfg, int ready_fd);

#endif

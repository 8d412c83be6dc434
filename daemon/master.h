/* master.h — the master process: listeners, shared memory, children,
 * accept and hand-off, supervision, the control socket. */
#ifndef XMPPD_DAEMON_MASTER_H
#define XMPPD_DAEMON_MASTER_H

#include "lib/cfg.h"

/* Runs the server in the foreground until SIGTERM/SIGINT; returns the exit
 * status (0 after a clean stop). */
int master_run(struct cfg *cfg);

#endif

/* iplimit.h — per-address limits the master applies before handing a
 * connection over: concurrent connections, new connections a minute, and a
 * temporary block after too many failed authentications.
 *
 * Workers report each connection's end (and authentication abuse) back over
 * their socket pair, so the concurrent count follows reality; when a worker
 * dies its share of every count is dropped at once. */
#ifndef XMPPD_DAEMON_IPLIMIT_H
#define XMPPD_DAEMON_IPLIMIT_H

#include "lib/cfg.h"
#include "lib/msg.h"

#include <stdbool.h>
#include <stdint.h>

int iplimit_init(unsigned nworkers);
void iplimit_free(void);
/* Whether a new connection from ip may be accepted now (counts it against
 * the rate when it may).  *why names the limit otherwise. */
bool iplimit_admit(const struct cfg_limits *l, const struct msg_ip *ip, const char **why);
/* The connection went to worker w / ended there. */
void iplimit_opened(const struct msg_ip *ip, unsigned w);
void iplimit_closed(const struct msg_ip *ip, unsigned w);
/* Refuses new connections from ip for `seconds`. */
void iplimit_block(const struct msg_ip *ip, unsigned seconds);
/* Worker w is gone: its connections are. */
void iplimit_worker_gone(unsigned w);
/* Forgets idle entries (call now and then). */
void iplimit_sweep(const struct cfg_limits *l);
const char *iplimit_str(const struct msg_ip *ip, char *buf, size_t cap);

#endif

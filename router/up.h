/* up.h — what the workers tell the router (router/up.c): each up-ring record
 * (a stanza, a bind, a closed connection, a pre-authentication request, a
 * route added or removed), checked for size and origin, then handled; and
 * what goes when a worker dies. */
#ifndef XMPPD_ROUTER_UP_H
#define XMPPD_ROUTER_UP_H

#include "shm/ring.h"
#include "shm/shm.h"

/* A record from worker w's up ring (copied off the ring). */
void up_record(unsigned w, const struct ring_rec *rec);
/* Worker w of generation gen died (what it published is handled already):
 * its sessions end and its connections' routes go. */
void up_worker_died(unsigned w, unsigned gen);
/* At the router's start, modules loaded: the sessions of connections whose
 * worker no longer runs their generation end (a worker that died while no
 * router ran was reported to none).  Returns how many. */
size_t up_sessions_stale(struct shm_segment *seg);

#endif

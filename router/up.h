/* up.h — what the workers tell the router (router/up.c): each up-ring record
 * (a stanza, a bind, a closed connection, a pre-authentication request, a
 * route added or removed), checked for size and origin, then handled; and
 * what goes when a worker dies. */
#ifndef XMPPD_ROUTER_UP_H
#define XMPPD_ROUTER_UP_H

#include "shm/ring.h"

/* A record from worker w's up ring (copied off the ring). */
void up_record(unsigned w, const struct ring_rec *rec);
/* Worker w of generation gen died (what it published is handled already):
 * its sessions end and its connections' routes go. */
void up_worker_died(unsigned w, unsigned gen);

#endif

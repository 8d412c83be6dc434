/* up.h — the worker's up ring (worker -> router), with an in-order queue
 * for the records a full ring does not take.  While that queue holds
 * anything the loop stops reading from clients (TCP pushes back), and
 * records keep their order: a connection's close never overtakes its
 * stanzas.  Calls nothing else of workers/. */
#ifndef XMPPD_WORKERS_UP_H
#define XMPPD_WORKERS_UP_H

#include "shm/ring.h"

#include <stdbool.h>
#include <stdint.h>

void up_init(struct ring *up);
/* Sends a record (type: lib/msg.h); queued behind earlier ones when the
 * ring is full.  XS_OK, or XS_ERROR for a record over the ring's limit or
 * no memory (logged). */
int up_send(uint16_t type, const void *data, uint32_t len);
/* Moves queued records into the ring as far as it takes them. */
void up_flush(void);
/* Records wait in the queue: reading from clients pauses. */
bool up_blocked(void);
/* Whether records went into the ring since the last call (the router is
 * then woken once for all of them). */
bool up_take_written(void);

#endif

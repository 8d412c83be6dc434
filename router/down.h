/* down.h — the down-ring writer (router/down.c).
 *
 * Records for a worker go straight into its down ring when nothing waits
 * ahead of them; otherwise (the ring is full, or the batch wrote to the data
 * env and is not on disk yet) they wait in a queue for that worker alone,
 * bounded, so one slow worker never stalls the others.  Workers are woken
 * once per round, only those that were written to. */
#ifndef XMPPD_ROUTER_DOWN_H
#define XMPPD_ROUTER_DOWN_H

#include "shm/shm.h"

#include <stdbool.h>
#include <stdint.h>

/* n workers' down rings in seg, woken through down_efd[n].  XS_OK/XS_ERROR. */
int down_open(struct shm_segment *seg, unsigned n, const int *down_efd);
void down_close(void);
/* Writes a record (head then body) to a worker's down ring, or queues it
 * behind earlier ones.  XS_OK, XS_ERROR (no such worker, over the record
 * limit, the queue is full: logged, dropped). */
int down_send(unsigned worker, uint16_t type, const void *head, uint32_t hlen,
              const void *body, uint32_t blen);
/* Moves what is queued into the rings; true when something is left. */
bool down_flush(void);
/* Wakes the workers whose rings were written to since the last call. */
void down_wake(void);
/* Forgets what is queued for a worker (it died). */
void down_drop(unsigned worker);
/* Ends a batch: commits the session table and the data env; when the data
 * commit fails, drops the deliveries that waited for it (they would tell of
 * writes that are not on disk). */
void down_end_batch(void);

#endif

/* down.c — the down-ring writer (router/down.h). */
#include "router/down.h"
#include "router/data.h"
#include "router/routes.h"
#include "router/state.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define PEND_MAX (64u << 20) /* bytes queued for one stalled worker */

struct pend {
	struct pend *next;
	uint16_t type;
	bool held;               /* waits for the data commit (not only for room) */
	uint32_t len;
	alignas(8) char data[];
};

static struct {
	unsigned n;
	const int *efd;
	struct ring **ring;
	bool *written;
	struct pend **head, **tail;
	size_t *bytes;
	size_t *dropped;
} down;

int down_open(struct shm_segment *seg, unsigned n, const int *down_efd)
{
	down.n = n;
	down.efd = down_efd;
	down.ring = calloc(n, sizeof(*down.ring));
	down.written = calloc(n, sizeof(*down.written));
	down.head = calloc(n, sizeof(*down.head));
	down.tail = calloc(n, sizeof(*down.tail));
	down.bytes = calloc(n, sizeof(*down.bytes));
	down.dropped = calloc(n, sizeof(*down.dropped));
	if (!down.ring || !down.written || !down.head || !down.tail || !down.bytes ||
	    !down.dropped)
		return XS_ERROR;
	for (unsigned w = 0; w < n; w++) {
		down.ring[w] = shm_down_ring(seg, w);
		ring_producer_attach(down.ring[w]);
	}
	return XS_OK;
}

void down_close(void)
{
	for (unsigned w = 0; w < down.n && down.head; w++)
		down_drop(w);
	free(down.ring);
	free(down.written);
	free(down.head);
	free(down.tail);
	free(down.bytes);
	free(down.dropped);
	memset(&down, 0, sizeof(down));
}

static int ring_write(unsigned w, uint16_t type, const void *head, uint32_t hlen,
                      const void *body, uint32_t blen)
{
	char *p = ring_reserve(down.ring[w], hlen + blen);
	if (p == NULL)
		return XS_AGAIN;
	router_stats()->deliveries++;
	memcpy(p, head, hlen);
	if (blen)
		memcpy(p + hlen, body, blen);
	ring_commit(down.ring[w], type, hlen + blen);
	down.written[w] = true;
	return XS_OK;
}

int down_send(unsigned w, uint16_t type, const void *head, uint32_t hlen, const void *body,
              uint32_t blen)
{
	if (w >= down.n)
		return XS_ERROR;
	if ((uint64_t)hlen + blen > down.ring[w]->max_record) {
		log_warn("record of %u bytes for worker %u is over the ring limit; dropped",
		         hlen + blen, w);
		return XS_ERROR;
	}
	/* After a write to the data env, everything waits for its commit: what
	 * a client is told has happened is on disk first. */
	if (down.head[w] == NULL && !data_dirty() &&
	    ring_write(w, type, head, hlen, body, blen) == XS_OK)
		return XS_OK;
	/* That worker is behind (or the batch is not on disk yet): queue for it
	 * alone, bounded, so the others keep flowing. */
	if (down.bytes[w] + hlen + blen > PEND_MAX) {
		if (down.dropped[w]++ % 1000 == 0)
			log_warn("worker %u is not draining its ring; %zu record(s) dropped", w,
			         down.dropped[w]);
		return XS_ERROR;
	}
	struct pend *q = malloc(sizeof(*q) + hlen + blen);
	if (q == NULL)
		return XS_ERROR;
	q->next = NULL;
	q->type = type;
	q->held = data_dirty();
	q->len = hlen + blen;
	memcpy(q->data, head, hlen);
	if (blen)
		memcpy(q->data + hlen, body, blen);
	if (down.tail[w])
		down.tail[w]->next = q;
	else
		down.head[w] = q;
	down.tail[w] = q;
	down.bytes[w] += q->len;
	return XS_OK;
}

bool down_flush(void)
{
	bool left = false;
	for (unsigned w = 0; w < down.n; w++) {
		while (down.head[w]) {
			struct pend *q = down.head[w];
			if (ring_write(w, q->type, q->data, q->len, NULL, 0) != XS_OK) {
				left = true;
				break;
			}
			down.head[w] = q->next;
			if (down.head[w] == NULL)
				down.tail[w] = NULL;
			down.bytes[w] -= q->len;
			free(q);
		}
	}
	return left;
}

void down_drop(unsigned w)
{
	if (w >= down.n)
		return;
	while (down.head[w]) {
		struct pend *q = down.head[w];
		down.head[w] = q->next;
		free(q);
	}
	down.tail[w] = NULL;
	down.bytes[w] = 0;
}

void down_wake(void)
{
	for (unsigned w = 0; w < down.n; w++) {
		if (!down.written[w])
			continue;
		down.written[w] = false;
		if (ring_wake(down.ring[w], down.efd[w]) != XS_OK)
			log_error("waking worker %u: %s", w, strerror(errno));
	}
}

/* The data commit failed: what waited for it told of writes that are not
 * on disk, so it does not go out. */
static void drop_held(void)
{
	size_t n = 0;
	for (unsigned w = 0; w < down.n; w++) {
		struct pend **pp = &down.head[w], *last = NULL;
		while (*pp) {
			struct pend *q = *pp;
			if (!q->held) {
				last = q;
				pp = &q->next;
				continue;
			}
			*pp = q->next;
			down.bytes[w] -= q->len;
			free(q);
			n++;
		}
		down.tail[w] = last;
	}
	if (n)
		log_error("%zu delivery record(s) dropped: they acknowledged writes that did not "
		          "reach the disk", n);
}

void down_end_batch(void)
{
	routes_commit();
	if (data_commit() != XS_OK)
		drop_held();
}

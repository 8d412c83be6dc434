/* timer.c — the timer queue (router/timer.h).
 *
 * Slots live in one array and are reused through a free list; the heap holds
 * slot numbers and each pending slot knows its heap position, so a cancel
 * finds its timer without a search.  An id is (reuse count << 32 | slot + 1). */
#include "router/timer.h"
#include "lib/xs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define NO_POS UINT32_MAX

struct slot {
	uint64_t due;
	uint64_t period;
	const void *owner;
	timer_fn *fn;
	void *arg;
	uint64_t seq;            /* order of adding: timerq_mark */
	uint32_t reuse;
	uint32_t pos;            /* in the heap; NO_POS: free */
	uint32_t next_free;
};

struct timerq {
	struct slot *slots;
	uint32_t nslots, cap;
	uint32_t free_head;      /* NO_POS: none */
	uint32_t *heap;          /* slot numbers; heap[0] is due first */
	uint32_t n;
	uint64_t seq;            /* the next timer's seq */
};

struct timerq *timerq_new(void)
{
	struct timerq *q = calloc(1, sizeof(*q));
	if (q)
		q->free_head = NO_POS;
	return q;
}

void timerq_free(struct timerq *q)
{
	if (q == NULL)
		return;
	free(q->slots);
	free(q->heap);
	free(q);
}

static bool before(const struct timerq *q, uint32_t a, uint32_t b)
{
	return q->slots[a].due < q->slots[b].due;
}

static void place(struct timerq *q, uint32_t i, uint32_t s)
{
	q->heap[i] = s;
	q->slots[s].pos = i;
}

static void sift_up(struct timerq *q, uint32_t i)
{
	uint32_t s = q->heap[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!before(q, s, q->heap[parent]))
			break;
		place(q, i, q->heap[parent]);
		i = parent;
	}
	place(q, i, s);
}

static void sift_down(struct timerq *q, uint32_t i)
{
	uint32_t s = q->heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= q->n)
			break;
		if (c + 1 < q->n && before(q, q->heap[c + 1], q->heap[c]))
			c++;
		if (!before(q, q->heap[c], s))
			break;
		place(q, i, q->heap[c]);
		i = c;
	}
	place(q, i, s);
}

/* Takes heap entry i out, keeping the heap ordered. */
static void heap_remove(struct timerq *q, uint32_t i)
{
	uint32_t last = q->heap[--q->n];
	if (i == q->n)
		return;
	place(q, i, last);
	if (i > 0 && before(q, last, q->heap[(i - 1) / 2]))
		sift_up(q, i);
	else
		sift_down(q, i);
}

static void slot_release(struct timerq *q, uint32_t s)
{
	q->slots[s].pos = NO_POS;
	q->slots[s].fn = NULL;
	q->slots[s].reuse++;
	q->slots[s].next_free = q->free_head;
	q->free_head = s;
}

static uint64_t id_of(const struct timerq *q, uint32_t s)
{
	return ((uint64_t)q->slots[s].reuse << 32) | (uint64_t)(s + 1);
}

static int grow(struct timerq *q)
{
	uint32_t cap = q->cap ? q->cap * 2 : 64;
	if (cap <= q->cap)
		return XS_ERROR;
	struct slot *ns = realloc(q->slots, (size_t)cap * sizeof(*ns));
	if (ns == NULL)
		return XS_ERROR;
	q->slots = ns;
	uint32_t *nh = realloc(q->heap, (size_t)cap * sizeof(*nh));
	if (nh == NULL)
		return XS_ERROR;
	q->heap = nh;
	q->cap = cap;
	return XS_OK;
}

uint64_t timerq_add(struct timerq *q, uint64_t due, uint64_t period, const void *owner,
                    timer_fn *fn, void *arg)
{
	if (fn == NULL)
		return 0;
	uint32_t s;
	if (q->free_head != NO_POS) {
		s = q->free_head;
		q->free_head = q->slots[s].next_free;
	} else {
		if (q->nslots == q->cap && grow(q) != XS_OK)
			return 0;
		s = q->nslots++;
		q->slots[s].reuse = 0;
	}
	struct slot *t = &q->slots[s];
	t->due = due;
	t->period = period;
	t->owner = owner;
	t->fn = fn;
	t->arg = arg;
	t->seq = q->seq++;
	q->heap[q->n++] = s;
	sift_up(q, q->n - 1);
	return id_of(q, s);
}

/* The pending slot an id names, or NO_POS. */
static uint32_t slot_of(const struct timerq *q, uint64_t id)
{
	uint64_t s = (id & 0xffffffffu) - 1;
	if ((id & 0xffffffffu) == 0 || s >= q->nslots)
		return NO_POS;
	const struct slot *t = &q->slots[s];
	if (t->pos == NO_POS || t->reuse != (uint32_t)(id >> 32))
		return NO_POS;
	return (uint32_t)s;
}

int timerq_cancel(struct timerq *q, uint64_t id, const void *owner)
{
	uint32_t s = slot_of(q, id);
	if (s == NO_POS || q->slots[s].owner != owner)
		return XS_PASS;
	heap_remove(q, q->slots[s].pos);
	slot_release(q, s);
	return XS_OK;
}

uint64_t timerq_mark(const struct timerq *q)
{
	return q->seq;
}

size_t timerq_cancel_owner(struct timerq *q, const void *owner)
{
	return timerq_cancel_owner_before(q, owner, UINT64_MAX);
}

size_t timerq_cancel_owner_before(struct timerq *q, const void *owner, uint64_t mark)
{
	size_t n = 0;
	for (uint32_t s = 0; s < q->nslots; s++) {
		if (q->slots[s].pos == NO_POS || q->slots[s].owner != owner || q->slots[s].seq >= mark)
			continue;
		heap_remove(q, q->slots[s].pos);
		slot_release(q, s);
		n++;
	}
	return n;
}

uint64_t timerq_next(const struct timerq *q)
{
	return q->n ? q->slots[q->heap[0]].due : UINT64_MAX;
}

size_t timerq_run(struct timerq *q, uint64_t now, size_t max)
{
	size_t fired = 0;
	while (fired < max && q->n > 0 && q->slots[q->heap[0]].due <= now) {
		uint32_t s = q->heap[0];
		struct slot *t = &q->slots[s];
		uint64_t id = id_of(q, s);
		timer_fn *fn = t->fn;
		void *arg = t->arg;
		if (t->period) {
			uint64_t next = t->due + t->period;
			t->due = next > now ? next : now + t->period;
			sift_down(q, 0);
		} else {
			heap_remove(q, 0);
			slot_release(q, s);
		}
		fired++;
		fn(id, arg); /* t may move: the callback may add timers */
	}
	return fired;
}

size_t timerq_count(const struct timerq *q)
{
	return q->n;
}

uint64_t timer_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

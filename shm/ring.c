/* ring.c — SPSC byte ring of variable-length records in shared memory.
 *
 * The other side of a ring is another process that may be buggy, dying or
 * restarted, so the consumer treats every header it reads as input: it copies
 * the header out once, then checks it before trusting a single field. */
#include "shm/ring.h"

#include "lib/log.h"
#include "lib/xs.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* A lock-based atomic would put a lock in process-local memory, which another
 * process cannot see: ring atomics must be lock-free to work across processes. */
static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
static_assert(ATOMIC_LONG_LOCK_FREE == 2, "long atomics must be lock-free");
static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
static_assert(sizeof(_Atomic uint64_t) == sizeof(uint64_t), "no hidden lock word");
static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t), "no hidden lock word");

/* Head and tail on separate lines, or every publish would invalidate the
 * consumer's line and the ring would ping-pong one cache line per record. */
static_assert(offsetof(struct ring, head) % RING_CACHELINE == 0, "head line");
static_assert(offsetof(struct ring, tail) % RING_CACHELINE == 0, "tail line");
static_assert(offsetof(struct ring, size) % RING_CACHELINE == 0, "ro line");
static_assert(offsetof(struct ring, tail) - offsetof(struct ring, head) >= RING_CACHELINE,
              "head and tail share a line");
static_assert(sizeof(struct ring) % RING_CACHELINE == 0, "data area starts on a line");
static_assert(sizeof(struct ring_rec_hdr) == 16, "record header is part of the shm ABI");

#define REC_ALIGN   8u
#define HDR_BYTES   ((uint64_t)sizeof(struct ring_rec_hdr))
#define MIN_SIZE    4096u
/* Keeps max_record (size / 4) and one record's bytes within uint32_t. */
#define MAX_SIZE    ((uint64_t)1 << 32)

static unsigned char *ring_data(struct ring *r)
{
	return (unsigned char *)(r + 1);
}

static uint64_t rec_bytes(uint64_t len)
{
	return HDR_BYTES + ((len + REC_ALIGN - 1) & ~(uint64_t)(REC_ALIGN - 1));
}

static uint32_t rec_check(uint32_t len, uint32_t seq)
{
	return len ^ seq ^ RING_REC_MAGIC;
}

/* Records are 8-aligned but a header is 16 bytes, so the data area can end
 * with an 8-byte gap too small for a padding record.  Both sides skip such a
 * gap implicitly; this is the one place where that rule is written. */
static uint64_t gap_at(const struct ring *r, uint64_t pos)
{
	uint64_t to_end = r->size - (pos & (r->size - 1));
	return to_end < HDR_BYTES ? to_end : 0;
}

size_t ring_footprint(uint64_t size)
{
	return sizeof(struct ring) + (size_t)size;
}

int ring_init(struct ring *r, uint64_t size)
{
	if (size < MIN_SIZE || size > MAX_SIZE || (size & (size - 1)) != 0) {
		log_error("ring_init: size %llu is not a power of two in [%u, 2^32]",
		          (unsigned long long)size, MIN_SIZE);
		return XS_ERROR;
	}
	memset(r, 0, sizeof(*r));
	atomic_init(&r->head, 0);
	atomic_init(&r->sleeping, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->high_water, 0);
	atomic_init(&r->records, 0);
	r->size = size;
	r->max_record = size / 4;
	return XS_OK;
}

void ring_producer_attach(struct ring *r)
{
	/* A reservation belonged to the dead producer; nothing of it was published. */
	r->prod_resv = 0;
	r->prod_resync = 1;
}

void ring_consumer_attach(struct ring *r)
{
	r->cons_pending = 0;
	r->cons_resync = 1;
	atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
}

/* Where a record of `len` payload bytes starting at or after `tail` goes:
 * sets *start to its position and returns the bytes it uses from `tail`
 * (the skipped end of the data area included). */
static uint64_t place(const struct ring *r, uint64_t tail, uint64_t len, uint64_t *start)
{
	uint64_t need = rec_bytes(len);
	uint64_t to_end = r->size - (tail & (r->size - 1));
	if (need <= to_end) {
		*start = tail;
		return need;
	}
	*start = tail + to_end;
	return to_end + need;
}

void *ring_reserve(struct ring *r, uint32_t len)
{
	if (len > r->max_record)
		return NULL;
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* Acquire pairs with the consumer's release of head: bytes it freed are
	 * no longer being read when we overwrite them. */
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t start;
	uint64_t used = place(r, tail, len, &start);
	if (tail - head + used > r->size)
		return NULL;
	r->prod_resv = len + 1;
	return ring_data(r) + (start & (r->size - 1)) + HDR_BYTES;
}

static void write_hdr(struct ring *r, uint64_t pos, uint16_t type, uint32_t len)
{
	struct ring_rec_hdr h = {
		.len = len,
		.type = type,
		.flags = r->prod_resync ? RING_F_RESYNC : 0,
		.seq = r->prod_seq,
		.check = rec_check(len, r->prod_seq),
	};
	memcpy(ring_data(r) + (pos & (r->size - 1)), &h, sizeof(h));
	r->prod_resync = 0;
	r->prod_seq++;
}

void ring_commit(struct ring *r, uint16_t type, uint32_t len)
{
	/* Misuse is a bug in the caller; publishing anyway would hand the
	 * consumer a record that fails its checks and stops the whole ring. */
	if (r->prod_resv == 0) {
		log_error("ring_commit: type %u len %u without a reservation", type, len);
		return;
	}
	if (len > r->prod_resv - 1 || type == RING_PAD) {
		log_error("ring_commit: type %u len %u refused (reserved %u, type 0 is padding)",
		          type, len, r->prod_resv - 1);
		r->prod_resv = 0;
		return;
	}
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t start;
	/* Placement follows the reserved length: the payload is already there. */
	place(r, tail, r->prod_resv - 1, &start);
	r->prod_resv = 0;
	if (start != tail && gap_at(r, tail) == 0)
		write_hdr(r, tail, RING_PAD, (uint32_t)(start - tail - HDR_BYTES));
	write_hdr(r, start, type, len);
	uint64_t new_tail = start + rec_bytes(len);
	/* Release: header and payload are visible before the tail that covers them. */
	atomic_store_explicit(&r->tail, new_tail, memory_order_release);
	atomic_store_explicit(&r->records,
	                      atomic_load_explicit(&r->records, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	uint64_t fill = new_tail - atomic_load_explicit(&r->head, memory_order_relaxed);
	if (fill > atomic_load_explicit(&r->high_water, memory_order_relaxed))
		atomic_store_explicit(&r->high_water, fill, memory_order_relaxed);
}

int ring_push(struct ring *r, uint16_t type, const void *data, uint32_t len)
{
	if (len > r->max_record || type == RING_PAD) {
		log_error("ring_push: type %u len %u refused (max record %llu)", type, len,
		          (unsigned long long)r->max_record);
		return XS_ERROR;
	}
	void *p = ring_reserve(r, len);
	if (p == NULL)
		return XS_AGAIN;
	if (len > 0)
		memcpy(p, data, len);
	ring_commit(r, type, len);
	return XS_OK;
}

int ring_wake(struct ring *r, int efd)
{
	/* The producer stored tail, the consumer stored sleeping; each then loads
	 * the other's word.  Without a full fence on both sides both loads may see
	 * the old values, and the consumer sleeps on a record nobody announces. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed) == 0)
		return XS_OK;
	/* The exchange makes one of several wakers the one that writes. */
	if (atomic_exchange_explicit(&r->sleeping, 0, memory_order_acq_rel) == 0)
		return XS_OK;
	uint64_t one = 1;
	for (;;) {
		ssize_t n = write(efd, &one, sizeof(one));
		if (n == (ssize_t)sizeof(one))
			return XS_OK;
		if (n == -1 && errno == EINTR)
			continue;
		/* A saturated counter already wakes the reader. */
		if (n == -1 && errno == EAGAIN)
			return XS_OK;
		log_error("ring_wake: write eventfd %d: %s", efd,
		          n == -1 ? strerror(errno) : "short write");
		return XS_ERROR;
	}
}

static int corrupt(const struct ring *r, uint64_t head, uint64_t tail,
                   const struct ring_rec_hdr *h, const char *what)
{
	log_error("ring %p corrupt at %llu (tail %llu): %s "
	          "[len %u type %u flags %#x seq %u check %#x, expected seq %u]",
	          (const void *)r, (unsigned long long)head, (unsigned long long)tail, what,
	          h ? h->len : 0, h ? h->type : 0, h ? h->flags : 0, h ? h->seq : 0,
	          h ? h->check : 0, r->cons_seq);
	return XS_ERROR;
}

int ring_peek(struct ring *r, struct ring_rec *rec)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	for (;;) {
		/* Acquire pairs with the producer's release: the bytes below tail are
		 * complete by the time we read them. */
		uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (tail == head)
			return XS_AGAIN;
		if (tail - head > r->size || (tail - head) % REC_ALIGN != 0)
			return corrupt(r, head, tail, NULL, "tail out of range");
		uint64_t gap = gap_at(r, head);
		if (gap != 0) {
			if (tail - head <= gap)
				return corrupt(r, head, tail, NULL, "tail inside the end gap");
			head += gap;
			atomic_store_explicit(&r->head, head, memory_order_release);
			continue;
		}
		uint64_t avail = tail - head;
		uint64_t to_end = r->size - (head & (r->size - 1));
		struct ring_rec_hdr h;
		memcpy(&h, ring_data(r) + (head & (r->size - 1)), sizeof(h));
		if (h.check != rec_check(h.len, h.seq))
			return corrupt(r, head, tail, &h, "bad check word");
		if ((h.flags & ~RING_F_RESYNC) != 0)
			return corrupt(r, head, tail, &h, "unknown flags");
		bool rebase = r->cons_resync || (h.flags & RING_F_RESYNC);
		if (!rebase && h.seq != r->cons_seq)
			return corrupt(r, head, tail, &h, "sequence gap");
		uint64_t bytes = rec_bytes(h.len);
		if (h.type == RING_PAD) {
			if (bytes != to_end || bytes > avail)
				return corrupt(r, head, tail, &h, "padding does not end the data area");
			r->cons_seq = h.seq + 1;
			r->cons_resync = 0;
			head += bytes;
			atomic_store_explicit(&r->head, head, memory_order_release);
			continue;
		}
		if (h.len > r->max_record || bytes > to_end || bytes > avail)
			return corrupt(r, head, tail, &h, "bad length");
		/* Peeking twice gives the same record: only the base moves here. */
		r->cons_seq = h.seq;
		r->cons_resync = 0;
		r->cons_pending = (uint32_t)bytes;
		rec->type = h.type;
		rec->len = h.len;
		rec->data = ring_data(r) + (head & (r->size - 1)) + HDR_BYTES;
		return XS_OK;
	}
}

void ring_consume(struct ring *r)
{
	uint32_t bytes = r->cons_pending;
	if (bytes == 0)
		return;
	r->cons_pending = 0;
	r->cons_seq++;
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	/* Release: we are done reading the record before the producer may reuse it. */
	atomic_store_explicit(&r->head, head + bytes, memory_order_release);
}

int ring_sleep_prepare(struct ring *r)
{
	atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
	/* Pairs with the fence in ring_wake; see there. */
	atomic_thread_fence(memory_order_seq_cst);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (tail != head) {
		atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
		return XS_AGAIN;
	}
	return XS_OK;
}

void ring_sleep_done(struct ring *r)
{
	atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
}

uint64_t ring_fill(const struct ring *r)
{
	/* Read by tools while both sides run: head first, so tail can only be
	 * newer; the clamp covers the moments in between. */
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (tail < head)
		return 0;
	return tail - head > r->size ? r->size : tail - head;
}

/* test_ring.c — the shared-memory ring and segment (shm/ring.c, shm/shm.c).
 *
 * Most tests drive one ring from one thread, where the outcome of every call
 * is exact; the two-process test then runs producer and consumer for real
 * across a fork, with eventfd wake-ups, to catch what only concurrency shows. */
#include "shm/ring.h"
#include "shm/shm.h"

#include "lib/log.h"
#include "lib/xs.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <setjmp.h>
#include <cmocka.h>

#define HDR ((uint32_t)sizeof(struct ring_rec_hdr))

static struct ring *ring_new(uint64_t size)
{
	struct ring *r = aligned_alloc(RING_CACHELINE, ring_footprint(size));
	assert_non_null(r);
	assert_int_equal(ring_init(r, size), XS_OK);
	return r;
}

static uint32_t rec_bytes(uint32_t len)
{
	return HDR + ((len + 7u) & ~7u);
}

static struct ring_rec_hdr *hdr_at(struct ring *r, uint64_t pos)
{
	return (struct ring_rec_hdr *)((unsigned char *)(r + 1) + (pos & (r->size - 1)));
}

/* Contents that depend on the record's key, so a record read in the wrong
 * place or order does not compare equal by chance. */
static void pattern(unsigned char *p, uint32_t len, uint32_t key)
{
	for (uint32_t j = 0; j < len; j++)
		p[j] = (unsigned char)(key * 31u + j * 7u + (j >> 8));
}

static void push_pattern(struct ring *r, uint16_t type, uint32_t len, uint32_t key)
{
	unsigned char *p = ring_reserve(r, len);
	assert_non_null(p);
	pattern(p, len, key);
	ring_commit(r, type, len);
}

static void expect_pattern(struct ring *r, uint16_t type, uint32_t len, uint32_t key)
{
	struct ring_rec rec;
	assert_int_equal(ring_peek(r, &rec), XS_OK);
	assert_int_equal(rec.type, type);
	assert_int_equal(rec.len, len);
	unsigned char *want = malloc(len + 1);
	assert_non_null(want);
	pattern(want, len, key);
	if (len > 0)
		assert_memory_equal(rec.data, want, len);
	free(want);
	ring_consume(r);
}

static uint64_t head_of(struct ring *r) { return atomic_load(&r->head); }
static uint64_t tail_of(struct ring *r) { return atomic_load(&r->tail); }

/* ---- single-threaded ring behaviour ---------------------------------- */

static void test_init_sizes(void **state)
{
	(void)state;
	static const uint64_t bad[] = { 0, 1, 2048, 4095, 4097, 6144, 1000000,
	                                ((uint64_t)1 << 32) * 2 };
	struct ring *r = aligned_alloc(RING_CACHELINE, ring_footprint(8192));
	assert_non_null(r);
	for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++)
		assert_int_equal(ring_init(r, bad[i]), XS_ERROR);
	assert_int_equal(ring_init(r, 4096), XS_OK);
	assert_int_equal(r->size, 4096);
	assert_int_equal(r->max_record, 1024);
	assert_int_equal(ring_fill(r), 0);
	assert_int_equal(atomic_load(&r->high_water), 0);
	assert_int_equal(ring_init(r, 8192), XS_OK);
	assert_int_equal(r->max_record, 2048);
	assert_int_equal(ring_footprint(8192), sizeof(struct ring) + 8192);
	assert_int_equal(sizeof(struct ring) % RING_CACHELINE, 0);
	assert_int_equal(offsetof(struct ring, tail) % RING_CACHELINE, 0);
	free(r);
}

static void test_push_peek_consume(void **state)
{
	(void)state;
	struct ring *r = ring_new(4096);
	struct ring_rec rec;
	assert_int_equal(ring_peek(r, &rec), XS_AGAIN);

	assert_int_equal(ring_push(r, 7, "hello", 5), XS_OK);
	assert_int_equal(ring_push(r, 8, NULL, 0), XS_OK);
	push_pattern(r, 9, 300, 42);
	assert_int_equal(ring_fill(r), rec_bytes(5) + rec_bytes(0) + rec_bytes(300));
	assert_int_equal(atomic_load(&r->records), 3);

	/* peek is idempotent until consume */
	for (int k = 0; k < 2; k++) {
		assert_int_equal(ring_peek(r, &rec), XS_OK);
		assert_int_equal(rec.type, 7);
		assert_int_equal(rec.len, 5);
		assert_memory_equal(rec.data, "hello", 5);
	}
	ring_consume(r);
	assert_int_equal(ring_peek(r, &rec), XS_OK);
	assert_int_equal(rec.type, 8);
	assert_int_equal(rec.len, 0);
	ring_consume(r);
	/* a second consume without a peek frees nothing */
	ring_consume(r);
	expect_pattern(r, 9, 300, 42);
	assert_int_equal(ring_peek(r, &rec), XS_AGAIN);
	assert_int_equal(ring_fill(r), 0);
	assert_int_equal(atomic_load(&r->high_water),
	                 rec_bytes(5) + rec_bytes(0) + rec_bytes(300));

	/* reserve a maximum, commit less: the shorter record is what arrives */
	unsigned char *p = ring_reserve(r, 1000);
	assert_non_null(p);
	memcpy(p, "abc", 3);
	ring_commit(r, 3, 3);
	assert_int_equal(ring_peek(r, &rec), XS_OK);
	assert_int_equal(rec.len, 3);
	assert_memory_equal(rec.data, "abc", 3);
	ring_consume(r);
	assert_int_equal(head_of(r), tail_of(r));

	/* what can never fit is an error, not "try later" */
	assert_int_equal(ring_push(r, 1, p, 1025), XS_ERROR);
	assert_int_equal(ring_push(r, RING_PAD, p, 1), XS_ERROR);
	assert_null(ring_reserve(r, 1025));
	assert_null(ring_reserve(r, UINT32_MAX));
	/* a commit without a reservation publishes nothing */
	ring_commit(r, 1, 0);
	assert_int_equal(ring_peek(r, &rec), XS_AGAIN);
	free(r);
}

/* Tail ends 32 bytes before the end of the data area; a 100-byte record
 * needs 120, so a 32-byte padding record goes first and the record lands at
 * offset 0. */
static void test_wrap_padding(void **state)
{
	(void)state;
	struct ring *r = ring_new(4096);
	for (uint32_t i = 0; i < 4; i++) {
		push_pattern(r, 1, 1000, i);
		expect_pattern(r, 1, 1000, i);
	}
	assert_int_equal(tail_of(r), 4064);
	push_pattern(r, 2, 100, 77);
	push_pattern(r, 3, 64, 78);
	struct ring_rec_hdr *pad = hdr_at(r, 4064);
	assert_int_equal(pad->type, RING_PAD);
	assert_int_equal(pad->len, 32 - HDR);
	assert_int_equal(tail_of(r), 4096 + rec_bytes(100) + rec_bytes(64));
	assert_int_equal(ring_fill(r), 32 + rec_bytes(100) + rec_bytes(64));

	struct ring_rec rec;
	assert_int_equal(ring_peek(r, &rec), XS_OK);
	/* the padding was skipped and the record sits at the start of the data */
	assert_ptr_equal(rec.data, (unsigned char *)(r + 1) + HDR);
	assert_int_equal(head_of(r), 4096);
	expect_pattern(r, 2, 100, 77);
	expect_pattern(r, 3, 64, 78);
	assert_int_equal(ring_peek(r, &rec), XS_AGAIN);

	/* Tail 8 bytes before the end: too little for a padding header; both
	 * sides skip the gap. */
	struct ring *g = ring_new(4096);
	for (uint32_t i = 0; i < 4; i++) {
		push_pattern(g, 1, 1000, i);
		expect_pattern(g, 1, 1000, i);
	}
	push_pattern(g, 1, 8, 5);
	expect_pattern(g, 1, 8, 5);
	assert_int_equal(tail_of(g), 4088);
	assert_int_equal(ring_peek(g, &rec), XS_AGAIN);
	push_pattern(g, 4, 50, 99);
	assert_int_equal(tail_of(g), 4096 + rec_bytes(50));
	expect_pattern(g, 4, 50, 99);
	assert_int_equal(head_of(g), tail_of(g));

	/* A record that exactly reaches the end needs no padding, and the next
	 * one starts at offset 0. */
	for (uint32_t i = 0; i < 3; i++) {
		push_pattern(g, 1, 1000, i);
		expect_pattern(g, 1, 1000, i);
	}
	assert_int_equal(4096 - tail_of(g) % 4096, rec_bytes(960));
	push_pattern(g, 5, 960, 5);
	push_pattern(g, 6, 0, 6);
	assert_int_equal(hdr_at(g, 8192 - rec_bytes(960))->type, 5);
	assert_int_equal(hdr_at(g, 8192)->type, 6);
	assert_int_equal(tail_of(g), 8192 + HDR);
	expect_pattern(g, 5, 960, 5);
	expect_pattern(g, 6, 0, 6);
	free(g);
	free(r);
}

static void test_full_ring(void **state)
{
	(void)state;
	struct ring *r = ring_new(4096);
	unsigned char buf[1024] = { 0 };
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(ring_push(r, 1, buf, 1000), XS_OK); /* 4 x 1016 = 4064 */
	assert_null(ring_reserve(r, 1000));
	assert_int_equal(ring_push(r, 1, buf, 1000), XS_AGAIN);
	assert_null(ring_reserve(r, 17)); /* needs 40, 32 free */
	assert_int_equal(ring_push(r, 2, buf, 16), XS_OK); /* needs 32: exactly fills */
	assert_int_equal(ring_fill(r), 4096);
	assert_int_equal(atomic_load(&r->high_water), 4096);
	assert_null(ring_reserve(r, 0));
	assert_int_equal(ring_push(r, 1, NULL, 0), XS_AGAIN);

	/* consuming one record frees exactly its bytes, at the start of the data */
	struct ring_rec rec;
	assert_int_equal(ring_peek(r, &rec), XS_OK);
	ring_consume(r);
	assert_null(ring_reserve(r, 1001)); /* 1024 > 1016 */
	assert_int_equal(ring_push(r, 3, buf, 1000), XS_OK);
	assert_int_equal(ring_fill(r), 4096);

	/* Free space that is split by the end of the data area: 1048 bytes free,
	 * 32 of them at the end, so a record of up to 1016 bytes fits and one of
	 * 1024 does not although 1048 > 1024. */
	struct ring *w = ring_new(4096);
	for (uint32_t i = 0; i < 4; i++)
		push_pattern(w, 1, 1000, i);
	expect_pattern(w, 1, 1000, 0);
	assert_int_equal(4096 - ring_fill(w), 1048);
	assert_null(ring_reserve(w, 1001));
	assert_int_equal(ring_push(w, 1, buf, 1001), XS_AGAIN);
	push_pattern(w, 6, 1000, 60);
	assert_int_equal(ring_fill(w), 4096);
	for (uint32_t i = 1; i < 4; i++)
		expect_pattern(w, 1, 1000, i);
	expect_pattern(w, 6, 1000, 60);
	assert_int_equal(ring_fill(w), 0);

	/* Random traffic against a model of positions: reserve fails exactly
	 * when the record (and any padding in front of it) exceeds free space. */
	struct ring *m = ring_new(4096);
	uint32_t lens[4096], keys[4096];
	unsigned qh = 0, qt = 0;
	uint64_t mtail = 0, mhead = 0;
	uint64_t bytes_q[4096];
	srand(12345);
	for (uint32_t step = 0; step < 200000; step++) {
		if (rand() % 3 != 0) {
			uint32_t len = (uint32_t)rand() % 1025;
			uint64_t need = rec_bytes(len), to_end = 4096 - (mtail % 4096);
			uint64_t used = need <= to_end ? need : to_end + need;
			int fits = mtail - mhead + used <= 4096;
			unsigned char *p = ring_reserve(m, len);
			assert_int_equal(p != NULL, fits);
			if (p != NULL) {
				pattern(p, len, step);
				ring_commit(m, 1, len);
				lens[qt % 4096] = len;
				keys[qt % 4096] = step;
				bytes_q[qt % 4096] = used;
				qt++;
				mtail += used;
				assert_int_equal(tail_of(m), mtail);
			}
		} else if (qh != qt) {
			expect_pattern(m, 1, lens[qh % 4096], keys[qh % 4096]);
			mhead += bytes_q[qh % 4096];
			qh++;
			/* padding in front of a record is freed with it */
			assert_int_equal(head_of(m), mhead);
		}
	}
	free(m);
	free(w);
	free(r);
}

/* Every payload size from 0 to max_record, several in flight so the ring
 * is full and wraps at every alignment. */
static void every_size(uint64_t size)
{
	struct ring *r = ring_new(size);
	uint32_t max = (uint32_t)r->max_record;
	uint32_t *q = malloc(sizeof(uint32_t) * (size / HDR + 1));
	assert_non_null(q);
	uint64_t qh = 0, qt = 0;
	unsigned char *buf = malloc(max + 1);
	assert_non_null(buf);
	for (uint32_t len = 0; len <= max; len++) {
		pattern(buf, len, len);
		int rc;
		while ((rc = ring_push(r, (uint16_t)(1 + len % 1000), buf, len)) == XS_AGAIN) {
			assert_true(qh < qt);
			uint32_t l = q[qh++ % (size / HDR + 1)];
			expect_pattern(r, (uint16_t)(1 + l % 1000), l, l);
		}
		assert_int_equal(rc, XS_OK);
		q[qt++ % (size / HDR + 1)] = len;
	}
	while (qh < qt) {
		uint32_t l = q[qh++ % (size / HDR + 1)];
		expect_pattern(r, (uint16_t)(1 + l % 1000), l, l);
	}
	struct ring_rec rec;
	assert_int_equal(ring_peek(r, &rec), XS_AGAIN);
	assert_int_equal(atomic_load(&r->records), (uint64_t)max + 1);
	free(buf);
	free(q);
	free(r);
}

static void test_every_size(void **state)
{
	(void)state;
	every_size(4096);
	every_size(65536);
}

static void rehash(struct ring_rec_hdr *h)
{
	h->check = h->len ^ h->seq ^ RING_REC_MAGIC;
}

static void test_corruption(void **state)
{
	(void)state;
	struct ring_rec rec;
	struct ring *r = ring_new(4096);
	push_pattern(r, 1, 40, 1);
	push_pattern(r, 2, 40, 2);
	struct ring_rec_hdr *h = hdr_at(r, 0), saved = *h;

	h->check ^= 1;
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	*h = saved;
	assert_int_equal(ring_peek(r, &rec), XS_OK); /* nothing sticky */

	h->len = 1025;
	rehash(h);
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	h->len = 200; /* below max_record, beyond what was published */
	rehash(h);
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	*h = saved;

	h->seq += 1;
	rehash(h);
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	*h = saved;

	h->flags = 0x8;
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	*h = saved;

	h->type = RING_PAD; /* a padding record that does not end the data area */
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	*h = saved;

	uint64_t tail = tail_of(r);
	atomic_store(&r->tail, 4096 + 8);
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	atomic_store(&r->tail, tail + 4);
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	atomic_store(&r->tail, tail);

	/* the second record is checked too, after the first was consumed */
	expect_pattern(r, 1, 40, 1);
	struct ring_rec_hdr *h2 = hdr_at(r, rec_bytes(40));
	memset(h2, 0xa5, sizeof(*h2));
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);

	/* a scribbled padding record */
	struct ring *w = ring_new(4096);
	for (uint32_t i = 0; i < 4; i++) {
		push_pattern(w, 1, 1000, i);
		expect_pattern(w, 1, 1000, i);
	}
	push_pattern(w, 2, 100, 7);
	struct ring_rec_hdr *pad = hdr_at(w, 4064);
	assert_int_equal(pad->type, RING_PAD);
	pad->len += 8;
	rehash(pad);
	assert_int_equal(ring_peek(w, &rec), XS_ERROR);
	pad->len -= 8;
	rehash(pad);
	expect_pattern(w, 2, 100, 7);
	free(w);
	free(r);
}

static void test_resync(void **state)
{
	(void)state;
	struct ring_rec rec;

	/* A producer died after counting a record it never published: without
	 * attach, the gap in seq is corruption. */
	struct ring *r = ring_new(4096);
	push_pattern(r, 1, 10, 1);
	r->prod_seq++;
	push_pattern(r, 1, 10, 2);
	expect_pattern(r, 1, 10, 1);
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	free(r);

	/* The same with the restarted producer calling attach. */
	r = ring_new(4096);
	push_pattern(r, 1, 10, 1);
	push_pattern(r, 1, 10, 2);
	r->prod_seq += 3;
	(void)ring_reserve(r, 100); /* it also died holding a reservation */
	ring_producer_attach(r);
	push_pattern(r, 2, 10, 3);
	assert_true(hdr_at(r, 2 * rec_bytes(10))->flags & RING_F_RESYNC);
	push_pattern(r, 2, 10, 4);
	assert_int_equal(hdr_at(r, 3 * rec_bytes(10))->flags, 0);
	expect_pattern(r, 1, 10, 1);
	expect_pattern(r, 1, 10, 2);
	expect_pattern(r, 2, 10, 3);
	expect_pattern(r, 2, 10, 4);
	assert_int_equal(ring_peek(r, &rec), XS_AGAIN);
	free(r);

	/* The resync record can be a padding record. */
	r = ring_new(4096);
	for (uint32_t i = 0; i < 4; i++) {
		push_pattern(r, 1, 1000, i);
		expect_pattern(r, 1, 1000, i);
	}
	r->prod_seq += 5;
	ring_producer_attach(r);
	push_pattern(r, 3, 100, 9);
	assert_int_equal(hdr_at(r, 4064)->type, RING_PAD);
	assert_true(hdr_at(r, 4064)->flags & RING_F_RESYNC);
	assert_int_equal(hdr_at(r, 4096)->flags, 0);
	push_pattern(r, 3, 100, 10);
	expect_pattern(r, 3, 100, 9);
	expect_pattern(r, 3, 100, 10);
	free(r);

	/* A restarted consumer whose counter is off takes the next seq as base. */
	r = ring_new(4096);
	push_pattern(r, 1, 10, 1);
	push_pattern(r, 1, 10, 2);
	expect_pattern(r, 1, 10, 1);
	r->cons_seq = 12345;
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	atomic_store(&r->sleeping, 1);
	ring_consumer_attach(r);
	assert_int_equal(atomic_load(&r->sleeping), 0);
	expect_pattern(r, 1, 10, 2);
	push_pattern(r, 1, 10, 3);
	expect_pattern(r, 1, 10, 3);
	/* after the base is taken, gaps are errors again */
	r->prod_seq++;
	push_pattern(r, 1, 10, 4);
	assert_int_equal(ring_peek(r, &rec), XS_ERROR);
	free(r);
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, 0);
	assert_int_not_equal(n, -1);
	return n;
}

static void test_sleep_wake(void **state)
{
	(void)state;
	struct ring *r = ring_new(4096);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_not_equal(efd, -1);
	struct ring_rec rec;
	uint64_t v;

	assert_int_equal(ring_push(r, 1, "a", 1), XS_OK);
	assert_int_equal(ring_wake(r, efd), XS_OK);
	assert_int_equal(readable(efd), 0);

	assert_int_equal(ring_sleep_prepare(r), XS_AGAIN);
	assert_int_equal(atomic_load(&r->sleeping), 0);
	assert_int_equal(ring_peek(r, &rec), XS_OK);
	ring_consume(r);

	/* empty: the consumer may sleep; one publish + wake writes once */
	assert_int_equal(ring_sleep_prepare(r), XS_OK);
	assert_int_equal(atomic_load(&r->sleeping), 1);
	assert_int_equal(ring_push(r, 2, "b", 1), XS_OK);
	assert_int_equal(ring_wake(r, efd), XS_OK);
	assert_int_equal(atomic_load(&r->sleeping), 0);
	assert_int_equal(ring_wake(r, efd), XS_OK); /* a second waker stays quiet */
	assert_int_equal(readable(efd), 1);
	assert_int_equal(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_int_equal(v, 1);
	ring_sleep_done(r);
	assert_int_equal(ring_peek(r, &rec), XS_OK);
	assert_int_equal(rec.type, 2);
	ring_consume(r);

	/* a saturated eventfd already wakes the reader: EAGAIN is fine */
	uint64_t big = UINT64_C(0xfffffffffffffffe);
	assert_int_equal(write(efd, &big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(ring_sleep_prepare(r), XS_OK);
	assert_int_equal(ring_push(r, 3, "c", 1), XS_OK);
	assert_int_equal(ring_wake(r, efd), XS_OK);
	assert_int_equal(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ring_sleep_done(r);
	assert_int_equal(ring_peek(r, &rec), XS_OK);
	ring_consume(r);

	/* a failing write is reported */
	assert_int_equal(ring_sleep_prepare(r), XS_OK);
	assert_int_equal(ring_wake(r, -1), XS_ERROR);
	ring_sleep_done(r);
	assert_int_equal(ring_sleep_prepare(r), XS_OK);
	ring_sleep_done(r);
	assert_int_equal(atomic_load(&r->sleeping), 0);

	close(efd);
	free(r);
}

/* ---- two processes -------------------------------------------------- */

#define TP_RECORDS 1000000u
#define TP_MAXLEN  2000u
#define TP_RING    65536u
#define TP_BATCH   32u

static unsigned char tp_bytes[4096];

static uint32_t tp_mix(uint32_t i)
{
	uint32_t x = i * 2654435761u;
	x ^= x >> 15;
	x *= 2246822519u;
	x ^= x >> 13;
	return x;
}

static uint32_t tp_len(uint32_t i) { return tp_mix(i) % (TP_MAXLEN + 1); }
static uint16_t tp_type(uint32_t i) { return (uint16_t)(1 + i % 60000); }

/* Record i: a window into tp_bytes chosen by i, its index in the first four
 * bytes so a duplicated or skipped record cannot pass for the right one. */
static void tp_fill(unsigned char *p, uint32_t i, uint32_t len)
{
	memcpy(p, tp_bytes + tp_mix(i ^ 0x5a5a5a5au) % 2048, len);
	if (len >= sizeof(i))
		memcpy(p, &i, sizeof(i));
}

static int tp_check(const struct ring_rec *rec, uint32_t i, unsigned char *scratch)
{
	uint32_t len = tp_len(i);
	if (rec->type != tp_type(i) || rec->len != len)
		return -1;
	tp_fill(scratch, i, len);
	return memcmp(rec->data, scratch, len) == 0 ? 0 : -1;
}

/* Runs in the child: no cmocka here, its failures would unwind into a copy
 * of the parent's test runner.  Exit codes say what went wrong. */
static int tp_produce(struct ring *r, int efd)
{
	uint32_t batch = 0;
	for (uint32_t i = 0; i < TP_RECORDS; i++) {
		uint32_t len = tp_len(i);
		unsigned char *p;
		while ((p = ring_reserve(r, len)) == NULL) {
			/* The consumer may be asleep on records of this batch. */
			if (ring_wake(r, efd) != XS_OK)
				return 2;
			batch = 0;
			sched_yield();
		}
		tp_fill(p, i, len);
		ring_commit(r, tp_type(i), len);
		if (++batch == TP_BATCH) {
			if (ring_wake(r, efd) != XS_OK)
				return 2;
			batch = 0;
		}
		/* Pauses now and then so the consumer drains the ring and sleeps:
		 * the wake-up path must be taken many times, not only at the end. */
		if (i % 5000 == 4999) {
			if (ring_wake(r, efd) != XS_OK)
				return 2;
			batch = 0;
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
		}
	}
	return ring_wake(r, efd) == XS_OK ? 0 : 2;
}

static void test_two_processes(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(tp_bytes); k++)
		tp_bytes[k] = (unsigned char)tp_mix((uint32_t)k);
	size_t fp = ring_footprint(TP_RING);
	struct ring *r = mmap(NULL, fp, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(r != MAP_FAILED);
	assert_int_equal(ring_init(r, TP_RING), XS_OK);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_not_equal(efd, -1);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0)
		_exit(tp_produce(r, efd));

	unsigned char *scratch = malloc(TP_MAXLEN + 1);
	assert_non_null(scratch);
	const char *failure = NULL;
	uint32_t got = 0, sleeps = 0, idle_wakes = 0;
	while (got < TP_RECORDS && failure == NULL) {
		struct ring_rec rec;
		int rc = ring_peek(r, &rec);
		if (rc == XS_OK) {
			if (tp_check(&rec, got, scratch) != 0)
				failure = "record out of order or damaged";
			ring_consume(r);
			got++;
			continue;
		}
		if (rc != XS_AGAIN) {
			failure = "ring_peek reported corruption";
			break;
		}
		if (ring_sleep_prepare(r) == XS_OK) {
			sleeps++;
			struct pollfd p = { .fd = efd, .events = POLLIN };
			int n = poll(&p, 1, 10000);
			if (n == 0)
				failure = "no wake-up within 10 s: lost wake-up or dead producer";
			else if (n == -1 && errno != EINTR)
				failure = "poll failed";
			uint64_t v;
			if (read(efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
				failure = "eventfd read failed";
			if (ring_fill(r) == 0)
				idle_wakes++;
		}
		ring_sleep_done(r);
	}
	free(scratch);
	if (failure != NULL)
		kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (failure != NULL)
		fail_msg("after %u records: %s", got, failure);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(atomic_load(&r->records), TP_RECORDS);
	struct ring_rec rec;
	assert_int_equal(ring_peek(r, &rec), XS_AGAIN);
	print_message("two processes: %u records in %.2f s, consumer slept %u times "
	              "(%u woke to an empty ring), high-water %llu of %u bytes\n",
	              got, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	              sleeps, idle_wakes, (unsigned long long)atomic_load(&r->high_water),
	              TP_RING);
	assert_true(sleeps > 0);
	close(efd);
	munmap(r, fp);
}

/* ---- the segment ---------------------------------------------------- */

static void test_name(char *out, const char *tag)
{
	snprintf(out, SHM_NAME_MAX, "/xmppd-test-%s-%d-%ld", tag, (int)getpid(),
	         (long)time(NULL));
}

/* The mapping's permissions as the kernel reports them ("r--s"). */
static void map_perms(const void *addr, char perms[5])
{
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	char line[512];
	strcpy(perms, "?");
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;
		char p[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 &&
		    (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
			memcpy(perms, p, 5);
			break;
		}
	}
	fclose(f);
}

static char seg_name[SHM_NAME_MAX];

/* A failed assertion leaves the test early: the name must not outlive it. */
static int seg_teardown(void **state)
{
	(void)state;
	if (seg_name[0] != '\0')
		shm_remove(seg_name);
	return 0;
}

static void test_shm_segment(void **state)
{
	(void)state;
	char err[256];
	char *name = seg_name;
	test_name(name, "seg");
	struct shm_segment seg, ro;

	assert_int_equal(shm_create(&seg, name, 0, 65536), XS_ERROR);
	assert_int_equal(shm_create(&seg, name, SHM_MAX_WORKERS + 1, 65536), XS_ERROR);
	assert_int_equal(shm_create(&seg, name, 3, 5000), XS_ERROR);
	assert_int_equal(shm_create(&seg, name, 3, 65536), XS_OK);
	assert_false(seg.readonly);
	assert_string_equal(seg.name, name);
	assert_int_equal(seg.hdr->magic, SHM_MAGIC);
	assert_int_equal(seg.hdr->version, SHM_LAYOUT_VERSION);
	assert_int_equal(seg.hdr->nworkers, 3);
	assert_int_equal(seg.hdr->ring_size, 65536);
	assert_int_equal(seg.hdr->total_size, seg.size);
	assert_int_equal(atomic_load(&seg.hdr->master_pid), getpid());
	assert_null(shm_slot(&seg, 3));
	assert_null(shm_up_ring(&seg, 3));
	for (unsigned i = 0; i < 3; i++) {
		struct ring *up = shm_up_ring(&seg, i), *down = shm_down_ring(&seg, i);
		assert_non_null(up);
		assert_non_null(down);
		assert_int_equal((uintptr_t)up % RING_CACHELINE, 0);
		assert_int_equal((uintptr_t)down % RING_CACHELINE, 0);
		assert_int_equal((uintptr_t)&shm_slot(&seg, i)->stats % RING_CACHELINE, 0);
		assert_true((char *)down >= (char *)up + ring_footprint(65536));
		assert_true((char *)down + ring_footprint(65536) <= (char *)seg.base + seg.size);
		assert_int_equal(up->size, 65536);
		assert_int_equal(down->max_record, 16384);
	}
	atomic_store(&shm_slot(&seg, 1)->stats.stanzas_in, 17);
	atomic_store(&shm_slot(&seg, 1)->stats.pid, 4242);
	atomic_store(&seg.hdr->router_pid, 4343);
	assert_int_equal(ring_push(shm_up_ring(&seg, 1), 1, "stanza", 6), XS_OK);

	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_OK);
	assert_true(ro.readonly);
	assert_int_equal(ro.size, seg.size);
	assert_int_equal(ro.hdr->nworkers, 3);
	assert_int_equal(ro.hdr->ring_size, 65536);
	assert_int_equal(atomic_load(&ro.hdr->router_pid), 4343);
	assert_int_equal(atomic_load(&shm_slot(&ro, 1)->stats.stanzas_in), 17);
	assert_int_equal(atomic_load(&shm_slot(&ro, 1)->stats.pid), 4242);
	assert_int_equal(ring_fill(shm_up_ring(&ro, 1)), rec_bytes(6));
	assert_int_equal(ring_fill(shm_up_ring(&ro, 0)), 0);
	char perms[5];
	map_perms(ro.base, perms);
	assert_string_equal(perms, "r--s");
	map_perms(seg.base, perms);
	assert_string_equal(perms, "rw-s");
	shm_detach(&ro);
	assert_null(ro.base);

	/* What a reader refuses, and says why. */
	seg.hdr->version = SHM_LAYOUT_VERSION + 1;
	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_ERROR);
	char want[96];
	snprintf(want, sizeof(want), "has layout version %u, this tool reads version %u",
	         SHM_LAYOUT_VERSION + 1, SHM_LAYOUT_VERSION);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, name));
	seg.hdr->version = SHM_LAYOUT_VERSION;

	seg.hdr->magic ^= 1;
	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_ERROR);
	assert_non_null(strstr(err, "not an xmppd segment"));
	seg.hdr->magic = SHM_MAGIC;

	seg.hdr->nworkers = 4;
	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_ERROR);
	assert_non_null(strstr(err, "bytes"));
	seg.hdr->nworkers = 3;

	shm_up_ring(&seg, 2)->size = 4096;
	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_ERROR);
	assert_non_null(strstr(err, "worker 2 up ring"));
	shm_up_ring(&seg, 2)->size = 65536;

	shm_slot(&seg, 1)->down_off += 64;
	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_ERROR);
	assert_non_null(strstr(err, "worker 1 down ring"));
	shm_slot(&seg, 1)->down_off -= 64;

	/* an object whose real size disagrees with its header */
	int fd = shm_open(name, O_RDWR, 0);
	assert_int_not_equal(fd, -1);
	assert_int_equal(ftruncate(fd, (off_t)seg.size + 4096), 0);
	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_ERROR);
	assert_non_null(strstr(err, "bytes"));
	assert_int_equal(ftruncate(fd, 16), 0);
	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_ERROR);
	assert_non_null(strstr(err, "too small"));
	close(fd);
	shm_detach(&seg);

	/* A stale segment of the same name is replaced, not reused. */
	assert_int_equal(shm_create(&seg, name, 2, 4096), XS_OK);
	atomic_store(&shm_slot(&seg, 0)->stats.accepted, 99);
	struct shm_segment fresh;
	assert_int_equal(shm_create(&fresh, name, 2, 4096), XS_OK);
	assert_int_equal(shm_attach(&ro, name, false, err, sizeof(err)), XS_OK);
	assert_false(ro.readonly);
	assert_int_equal(atomic_load(&shm_slot(&ro, 0)->stats.accepted), 0);
	atomic_store(&shm_slot(&ro, 0)->stats.accepted, 5);
	assert_int_equal(atomic_load(&shm_slot(&fresh, 0)->stats.accepted), 5);
	assert_int_equal(atomic_load(&shm_slot(&seg, 0)->stats.accepted), 99);
	shm_detach(&ro);
	shm_detach(&seg);
	shm_detach(&fresh);

	assert_int_equal(shm_remove(name), XS_OK);
	assert_int_equal(shm_attach(&ro, name, true, err, sizeof(err)), XS_ERROR);
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(shm_remove(name), XS_OK); /* already gone is fine */
	assert_int_equal(shm_attach(&ro, "", true, err, sizeof(err)), XS_ERROR);
}

static void test_shm_name(void **state)
{
	(void)state;
	char a[SHM_NAME_MAX], b[SHM_NAME_MAX], c[SHM_NAME_MAX], cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	shm_name_for(".", a);
	shm_name_for(cwd, b);
	assert_string_equal(a, b); /* one directory, however it is spelled */
	assert_int_equal(strlen(a), strlen("/xmppd-") + 16);
	assert_int_equal(strncmp(a, "/xmppd-", 7), 0);
	assert_int_equal(strspn(a + 7, "0123456789abcdef"), 16);
	shm_name_for("/", c);
	assert_string_not_equal(a, c);
	/* a run_dir that does not exist yet still names a stable segment */
	shm_name_for("/nonexistent/xmppd/run", b);
	shm_name_for("/nonexistent/xmppd/run", c);
	assert_string_equal(b, c);
	assert_string_not_equal(a, b);
}

int main(void)
{
	log_set_role("test_ring");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_sizes),
		cmocka_unit_test(test_push_peek_consume),
		cmocka_unit_test(test_wrap_padding),
		cmocka_unit_test(test_full_ring),
		cmocka_unit_test(test_every_size),
		cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_sleep_wake),
		cmocka_unit_test(test_two_processes),
		cmocka_unit_test_teardown(test_shm_segment, seg_teardown),
		cmocka_unit_test(test_shm_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

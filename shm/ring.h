/* ring.h — single-producer/single-consumer byte ring of variable-length records
 * in shared memory.
 *
 * Layout (struct ring, then `size` data bytes right after it): head and tail are
 * 64-bit byte positions that only grow; position & (size-1) is the offset in the
 * data area.  Head (consumer) and tail (producer) sit on their own cache lines.
 * The producer writes a record, then publishes the new tail with a release store;
 * the consumer reads the tail with an acquire load.  A producer that dies
 * mid-write never published, so the consumer never sees half a record.
 *
 * Every record starts with a struct ring_rec_hdr (8-byte aligned) carrying its
 * payload length, its type and a sequence number the producer increments by one
 * per record; the consumer bounds-checks both (shared memory is input too).
 * A record never wraps: when it would, the producer writes a padding record
 * (type RING_PAD) that fills the data area up to its end.
 *
 * Wake-ups: a consumer about to sleep calls ring_sleep_prepare(); a producer
 * calls ring_wake() after publishing (once per batch is enough): a full fence,
 * then, if the consumer said it sleeps, one eventfd write.  A busy system makes
 * no syscall per record. */
#ifndef XMPPD_SHM_RING_H
#define XMPPD_SHM_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RING_CACHELINE 64
#define RING_PAD 0  /* record type reserved for padding; never returned by ring_peek */

struct ring_rec_hdr {
	uint32_t len;   /* payload bytes following this header (without alignment) */
	uint16_t type;  /* RING_PAD or a caller's type (lib/msg.h) */
	uint16_t flags; /* reserved, 0 */
	uint32_t seq;   /* producer's record counter; consecutive */
	uint32_t check; /* len ^ seq ^ RING_REC_MAGIC: catches garbage */
};
#define RING_REC_MAGIC 0x52494e47u
#define RING_F_RESYNC  0x1u  /* first record of a restarted producer */

struct ring {
	/* consumer-owned line */
	alignas(RING_CACHELINE) _Atomic uint64_t head;
	_Atomic uint32_t sleeping;   /* consumer: 1 = about to sleep / sleeping */
	uint32_t cons_seq;           /* next seq the consumer expects */
	uint32_t cons_resync;        /* 1: accept the next record's seq as the base */
	uint32_t cons_pending;       /* bytes (header, payload, alignment) of the record
	                                the last ring_peek returned; 0: none */
	/* producer-owned line */
	alignas(RING_CACHELINE) _Atomic uint64_t tail;
	uint32_t prod_seq;           /* seq of the next record written */
	uint32_t prod_resync;        /* 1: next record carries RING_F_RESYNC */
	uint32_t prod_resv;          /* payload bytes of the pending ring_reserve + 1;
	                                0: none */
	_Atomic uint64_t high_water; /* largest fill in bytes the producer saw */
	_Atomic uint64_t records;    /* records published so far */
	/* read-only after ring_init */
	alignas(RING_CACHELINE) uint64_t size; /* data bytes, power of two */
	uint64_t max_record;                   /* largest payload accepted: size / 4 */
};

/* Bytes a ring with `size` data bytes occupies (struct + data). */
size_t ring_footprint(uint64_t size);
/* Initialises a ring in memory of ring_footprint(size) bytes; size is a power of
 * two >= 4096.  Returns XS_OK or XS_ERROR (bad size). */
int ring_init(struct ring *r, uint64_t size);

/* A process that takes over the producer side (a restarted worker) calls
 * ring_producer_attach once: the previous producer may have died between
 * bumping its counter and publishing, so its next record tells the consumer
 * to take that record's seq as the new base.  ring_consumer_attach does the
 * same for a restarted consumer. */
void ring_producer_attach(struct ring *r);
void ring_consumer_attach(struct ring *r);

/* Producer.  ring_reserve returns a pointer where `len` payload bytes may be
 * written, or NULL when the ring has no room now (or len > max_record).
 * ring_commit publishes the reserved record with its type (release store);
 * len may be less than what was reserved, never more.  One reservation at a
 * time. */
void *ring_reserve(struct ring *r, uint32_t len);
void ring_commit(struct ring *r, uint16_t type, uint32_t len);
/* Convenience: reserve + copy + commit.  XS_OK, or XS_AGAIN when full;
 * XS_ERROR (logged) when len > max_record or type is RING_PAD, which no amount
 * of waiting would fix. */
int ring_push(struct ring *r, uint16_t type, const void *data, uint32_t len);
/* After publishing: full fence, then wake the consumer through `efd` (an
 * eventfd) if it sleeps.  Returns XS_OK or XS_ERROR (write failed). */
int ring_wake(struct ring *r, int efd);

/* Consumer. */
struct ring_rec {
	uint16_t type;
	uint32_t len;
	const void *data; /* valid until ring_consume */
};
/* XS_OK: *rec is the oldest record (padding skipped).  XS_AGAIN: empty.
 * XS_ERROR: the ring is corrupt (bad length, seq or check); logged. */
int ring_peek(struct ring *r, struct ring_rec *rec);
/* Frees the record returned by the last successful ring_peek. */
void ring_consume(struct ring *r);
/* Before sleeping: sets the sleeping flag, full fence, re-checks.  Returns
 * XS_OK when the consumer may sleep, XS_AGAIN when records arrived meanwhile
 * (the flag is cleared again). */
int ring_sleep_prepare(struct ring *r);
/* After waking (or deciding not to sleep): clears the flag. */
void ring_sleep_done(struct ring *r);
/* Bytes currently in the ring (for stats and tools). */
uint64_t ring_fill(const struct ring *r);

#endif

/* ctx.h — what every part of a worker process reads: the configuration in
 * force, the data env (read-only: users), the scratch buffer a stanza is
 * encoded into, the builder for answers the worker writes itself, the
 * clock of the loop iteration and the shm stats.
 *
 * worker_main fills it before the first connection arrives; the loop
 * updates `now_ms` once per iteration.  This file calls nothing else of
 * workers/: every other file may use it. */
#ifndef XMPPD_WORKERS_CTX_H
#define XMPPD_WORKERS_CTX_H

#include "lib/cfg.h"
#include "lib/db.h"
#include "lib/msg.h"
#include "lib/stz.h"
#include "shm/shm.h"

#include <stdatomic.h>
#include <stdint.h>

struct worker_ctx {
	const struct cfg *cfg;   /* replaced by a reload; connections keep their listener's */
	struct db data;          /* read-only: users */
	MDB_txn *rtxn;           /* reset between uses */
	unsigned index;
	int master_sock;         /* reports to the master (struct msg_peer) */
	uint8_t scram_secret[32];
	char *scratch;           /* aligned buffer to encode one stanza */
	size_t scratch_cap;
	struct stz_builder reply;/* answers the worker writes itself */
	struct shm_segment *seg; /* for the trace table */
	struct shm_worker_stats *stats;
	uint64_t trace_next;     /* stanza trace ids of this worker */
	uint64_t now_ms;         /* monotonic clock, read once per loop iteration */
};

extern struct worker_ctx worker;

static inline uint32_t worker_now_s(void)
{
	return (uint32_t)(worker.now_ms / 1000);
}

/* Encodes the builder into the scratch buffer and views it.  XS_OK/XS_ERROR. */
int worker_encode(struct stz_builder *b, uint64_t conn, struct stz *out);
/* A read transaction on the data env, valid until worker_rtxn_done(). */
MDB_txn *worker_rtxn(void);
void worker_rtxn_done(void);
/* Tracing: the id for a traced connection's next stanza. */
uint64_t worker_trace_id(void);
/* A report about a peer address to the master (MSG_SOCK_CLOSED,
 * MSG_SOCK_AUTH_ABUSE); lost, and logged, when its queue is full. */
void worker_report_peer(uint32_t type, const struct msg_ip *ip);

/* Counters of the worker's shm stats (written by this process only). */
static inline void worker_stat_add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_add_explicit(v, n, memory_order_relaxed);
}

static inline void worker_stat_sub(_Atomic uint64_t *v, uint64_t n)
{
	atomic_fetch_sub_explicit(v, n, memory_order_relaxed);
}

#endif

/* shm.h — the shared-memory segment every xmppd process maps.
 *
 * Created by the master before fork (shm_open under a name derived from the
 * config, so xmppd-shm-dump can find it), mapped by every child.  It begins with
 * a versioned header so tools can check what they read; then one slot per
 * worker: its stats (written only by that worker) and its up ring
 * (worker -> router) and down ring (router -> worker).  Everything in it is
 * addressed by offsets from the segment base, never by pointers. */
#ifndef XMPPD_SHM_SHM_H
#define XMPPD_SHM_SHM_H

#include "shm/ring.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SHM_MAGIC          0x314d485344505058ULL /* "XPPDSHM1" little-endian */
#define SHM_LAYOUT_VERSION 2u
#define SHM_MAX_WORKERS    64u
#define SHM_NAME_MAX       64

/* Per-worker counters, written only by the owning worker (relaxed atomics). */
struct shm_worker_stats {
	alignas(RING_CACHELINE) _Atomic uint64_t connections; /* open now */
	_Atomic uint64_t sessions;     /* bound now */
	_Atomic uint64_t accepted;     /* connections received in total */
	_Atomic uint64_t stanzas_in;   /* from clients */
	_Atomic uint64_t stanzas_out;  /* to clients */
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	_Atomic int32_t pid;           /* worker's pid, 0 while not running */
	_Atomic uint32_t generation;   /* incremented by the master at each (re)start */
};

struct shm_worker_slot {
	struct shm_worker_stats stats;
	uint64_t up_off;    /* offset of the up ring (struct ring) from the base */
	uint64_t down_off;  /* offset of the down ring */
};

/* Stanza tracing (xmppctl trace, config `trace:`): the bare JIDs whose
 * stanzas every process logs stage by stage.  Written by the router only,
 * as a seqlock (seq odd while it writes); workers read it when a user
 * authenticates. */
#define SHM_TRACE_MAX 32
#define SHM_TRACE_JID 256   /* bytes of a traced bare JID, NUL included */

struct shm_trace {
	_Atomic uint32_t seq;
	_Atomic uint32_t n;
	char jid[SHM_TRACE_MAX][SHM_TRACE_JID];
};

struct shm_header {
	uint64_t magic;
	uint32_t version;
	uint32_t nworkers;
	uint64_t ring_size;    /* data bytes of every ring */
	uint64_t total_size;   /* bytes of the whole segment */
	uint64_t created;      /* unix time */
	_Atomic int32_t master_pid;
	_Atomic int32_t router_pid;
	uint64_t slots_off;    /* offset of struct shm_worker_slot[nworkers] */
	char run_dir[256];     /* absolute run_dir: where the session table is (set by
	                        * the master before it forks; "" if too long) */
	struct shm_trace trace;
};

/* Process-local handle. */
struct shm_segment {
	char name[SHM_NAME_MAX];
	void *base;
	size_t size;
	struct shm_header *hdr;
	bool readonly;
};

/* Derives the segment name from the run directory (stable for one config). */
void shm_name_for(const char *run_dir, char out[SHM_NAME_MAX]);

/* Master: creates (replacing a stale one) and initialises the segment.
 * XS_OK or XS_ERROR (logged). */
int shm_create(struct shm_segment *seg, const char *name, unsigned nworkers,
               uint64_t ring_size);
/* Tools: attaches an existing segment; checks magic, version and sizes.
 * XS_OK or XS_ERROR with a reason in errbuf. */
int shm_attach(struct shm_segment *seg, const char *name, bool readonly,
               char *errbuf, size_t errlen);
void shm_detach(struct shm_segment *seg);
/* Master at exit: removes the name. */
int shm_remove(const char *name);

struct shm_worker_slot *shm_slot(struct shm_segment *seg, unsigned worker);
/* Whether worker runs now (a pid) as generation gen: its connections are
 * those whose ids carry gen (lib/msg.h conn_id_gen: its low 16 bits).  False
 * for a worker out of range, one not running (dead, not yet restarted), one
 * restarted since (a later generation); any process may ask. */
bool shm_worker_current(struct shm_segment *seg, unsigned worker, unsigned gen);

/* Tracing: adds or removes a bare JID (router only).  XS_OK, XS_PASS (already
 * so), XS_ERROR (table full or JID too long). */
int shm_trace_set(struct shm_segment *seg, const char *bare, bool on);
/* Whether a bare JID (given with its length) is traced; any process. */
bool shm_trace_has(struct shm_segment *seg, const char *bare, size_t len);
static inline bool shm_trace_any(struct shm_segment *seg)
{
	return atomic_load_explicit(&seg->hdr->trace.n, memory_order_relaxed) > 0;
}
struct ring *shm_up_ring(struct shm_segment *seg, unsigned worker);
struct ring *shm_down_ring(struct shm_segment *seg, unsigned worker);

#endif

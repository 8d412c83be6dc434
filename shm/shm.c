/* shm.c — create, attach and lay out the segment every xmppd process maps.
 *
 * Layout: the header at offset 0, then the worker slots, then for each worker
 * its up ring and its down ring, every part on a 64-byte boundary so no two
 * writers share a cache line.  A reader recomputes this layout from nworkers
 * and ring_size and refuses a segment that disagrees: a tool that trusted the
 * offsets it finds would follow them out of the mapping. */
#include "shm/shm.h"

#include "lib/log.h"
#include "lib/xs.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static_assert(ATOMIC_INT_LOCK_FREE == 2, "pid words must be lock-free across processes");
static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "counters must be lock-free across processes");
static_assert(sizeof(struct shm_worker_slot) % RING_CACHELINE == 0,
              "each worker's stats on their own lines");

#define SHM_MIN_RING 4096u
#define SHM_MAX_RING ((uint64_t)1 << 32)

static uint64_t align_line(uint64_t n)
{
	return (n + RING_CACHELINE - 1) & ~(uint64_t)(RING_CACHELINE - 1);
}

struct layout {
	uint64_t slots_off;
	uint64_t rings_off;
	uint64_t ring_bytes;
	uint64_t total;
};

/* The only definition of where things are; create and attach both use it. */
static void layout_for(unsigned nworkers, uint64_t ring_size, struct layout *l)
{
	l->slots_off = align_line(sizeof(struct shm_header));
	l->rings_off = align_line(l->slots_off +
	                          (uint64_t)nworkers * sizeof(struct shm_worker_slot));
	l->ring_bytes = align_line(ring_footprint(ring_size));
	l->total = l->rings_off + 2 * (uint64_t)nworkers * l->ring_bytes;
}

static bool ring_size_ok(uint64_t size)
{
	return size >= SHM_MIN_RING && size <= SHM_MAX_RING && (size & (size - 1)) == 0;
}

/* FNV-1a: tiny, stable across builds and machines, and a name only needs to
 * tell run directories apart, not resist anyone. */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void shm_name_for(const char *run_dir, char out[SHM_NAME_MAX])
{
	/* realpath makes "./var/run" and its absolute spelling one segment; a
	 * directory that does not exist yet still gets a stable name from its text. */
	char *real = realpath(run_dir, NULL);
	uint64_t h = name_hash(real != NULL ? real : run_dir);
	free(real);
	snprintf(out, SHM_NAME_MAX, "/xmppd-%016" PRIx64, h);
}

static bool name_ok(const char *name)
{
	size_t n = strnlen(name, SHM_NAME_MAX);
	return n > 0 && n < SHM_NAME_MAX;
}

int shm_create(struct shm_segment *seg, const char *name, unsigned nworkers,
               uint64_t ring_size)
{
	memset(seg, 0, sizeof(*seg));
	if (!name_ok(name)) {
		log_error("shm_create: bad segment name");
		return XS_ERROR;
	}
	if (nworkers == 0 || nworkers > SHM_MAX_WORKERS) {
		log_error("shm_create %s: %u workers, expected 1..%u", name, nworkers,
		          SHM_MAX_WORKERS);
		return XS_ERROR;
	}
	if (!ring_size_ok(ring_size)) {
		log_error("shm_create %s: ring size %" PRIu64 " is not a power of two in [%u, 2^32]",
		          name, ring_size, SHM_MIN_RING);
		return XS_ERROR;
	}
	struct layout l;
	layout_for(nworkers, ring_size, &l);
	if (l.total > (uint64_t)SIZE_MAX || l.total > (uint64_t)INT64_MAX) {
		log_error("shm_create %s: %" PRIu64 " bytes do not fit this address space", name,
		          l.total);
		return XS_ERROR;
	}

	/* A master that crashed left its segment behind; its rings are stale and a
	 * child of the old generation may still map it, so start from a new object
	 * rather than reuse one. */
	if (shm_unlink(name) == -1 && errno != ENOENT)
		log_warn("shm_unlink %s: %s", name, strerror(errno));
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_error("shm_open %s: %s", name, strerror(errno));
		return XS_ERROR;
	}
	if (ftruncate(fd, (off_t)l.total) == -1) {
		log_error("ftruncate %s to %" PRIu64 " bytes: %s", name, l.total, strerror(errno));
		goto fail_fd;
	}
	void *base = mmap(NULL, (size_t)l.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		log_error("mmap %s (%" PRIu64 " bytes): %s", name, l.total, strerror(errno));
		goto fail_fd;
	}
	close(fd);

	/* ftruncate gave zeroed memory: counters and pids start at 0. */
	struct shm_header *hdr = base;
	hdr->version = SHM_LAYOUT_VERSION;
	hdr->nworkers = nworkers;
	hdr->ring_size = ring_size;
	hdr->total_size = l.total;
	hdr->created = (uint64_t)time(NULL);
	atomic_init(&hdr->master_pid, (int32_t)getpid());
	atomic_init(&hdr->router_pid, 0);
	hdr->slots_off = l.slots_off;
	struct shm_worker_slot *slots = (struct shm_worker_slot *)((char *)base + l.slots_off);
	for (unsigned i = 0; i < nworkers; i++) {
		slots[i].up_off = l.rings_off + (2 * (uint64_t)i) * l.ring_bytes;
		slots[i].down_off = slots[i].up_off + l.ring_bytes;
		if (ring_init((struct ring *)((char *)base + slots[i].up_off), ring_size) != XS_OK ||
		    ring_init((struct ring *)((char *)base + slots[i].down_off), ring_size) != XS_OK) {
			munmap(base, (size_t)l.total);
			shm_unlink(name);
			return XS_ERROR;
		}
	}
	/* Magic last: a tool attaching while we fill the segment in sees "not an
	 * xmppd segment" rather than half a layout. */
	atomic_thread_fence(memory_order_release);
	hdr->magic = SHM_MAGIC;

	snprintf(seg->name, sizeof(seg->name), "%s", name);
	seg->base = base;
	seg->size = (size_t)l.total;
	seg->hdr = hdr;
	seg->readonly = false;
	return XS_OK;

fail_fd:
	close(fd);
	shm_unlink(name);
	return XS_ERROR;
}

__attribute__((format(printf, 3, 4)))
static int attach_fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	if (errbuf != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return XS_ERROR;
}

/* Everything a reader needs before it follows an offset or reads a ring. */
static int check_segment(const char *name, const void *base, uint64_t real_size,
                         char *errbuf, size_t errlen)
{
	const struct shm_header *hdr = base;
	if (hdr->magic != SHM_MAGIC)
		return attach_fail(errbuf, errlen,
		                   "segment %s is not an xmppd segment (magic %#" PRIx64 ")",
		                   name, hdr->magic);
	if (hdr->version != SHM_LAYOUT_VERSION)
		return attach_fail(errbuf, errlen,
		                   "segment %s has layout version %u, this tool reads version %u",
		                   name, hdr->version, SHM_LAYOUT_VERSION);
	if (hdr->nworkers == 0 || hdr->nworkers > SHM_MAX_WORKERS)
		return attach_fail(errbuf, errlen, "segment %s claims %u workers (max %u)", name,
		                   hdr->nworkers, SHM_MAX_WORKERS);
	if (!ring_size_ok(hdr->ring_size))
		return attach_fail(errbuf, errlen,
		                   "segment %s has ring size %" PRIu64 ", not a power of two in [%u, 2^32]",
		                   name, hdr->ring_size, SHM_MIN_RING);
	struct layout l;
	layout_for(hdr->nworkers, hdr->ring_size, &l);
	if (hdr->total_size != l.total || real_size != l.total)
		return attach_fail(errbuf, errlen,
		                   "segment %s is %" PRIu64 " bytes, its header says %" PRIu64
		                   " and %u workers with %" PRIu64 "-byte rings need %" PRIu64,
		                   name, real_size, hdr->total_size, hdr->nworkers, hdr->ring_size,
		                   l.total);
	if (hdr->slots_off != l.slots_off)
		return attach_fail(errbuf, errlen, "segment %s has its slots at %" PRIu64
		                   ", expected %" PRIu64, name, hdr->slots_off, l.slots_off);
	const struct shm_worker_slot *slots =
		(const struct shm_worker_slot *)((const char *)base + l.slots_off);
	for (unsigned i = 0; i < hdr->nworkers; i++) {
		uint64_t offs[2] = { slots[i].up_off, slots[i].down_off };
		for (unsigned k = 0; k < 2; k++) {
			uint64_t want = l.rings_off + (2 * (uint64_t)i + k) * l.ring_bytes;
			if (offs[k] != want)
				return attach_fail(errbuf, errlen,
				                   "segment %s: worker %u %s ring at %" PRIu64
				                   ", expected %" PRIu64,
				                   name, i, k ? "down" : "up", offs[k], want);
			const struct ring *r = (const struct ring *)((const char *)base + offs[k]);
			if (r->size != hdr->ring_size || r->max_record != r->size / 4)
				return attach_fail(errbuf, errlen,
				                   "segment %s: worker %u %s ring has size %" PRIu64
				                   " and max record %" PRIu64 ", header says size %" PRIu64,
				                   name, i, k ? "down" : "up", r->size, r->max_record,
				                   hdr->ring_size);
		}
	}
	return XS_OK;
}

int shm_attach(struct shm_segment *seg, const char *name, bool readonly,
               char *errbuf, size_t errlen)
{
	memset(seg, 0, sizeof(*seg));
	if (!name_ok(name))
		return attach_fail(errbuf, errlen, "segment name must be 1..%d bytes",
		                   SHM_NAME_MAX - 1);
	int fd = shm_open(name, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0);
	if (fd == -1) {
		int e = errno;
		return attach_fail(errbuf, errlen, "shm_open %s: %s%s", name, strerror(e),
		                   e == ENOENT ? " (is xmppd running with this run_dir?)" : "");
	}
	struct stat st;
	if (fstat(fd, &st) == -1) {
		int e = errno;
		close(fd);
		return attach_fail(errbuf, errlen, "fstat %s: %s", name, strerror(e));
	}
	if (st.st_size < (off_t)sizeof(struct shm_header)) {
		close(fd);
		return attach_fail(errbuf, errlen,
		                   "segment %s is %lld bytes, too small for an xmppd header", name,
		                   (long long)st.st_size);
	}
	if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
		close(fd);
		return attach_fail(errbuf, errlen, "segment %s is too large to map", name);
	}
	size_t size = (size_t)st.st_size;
	void *base = mmap(NULL, size, readonly ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
	                  fd, 0);
	int e = errno;
	close(fd);
	if (base == MAP_FAILED)
		return attach_fail(errbuf, errlen, "mmap %s (%zu bytes): %s", name, size,
		                   strerror(e));
	if (check_segment(name, base, (uint64_t)st.st_size, errbuf, errlen) != XS_OK) {
		munmap(base, size);
		return XS_ERROR;
	}
	/* Pairs with the release fence before the magic store in shm_create. */
	atomic_thread_fence(memory_order_acquire);
	snprintf(seg->name, sizeof(seg->name), "%s", name);
	seg->base = base;
	seg->size = size;
	seg->hdr = base;
	seg->readonly = readonly;
	return XS_OK;
}

void shm_detach(struct shm_segment *seg)
{
	if (seg->base != NULL && munmap(seg->base, seg->size) == -1)
		log_error("munmap %s: %s", seg->name, strerror(errno));
	memset(seg, 0, sizeof(*seg));
}

int shm_remove(const char *name)
{
	if (shm_unlink(name) == -1) {
		if (errno == ENOENT)
			return XS_OK;
		log_error("shm_unlink %s: %s", name, strerror(errno));
		return XS_ERROR;
	}
	return XS_OK;
}

struct shm_worker_slot *shm_slot(struct shm_segment *seg, unsigned worker)
{
	if (seg->hdr == NULL || worker >= seg->hdr->nworkers)
		return NULL;
	return (struct shm_worker_slot *)((char *)seg->base + seg->hdr->slots_off) + worker;
}

bool shm_worker_current(struct shm_segment *seg, unsigned worker, unsigned gen)
{
	struct shm_worker_slot *s = seg ? shm_slot(seg, worker) : NULL;
	if (s == NULL)
		return false;
	uint32_t g = atomic_load_explicit(&s->stats.generation, memory_order_relaxed);
	return atomic_load_explicit(&s->stats.pid, memory_order_relaxed) != 0 &&
	       (g & 0xffffu) == (gen & 0xffffu);
}

struct ring *shm_up_ring(struct shm_segment *seg, unsigned worker)
{
	struct shm_worker_slot *s = shm_slot(seg, worker);
	return s != NULL ? (struct ring *)((char *)seg->base + s->up_off) : NULL;
}

struct ring *shm_down_ring(struct shm_segment *seg, unsigned worker)
{
	struct shm_worker_slot *s = shm_slot(seg, worker);
	return s != NULL ? (struct ring *)((char *)seg->base + s->down_off) : NULL;
}

int shm_trace_set(struct shm_segment *seg, const char *bare, bool on)
{
	struct shm_trace *t = &seg->hdr->trace;
	size_t len = strlen(bare);
	if (len >= SHM_TRACE_JID)
		return XS_ERROR;
	uint32_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
	uint32_t at = 0;
	while (at < n && strcmp(t->jid[at], bare) != 0)
		at++;
	if ((at < n) == on)
		return XS_PASS;
	if (on && n == SHM_TRACE_MAX)
		return XS_ERROR;
	uint32_t seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
	atomic_store_explicit(&t->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	if (on) {
		memcpy(t->jid[n], bare, len + 1);
		n++;
	} else {
		n--;
		memcpy(t->jid[at], t->jid[n], sizeof(t->jid[at]));
	}
	atomic_store_explicit(&t->n, n, memory_order_relaxed);
	atomic_store_explicit(&t->seq, seq + 2, memory_order_release);
	return XS_OK;
}

bool shm_trace_has(struct shm_segment *seg, const char *bare, size_t len)
{
	const struct shm_trace *t = &seg->hdr->trace;
	if (len >= SHM_TRACE_JID)
		return false;
	for (int attempt = 0; attempt < 100; attempt++) {
		uint32_t seq = atomic_load_explicit(&t->seq, memory_order_acquire);
		if (seq & 1)
			continue;
		uint32_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
		bool found = false;
		for (uint32_t i = 0; i < n && i < SHM_TRACE_MAX && !found; i++) {
			char jid[SHM_TRACE_JID];
			memcpy(jid, t->jid[i], sizeof(jid)); /* a copy: the writer may be mid-change */
			found = strncmp(jid, bare, len) == 0 && jid[len] == '\0';
		}
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->seq, memory_order_relaxed) == seq)
			return found;
	}
	return false;
}

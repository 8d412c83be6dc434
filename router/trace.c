/* trace.c — the tracing context (router/trace.h). */
#include "router/trace.h"
#include "router/state.h"

#include <string.h>

/* Ids made here have their top byte set: a worker's never do. */
static uint64_t trace_cur, trace_next = 0xffULL << 56;

uint64_t route_trace(void)
{
	return trace_cur;
}

void route_trace_set(uint64_t id)
{
	trace_cur = id;
}

void route_trace_begin(const struct stz *s)
{
	trace_cur = s ? trace_of(s) : 0;
}

uint64_t trace_of(const struct stz *s)
{
	if (s->h->trace)
		return s->h->trace;
	struct shm_segment *seg = router_segment();
	if (!shm_trace_any(seg))
		return 0;
	const char *j[2] = { stz_from(s), stz_to(s) };
	for (int i = 0; i < 2; i++) {
		size_t n = strcspn(j[i], "/");
		if (n && shm_trace_has(seg, j[i], n))
			return ++trace_next;
	}
	return 0;
}

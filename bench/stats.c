/* stats.c — latency samples: an array, sorted once when asked. */
#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>

void samples_add(struct samples *s, int64_t ns)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 4096;
		int64_t *nv = realloc(s->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return; /* a lost sample beats a lost run */
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = ns;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p% of samples at or below. */
double samples_pct_ms(struct samples *s, double p)
{
	if (s->n == 0)
		return NAN;
	if (s->sorted != s->n) {
		qsort(s->v, s->n, sizeof(*s->v), cmp);
		s->sorted = s->n;
	}
	size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return (double)s->v[rank - 1] / 1e6;
}

void samples_clear(struct samples *s)
{
	s->n = s->sorted = 0;
}

void samples_free(struct samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = s->sorted = 0;
}

/* stats.h — latency samples and their percentiles. */
#ifndef XMPPD_BENCH_STATS_H
#define XMPPD_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Every sample is kept: runs are bounded (N logins, rate x duration
 * messages), so exact percentiles cost a few MB at most. */
struct samples {
	int64_t *v;   /* nanoseconds */
	size_t n, cap;
	size_t sorted; /* v[0, sorted) is in order */
};

void samples_add(struct samples *s, int64_t ns);
/* The p-th percentile (0 < p <= 100) in milliseconds; NAN when empty. */
double samples_pct_ms(struct samples *s, double p);
void samples_clear(struct samples *s);
void samples_free(struct samples *s);

#endif

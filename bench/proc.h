/* proc.h — what /proc says about the server under test (its whole process
 * tree: master, router, workers) and about the generator itself. */
#ifndef XMPPD_BENCH_PROC_H
#define XMPPD_BENCH_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* root and its descendants (via /proc/PID/task/TID/children, recursively),
 * at most cap of them; the count found. */
size_t proc_tree(pid_t root, pid_t *out, size_t cap);
/* utime + stime in seconds summed over the tree; -1 when root is gone.
 * Children that already exited are not counted (their time went to the
 * parent's cutime only once reaped). */
double proc_cpu_s(pid_t root);
/* RSS and PSS in kB summed over the tree (smaps_rollup); 0 or -1. */
int proc_mem_kb(pid_t root, long *rss, long *pss, unsigned *nproc);
/* The generator's own user + system CPU seconds. */
double self_cpu_s(void);
/* RLIMIT_NOFILE soft limit up to the hard one; returns the new soft limit. */
long raise_nofile(void);

#endif

/* proc.c — CPU time and memory of a process tree from /proc. */
#include "bench/proc.h"
#include "bench/bench.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define TREE_MAX 4096

static size_t add_children(pid_t pid, pid_t *out, size_t n, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return n;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < cap) {
		if (e->d_name[0] == '.')
			continue;
		char cpath[128];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%.20s/children", (int)pid, e->d_name);
		FILE *f = fopen(cpath, "r");
		if (f == NULL)
			continue;
		long child;
		while (n < cap && fscanf(f, "%ld", &child) == 1) {
			size_t at = n;
			out[n++] = (pid_t)child;
			n = add_children(out[at], out, n, cap);
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

size_t proc_tree(pid_t root, pid_t *out, size_t cap)
{
	if (cap == 0)
		return 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", (int)root);
	if (access(path, F_OK) != 0)
		return 0;
	out[0] = root;
	return add_children(root, out, 1, cap);
}

static int stat_ticks(pid_t pid, unsigned long long *ticks)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* The command name may hold spaces and parentheses: start after the
	 * last ')'. */
	char *p = strrchr(line, ')');
	unsigned long ut, st;
	if (p == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	*ticks = ut + st;
	return 0;
}

double proc_cpu_s(pid_t root)
{
	static pid_t pids[TREE_MAX];
	size_t n = proc_tree(root, pids, TREE_MAX);
	if (n == 0)
		return -1;
	unsigned long long sum = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned long long t;
		if (stat_ticks(pids[i], &t) == 0)
			sum += t;
	}
	return (double)sum / (double)sysconf(_SC_CLK_TCK);
}

int proc_mem_kb(pid_t root, long *rss, long *pss, unsigned *nproc)
{
	static pid_t pids[TREE_MAX];
	size_t n = proc_tree(root, pids, TREE_MAX);
	if (n == 0)
		return -1;
	*rss = *pss = 0;
	*nproc = 0;
	for (size_t i = 0; i < n; i++) {
		char path[64], line[256];
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pids[i]);
		FILE *f = fopen(path, "r");
		if (f == NULL) {
			bench_say("%s: cannot read (permissions?)", path);
			continue;
		}
		long v;
		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "Rss: %ld kB", &v) == 1)
				*rss += v;
			else if (sscanf(line, "Pss: %ld kB", &v) == 1)
				*pss += v;
		}
		fclose(f);
		(*nproc)++;
	}
	return *nproc ? 0 : -1;
}

double self_cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

long raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			return -1;
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

/* util.c — the clock, the overall deadline, failure accounting, messages. */
#include "bench/bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t run_deadline;
static unsigned failures;
static char first_error[600];

int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

bool past_deadline(void)
{
	return run_deadline != 0 && now_ns() >= run_deadline;
}

void bench_fail(const char *fmt, ...)
{
	failures++;
	if (first_error[0] && !opt.verbose)
		return;
	char msg[sizeof(first_error)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!first_error[0])
		memcpy(first_error, msg, sizeof(msg));
	bench_debug("failure: %s", msg);
}

unsigned bench_failures(void)
{
	return failures;
}

const char *bench_first_error(void)
{
	return first_error;
}

void bench_say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("xmppd-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void user_name(unsigned number, char *out, size_t cap)
{
	snprintf(out, cap, "%s%u", opt.prefix, number);
}

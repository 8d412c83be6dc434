/* log.c — leveled logging to stderr, one write(2) per line so lines of
 * different processes sharing the descriptor never interleave. */
#include "lib/log.h"
#include "lib/xs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level cur_level = LOG_LVL_INFO;
static char cur_role[32] = "xmppd";

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_set_level(enum log_level level) { cur_level = level; }
enum log_level log_get_level(void) { return cur_level; }

void log_set_role(const char *role)
{
	snprintf(cur_role, sizeof(cur_role), "%s", role);
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < XS_ARRAY_LEN(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return XS_OK;
		}
	}
	return XS_ERROR;
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level < XS_ARRAY_LEN(level_names) ? level_names[level] : "?";
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > cur_level)
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%d]: ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, ts.tv_nsec / 1000000, log_level_name(level), cur_role,
	                 (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w; /* nowhere left to report a failed log write */
}

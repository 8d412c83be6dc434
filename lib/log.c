/* log.c — leveled logging to stderr, a file or syslog; one write(2) per line
 * (O_APPEND for files) so lines of different processes never interleave. */
#include "lib/log.h"
#include "lib/xs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static enum log_level cur_level = LOG_LVL_INFO;
static char cur_role[32] = "xmppd";
static enum log_target cur_target = LOG_TO_STDERR;
static int log_fd = STDERR_FILENO;
static char *log_path;

static int open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

int log_open(enum log_target target, const char *path)
{
	if (target == LOG_TO_FILE) {
		char *p = strdup(path);
		int fd = p ? open_file(path) : -1;
		if (fd == -1) {
			int e = p ? errno : ENOMEM;
			free(p);
			errno = e;
			return XS_ERROR;
		}
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		free(log_path);
		log_path = p;
		log_fd = fd;
	} else {
		if (log_fd != STDERR_FILENO)
			close(log_fd);
		log_fd = STDERR_FILENO;
		free(log_path);
		log_path = NULL;
	}
	if (target == LOG_TO_SYSLOG)
		openlog("xmppd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (cur_target == LOG_TO_SYSLOG)
		closelog();
	cur_target = target;
	return XS_OK;
}

int log_reopen(void)
{
	if (cur_target != LOG_TO_FILE)
		return XS_OK;
	int fd = open_file(log_path);
	if (fd == -1)
		return XS_ERROR;
	/* dup2 swaps the file under the same descriptor number at once. */
	if (dup2(fd, log_fd) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return XS_ERROR;
	}
	close(fd);
	return XS_OK;
}

int log_chown(uid_t uid, gid_t gid)
{
	if (cur_target != LOG_TO_FILE)
		return XS_OK;
	return fchown(log_fd, uid, gid) == 0 ? XS_OK : XS_ERROR;
}

enum log_target log_get_target(void)
{
	return cur_target;
}

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

static void vlog(int level, const char *label, const char *fmt, va_list ap);

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > cur_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, log_level_name(level), fmt, ap);
	va_end(ap);
}

static int64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* The count of a finished window's lines that were not written. */
static void limit_count(struct log_limit *l)
{
	if (l->suppressed > 0)
		log_msg(l->level, "%s: %" PRIu32 " more not logged (at most %d lines in %d s)", l->what,
		        l->suppressed, LOG_LIMIT_BURST, LOG_LIMIT_WINDOW);
	l->suppressed = 0;
}

void log_limit_flush(struct log_limit *l)
{
	if (mono_s() - l->window < LOG_LIMIT_WINDOW)
		return;
	limit_count(l);
	l->lines = 0;
}

void log_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
{
	if (level > cur_level)
		return;
	int64_t now = mono_s();
	if (now - l->window >= LOG_LIMIT_WINDOW) {
		limit_count(l);
		l->window = now;
		l->lines = 0;
	}
	if (l->lines >= LOG_LIMIT_BURST) {
		l->suppressed++;
		l->level = level;
		return;
	}
	l->lines++;
	va_list ap;
	va_start(ap, fmt);
	vlog(level, log_level_name(level), fmt, ap);
	va_end(ap);
}

void log_trace(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(LOG_LVL_INFO, "trace", fmt, ap);
	va_end(ap);
}

static void vlog(int level, const char *label, const char *fmt, va_list ap)
{
	char line[2048];
	if (cur_target == LOG_TO_SYSLOG) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		int n = snprintf(line, sizeof(line), "%s%s%s: ", label != log_level_name(level) ? label : "",
		                 label != log_level_name(level) ? " " : "", cur_role);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		syslog(prio[(unsigned)level < 4 ? level : 3], "%s", line);
		return;
	}
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%d]: ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, ts.tv_nsec / 1000000, label, cur_role,
	                 (int)getpid());
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(log_fd, line, len);
	(void)w; /* nowhere left to report a failed log write */
}

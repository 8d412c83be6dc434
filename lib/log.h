/* log.h — leveled logging shared by every xmppd process.
 *
 * Each line carries a timestamp, the level, the process role ("master",
 * "router", "worker 1") and its pid.  Lines go to stderr (the default), to a
 * file (opened O_APPEND by the master before it forks, so every process
 * writes whole lines to the same file) or to syslog (facility daemon, ident
 * "xmppd", the level as the priority).  log_set_role() is called once per
 * process after fork; the level can change at any time (reload, xmppctl). */
#ifndef XMPPD_LOG_H
#define XMPPD_LOG_H

#include <stdint.h>
#include <sys/types.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };

enum log_target { LOG_TO_STDERR, LOG_TO_FILE, LOG_TO_SYSLOG };

/* Sends the lines to stderr, syslog or the file `path` (created 0640 when
 * missing).  XS_OK, or XS_ERROR with errno set (nothing changed). */
int log_open(enum log_target target, const char *path);
/* Opens the log file again (after logrotate moved it; SIGUSR1).  Nothing to
 * do for stderr and syslog.  XS_OK or XS_ERROR (the old file stays in use). */
int log_reopen(void);
enum log_target log_get_target(void);
/* Gives the log file to the user the master becomes ((uid_t)-1 keeps the
 * owner).  XS_OK, or XS_ERROR with errno. */
int log_chown(uid_t uid, gid_t gid);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_role(const char *role);

/* Parses "error", "warning", "info", "debug"; returns XS_OK or XS_ERROR. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A stanza-tracing line ("trace ID stage ..."): written whatever the level,
 * labelled "trace". */
void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line that anyone outside can make the server write at will (a refused
 * connection, a refused message): at most LOG_LIMIT_BURST of one limiter's
 * lines in LOG_LIMIT_WINDOW seconds, then one line with the count of those
 * not written, when the window is over (with its next line, or by
 * log_limit_flush, which a periodic task calls).  A limiter is a static
 * struct log_limit initialised with its subject:
 *     static struct log_limit refused = { .what = "refused connections" }; */
#define LOG_LIMIT_BURST  10
#define LOG_LIMIT_WINDOW 60
struct log_limit {
	const char *what;       /* what its lines are about, for the count */
	int64_t window;         /* start of the current window (monotonic seconds) */
	uint32_t lines;         /* written in the current window */
	uint32_t suppressed;    /* not written since the last count */
	enum log_level level;   /* of the lines not written */
};
void log_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_limit_flush(struct log_limit *l);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_get_level() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif

/* cfg_int.h — what the pieces of the configuration loader share (lib/cfg*.c
 * only; everything else goes through lib/cfg.h and lib/cfg_settings.h).
 *
 *   cfg_tree.c      error collection, and pass 1: libyaml events to a bounded
 *                   tree of struct cfg_node that keeps every position
 *   cfg_value.c     reading one value of the tree (a number, a boolean, a
 *                   string), each reporting its own error with position and key
 *   cfg_sections.c  the dedicated parsers of structured settings (hosts,
 *                   listen, host_config, modules, certfiles, trace, log ...)
 *   cfg_settings.c  the table of settings: pass 2, defaults, reload classes
 *   cfg.c           the entry points of lib/cfg.h
 *
 * Errors: every message is one line "FILE:LINE:COL: key 'K': reason" (or
 * "FILE: reason" without a position), collected and emitted sorted by
 * position once the whole file was checked. */
#ifndef XMPPD_LIB_CFG_INT_H
#define XMPPD_LIB_CFG_INT_H

#include "lib/cfg.h"
#include "lib/cfg_settings.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors (cfg_tree.c) */

struct cfg_err_item {
	int line, col;
	size_t seq; /* keeps errors at one position in the order they were found */
	char *text;
};

struct cfg_errs {
	const char *file;
	cfg_err_fn *fn;
	void *arg;
	struct cfg_err_item *v;
	size_t n, cap;
	size_t unsorted; /* emitted at once for want of memory, still failures */
};

/* Records one error; line 0: the file itself, no position; key NULL or "":
 * none named. */
void cfg_verr(struct cfg_errs *e, int line, int col, const char *key, const char *fmt,
              va_list ap) __attribute__((format(printf, 5, 0)));
void cfg_err_at(struct cfg_errs *e, int line, int col, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Emits what was recorded, sorted by position, and forgets it. */
void cfg_errs_flush(struct cfg_errs *e);
/* Replaces control characters by '?': a message is one line whatever the
 * file holds. */
void cfg_one_line(char *s);

/* ---- the tree (cfg_tree.c) */

/* Parses buf into *root (a CFG_MAP without children when there is no
 * document).  False when the tree is incomplete and must not be checked;
 * every problem was recorded in e.  *root is freed with cfg_node_free. */
bool cfg_tree_build(struct cfg_errs *e, const char *buf, size_t len, struct cfg_node *root);
void cfg_node_free(struct cfg_node *n);
/* A node whose problem was already reported (alias, too deep, NUL byte): the
 * checks skip it so one mistake does not cascade into several messages. */
bool cfg_node_poisoned(const struct cfg_node *n);

/* ---- pass 2 (cfg_value.c, cfg_sections.c, cfg_settings.c) */

struct cfg_loader {
	struct cfg_errs *e;
	struct cfg *c;
	const struct cfg_node *root;
};

/* An error about the value n, at its position. */
void cfg_l_err(struct cfg_loader *L, const struct cfg_node *n, const char *key,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void cfg_l_oom(struct cfg_loader *L);

/* Each reader reports what is wrong ("expected WHAT, found ...") and returns
 * false; a poisoned node is false without a second message. */
bool cfg_want_scalar(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                     const char *what);
bool cfg_want_kind(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                   enum cfg_node_kind kind, const char *what);
bool cfg_get_uint(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                  const char *what, uint64_t min, uint64_t max, uint64_t *out);
bool cfg_get_bool(struct cfg_loader *L, const struct cfg_node *n, const char *key, bool *out);
bool cfg_get_open_closed(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                         bool *open);
/* A non-empty scalar copied into *dst (the old value freed), else reported
 * as "expected WHAT". */
void cfg_set_str(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                 const char *what, char **dst);

enum cfg_dec { CFG_DEC_OK, CFG_DEC_NOT_DIGITS, CFG_DEC_LEADING_ZERO, CFG_DEC_OVERFLOW };
/* Plain decimal digits only (no sign, base prefix, underscore or leading zero). */
enum cfg_dec cfg_parse_dec(const char *s, uint64_t *out);

/* An unsigned field of `size` bytes (1, 2, 4 or 8) at p. */
uint64_t cfg_uint_load(const void *p, size_t size);
void cfg_uint_store(void *p, size_t size, uint64_t v);

/* ---- the dedicated parsers of cfg_sections.c, named in the table */

cfg_parse_fn cfg_parse_hosts, cfg_parse_loglevel, cfg_parse_registration, cfg_parse_workers,
	cfg_parse_ring_size, cfg_parse_listen, cfg_parse_certfiles, cfg_parse_trace,
	cfg_parse_host_config, cfg_parse_modules, cfg_parse_log, cfg_parse_account;
bool cfg_hosts_same(const struct cfg *a, const struct cfg *b);
void cfg_hosts_swap(struct cfg *a, struct cfg *b);
void cfg_hosts_free(struct cfg *c);
bool cfg_modules_same(const struct cfg *a, const struct cfg *b);
void cfg_modules_swap(struct cfg *a, struct cfg *b);
void cfg_modules_free(struct cfg *c);
bool cfg_log_same(const struct cfg *a, const struct cfg *b);
void cfg_log_free(struct cfg *c);
void cfg_listen_free(struct cfg *c);
void cfg_certfiles_free(struct cfg *c);
void cfg_trace_free(struct cfg *c);
int cfg_default_workers(struct cfg *c);
int cfg_default_modules_dir(struct cfg *c);
int cfg_default_control_socket(struct cfg *c);

/* Pass 2 over the whole tree: every setting of the table, then the rules
 * between settings (cfg_settings.c). */
void cfg_settings_load(struct cfg_loader *L, struct cfg_node *root);
/* Frees what the settings of c own (cfg_settings.c). */
void cfg_settings_free(struct cfg *c);

#endif

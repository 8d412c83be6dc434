/* cfgopt.h — option tables: the keys of one YAML map (a module's options)
 * declared as data, like nginx's command tables, and parsed, range-checked
 * and defaulted from that declaration alone.
 *
 * A table is an array of struct cfgopt ended by CFGOPT_END; each entry names
 * a key, its type, its default, its range and the field of the owner's struct
 * it fills (the CFGOPT_* macros take the struct and the field):
 *
 *     struct opts { uint32_t max_items; bool show; char *name; };
 *     static const struct cfgopt OPTS[] = {
 *         CFGOPT_UINT("max_items", struct opts, max_items, 2000, 1, 100000),
 *         CFGOPT_BOOL("show", struct opts, show, false),
 *         CFGOPT_STRING("name", struct opts, name, "x", .restart = true),
 *         CFGOPT_END };
 *
 * Values: a bool is exactly true or false; a number is decimal (an optional
 * leading '+' or blanks, no '-'), within [min, max], or the table's max_word
 * ("infinity") for max; a string is any non-empty scalar (owned by the
 * struct: cfgopt_free); an enum is one of its words, stored as its index.
 *
 * Errors are one line each, naming the file, the line and column, the owner
 * and the key:
 *     FILE:L:C: module 'M': unknown option 'K' (known: a, b)    (it has none)
 *     FILE:L:C: module 'M': option 'K': expected a number from 1 to 100
 * They go to the callback of the run (cfg.h's cfg_err_fn), else to log_error.
 * Every bad key is reported, not just the first. */
#ifndef XMPPD_LIB_CFGOPT_H
#define XMPPD_LIB_CFGOPT_H

#include "lib/cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfgopt_type { CFGOPT_BOOL, CFGOPT_UINT, CFGOPT_STRING, CFGOPT_ENUM };

struct cfgopt {
	const char *name;          /* NULL: the end of the table */
	enum cfgopt_type type;
	size_t off, size;          /* the field: a bool, an unsigned of 1-8 bytes, a char * */
	uint64_t def, min, max;    /* BOOL, UINT, ENUM (def and the value: a word's index) */
	const char *def_str;       /* STRING: the default (NULL: none) */
	const char *const *words;  /* ENUM: the words, NULL-terminated */
	const char *max_word;      /* UINT: a word meaning max (NULL: none) */
	bool restart;              /* a reload keeps the running value (logged as needing a
	                            * restart); else the new value applies live */
};

#define CFGOPT_FIELD_(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)
#define CFGOPT_UINT(n, T, f, d, lo, hi, ...) \
	{ .name = n, .type = CFGOPT_UINT, CFGOPT_FIELD_(T, f), .def = d, .min = lo, .max = hi, \
	  __VA_ARGS__ }
#define CFGOPT_BOOL(n, T, f, d, ...) \
	{ .name = n, .type = CFGOPT_BOOL, CFGOPT_FIELD_(T, f), .def = d, __VA_ARGS__ }
#define CFGOPT_STRING(n, T, f, d, ...) \
	{ .name = n, .type = CFGOPT_STRING, CFGOPT_FIELD_(T, f), .def_str = d, __VA_ARGS__ }
#define CFGOPT_ENUM(n, T, f, d, w, ...) \
	{ .name = n, .type = CFGOPT_ENUM, CFGOPT_FIELD_(T, f), .def = d, .words = w, __VA_ARGS__ }
#define CFGOPT_END { .name = NULL }

/* One parse of one map. */
struct cfgopt_run {
	const struct cfgopt *opts; /* NULL: the owner takes no options */
	const struct cfg_node *map;/* a CFG_MAP, or NULL / an empty scalar: nothing given */
	const char *file;          /* named in messages */
	const char *owner;         /* the module's name */
	cfg_err_fn *err;           /* NULL: log_error */
	void *arg;
	unsigned errors;           /* how many were reported */
};

/* Fills conf (every field of the table) with the defaults, then with the
 * values of the map.  XS_OK, or XS_ERROR after reporting every problem; the
 * strings in conf are then freed already.  No memory: XS_ERROR, reported. */
int cfgopt_parse(struct cfgopt_run *run, void *conf);
/* Frees the strings of conf (a parsed struct), leaving NULLs. */
void cfgopt_free(const struct cfgopt *opts, void *conf);
/* Whether the map gave `name` (for rules between options). */
bool cfgopt_given(const struct cfgopt_run *run, const char *name);
/* Reports an error about option `name` (at its value, else at the map). */
void cfgopt_error(struct cfgopt_run *run, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Reload: for each `restart` option whose value differs between the new
 * conf n and the running one, logs "reload: module 'M': option 'K' changed:
 * needs a restart (not applied)" and swaps the two values (n keeps running's,
 * each stays freeable).  Returns how many. */
unsigned cfgopt_keep_running(const struct cfgopt *opts, void *n, void *running,
                             const char *owner);

#endif

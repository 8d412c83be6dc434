/* cfg_settings.h — the table of top-level settings of xmppd.yml.
 *
 * Every setting is declared once, in lib/cfg_settings.c: its name, type,
 * default, where it goes in struct cfg, its range and its reload class.  That
 * one entry drives the loader (cfg_load, and so `xmppd -t`), the defaults of
 * what the file leaves out, what a reload applies and what it keeps for a
 * restart (cfg_keep_running), and freeing.  Structured settings (hosts,
 * listen, host_config, modules, certfiles, trace, log) keep a dedicated
 * parser named by their entry; the limits map is a table of its own (sub).
 * man/xmppd.yml.5 documents them for operators. */
#ifndef XMPPD_LIB_CFG_SETTINGS_H
#define XMPPD_LIB_CFG_SETTINGS_H

#include "lib/cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_type {
	CFG_T_UINT,    /* unsigned field of `size` bytes: decimal digits in [min, max] */
	CFG_T_BOOL,    /* bool field */
	CFG_T_STR,     /* char * field (owned): a non-empty scalar */
	CFG_T_SECTION, /* a structured value: its parser, comparison, swap and free below */
	CFG_T_MAP,     /* a map whose keys are the settings of sub[] */
};

enum cfg_reload {
	CFG_LIVE,      /* a reload applies the new value */
	CFG_RESTART,   /* a reload keeps the running value and logs "needs a restart" */
	CFG_STARTUP,   /* a reload keeps the running value silently (the pidfile written at start) */
};

struct cfg_loader; /* lib/cfg_int.h */
struct cfg_setting;

/* Parses n (the value of key `key`) into the loader's struct cfg, reporting
 * every error through the loader. */
typedef void cfg_parse_fn(struct cfg_loader *L, struct cfg_node *n, const char *key,
                          const struct cfg_setting *s);

struct cfg_setting {
	const char *name;
	enum cfg_type type;
	enum cfg_reload reload;
	size_t off, size;          /* the field in struct cfg (not for CFG_T_SECTION) */
	uint64_t min, max;         /* CFG_T_UINT */
	uint64_t def;              /* CFG_T_UINT, CFG_T_BOOL: the default */
	const char *def_str;       /* CFG_T_STR: the default (NULL: none, or dflt) */
	int (*dflt)(struct cfg *c);/* a computed default for a field left 0 or NULL (XS_ERROR:
	                            * out of memory) */
	const char *what;          /* what the value must be, for "expected WHAT" */
	bool required;             /* "required key is missing" when absent */
	cfg_parse_fn *parse;       /* NULL: the parser of the type */
	const char *restart_note;  /* CFG_RESTART: appended to "(not applied" */
	const struct cfg_setting *sub; /* CFG_T_MAP */
	size_t nsub;
	/* CFG_T_SECTION: equal in two configs, exchanged between them, freed. */
	bool (*same)(const struct cfg *a, const struct cfg *b);
	void (*swap)(struct cfg *a, struct cfg *b);
	void (*free)(struct cfg *c);
};

/* The table, in the order settings are checked (a setting may depend on one
 * before it: host_config on hosts, control_socket on run_dir). */
const struct cfg_setting *cfg_settings(size_t *n);
/* A setting by name; "limits.auth_timeout" names one inside a map.  NULL:
 * no such setting. */
const struct cfg_setting *cfg_setting(const char *name);
/* Whether s has the same value in a and b (a map: every key of it). */
bool cfg_setting_same(const struct cfg_setting *s, const struct cfg *a, const struct cfg *b);

#endif

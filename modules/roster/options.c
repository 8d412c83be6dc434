/* options.c — parses the roster module's options (options.h) against a
 * table of {name, range, default, field}. */
#include "modules/roster/options.h"
#include "router/module.h"
#include "lib/log.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct optdef {
	const char *name;
	uint32_t min, max, def;
	size_t off;
};

static const struct optdef OPTS[] = {
	{ "max_items", 1, 100000, 2000, offsetof(struct roster_opts, max_items) },
	{ "max_groups", 0, 255, 32, offsetof(struct roster_opts, max_groups) },
	{ "max_name_len", 1, 4096, 1023, offsetof(struct roster_opts, max_name) },
	{ "max_group_len", 1, 4096, 1023, offsetof(struct roster_opts, max_group) },
};

int roster_opts_parse(const struct cfg_node *opts, struct roster_opts *out)
{
	const struct cfg *cfg = mod_cfg();
	const char *file = cfg && cfg->path ? cfg->path : "config";
	for (size_t i = 0; i < XS_ARRAY_LEN(OPTS); i++)
		*(uint32_t *)((char *)out + OPTS[i].off) = OPTS[i].def;
	if (opts == NULL || (opts->kind == CFG_SCALAR && opts->value[0] == '\0'))
		return XS_OK;
	if (opts->kind != CFG_MAP) {
		log_error("%s:%d:%d: module roster: options must be a map", file, opts->line, opts->col);
		return XS_ERROR;
	}
	int rc = XS_OK;
	for (size_t c = 0; c < opts->nchildren; c++) {
		const struct cfg_node *n = &opts->children[c];
		const struct optdef *d = NULL;
		for (size_t i = 0; i < XS_ARRAY_LEN(OPTS); i++)
			if (n->key && strcmp(n->key, OPTS[i].name) == 0)
				d = &OPTS[i];
		if (d == NULL) {
			log_error("%s:%d:%d: module roster: unknown option '%s'", file, n->key_line,
			          n->key_col, n->key ? n->key : "");
			rc = XS_ERROR;
			continue;
		}
		char *end = NULL;
		unsigned long v = n->kind == CFG_SCALAR ? strtoul(n->value, &end, 10) : 0;
		if (n->kind != CFG_SCALAR || end == n->value || *end != '\0' || n->value[0] == '-' ||
		    v < d->min || v > d->max) {
			log_error("%s:%d:%d: module roster: option '%s': expected a number from %" PRIu32
			          " to %" PRIu32, file, n->line, n->col, d->name, d->min, d->max);
			rc = XS_ERROR;
			continue;
		}
		*(uint32_t *)((char *)out + d->off) = (uint32_t)v;
	}
	return rc;
}
/* options.c — parses the vcard module's options (options.h). */
#include "modules/vcard/options.h"
#include "router/module.h"
#include "lib/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int opt_error(const struct cfg_node *n, const char *what)
{
	const struct cfg *cfg = mod_cfg();
	log_error("%s:%d:%d: module vcard: option '%s': %s", cfg && cfg->path ? cfg->path : "config",
	          n->key_line, n->key_col, n->key ? n->key : "?", what);
	return XS_ERROR;
}

static int opt_bool(const struct cfg_node *n, bool *out)
{
	if (n->kind == CFG_SCALAR && strcmp(n->value, "true") == 0)
		*out = true;
	else if (n->kind == CFG_SCALAR && strcmp(n->value, "false") == 0)
		*out = false;
	else
		return opt_error(n, "expected true or false");
	return XS_OK;
}

static bool num_ok(const struct cfg_node *n, unsigned long min, unsigned long max,
                   unsigned long *out)
{
	char *end;
	if (n->kind != CFG_SCALAR || n->value[0] < '0' || n->value[0] > '9')
		return false;
	unsigned long v = strtoul(n->value, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int opt_num(const struct cfg_node *n, unsigned long min, unsigned long max,
                   const char *alt, unsigned long *out)
{
	if (num_ok(n, min, max, out))
		return XS_OK;
	char what[96];
	snprintf(what, sizeof(what), "expected a number from %lu to %lu%s%s", min, max,
	         alt ? " or " : "", alt ? alt : "");
	return opt_error(n, what);
}

static int opt_text(const struct cfg_node *n, char **out)
{
	if (n->kind != CFG_SCALAR || n->value[0] == '\0')
		return opt_error(n, "expected a non-empty text");
	char *v = strdup(n->value);
	if (v == NULL)
		return XS_ERROR;
	free(*out);
	*out = v;
	return XS_OK;
}

void vcard_opts_free(struct vcard_opts *o)
{
	free(o->search_host);
	free(o->name);
	o->search_host = o->name = NULL;
}

static int opt_one(const struct cfg_node *n, struct vcard_opts *o)
{
	unsigned long v;
	const char *k = n->key ? n->key : "";
	if (strcmp(k, "max_size") == 0) {
		if (opt_num(n, 1024, 16777216, NULL, &v) != XS_OK)
			return XS_ERROR;
		o->max_size = v;
	} else if (strcmp(k, "search") == 0) {
		return opt_bool(n, &o->search);
	} else if (strcmp(k, "search_host") == 0) {
		return opt_text(n, &o->search_host);
	} else if (strcmp(k, "name") == 0) {
		return opt_text(n, &o->name);
	} else if (strcmp(k, "matches") == 0) {
		if (n->kind == CFG_SCALAR && strcmp(n->value, "infinity") == 0)
			v = MATCHES_CAP;
		else if (opt_num(n, 1, MATCHES_CAP, "infinity", &v) != XS_OK)
			return XS_ERROR;
		o->matches = (unsigned)v;
	} else if (strcmp(k, "allow_return_all") == 0) {
		return opt_bool(n, &o->allow_return_all);
	} else if (strcmp(k, "max_scan") == 0) {
		if (opt_num(n, 100, 1000000, NULL, &v) != XS_OK)
			return XS_ERROR;
		o->max_scan = (unsigned)v;
	} else {
		return opt_error(n, "unknown option (max_size, search, search_host, name, matches, "
		                    "allow_return_all, max_scan)");
	}
	return XS_OK;
}

int vcard_opts_parse(const struct cfg_node *opts, struct vcard_opts *o)
{
	*o = (struct vcard_opts){ .max_size = 65536, .search = true, .matches = 30,
	                          .allow_return_all = false, .max_scan = 10000,
	                          .search_host = strdup("vjud.@HOST@"),
	                          .name = strdup("vCard User Search") };
	if (o->search_host == NULL || o->name == NULL) {
		vcard_opts_free(o);
		return XS_ERROR;
	}
	int rc = XS_OK;
	if (opts && opts->kind == CFG_MAP) {
		for (size_t i = 0; i < opts->nchildren; i++)
			if (opt_one(&opts->children[i], o) != XS_OK)
				rc = XS_ERROR;
	} else if (opts && !(opts->kind == CFG_SCALAR && opts->value[0] == '\0')) {
		log_error("module vcard: options must be a map");
		rc = XS_ERROR;
	}
	if (rc != XS_OK)
		vcard_opts_free(o);
	return rc;
}

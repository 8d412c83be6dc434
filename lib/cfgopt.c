/* cfgopt.c — parsing a map of options against its table.  Contract:
 * lib/cfgopt.h. */
#include "lib/cfgopt.h"
#include "lib/cfg_int.h"
#include "lib/xs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report(struct cfgopt_run *run, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(struct cfgopt_run *run, int line, int col, const char *fmt, ...)
{
	char buf[1024];
	int len = snprintf(buf, sizeof(buf), "%s:%d:%d: module '%s': ",
	                   run->file ? run->file : "config", line, col, run->owner);
	if (len >= 0 && (size_t)len < sizeof(buf)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(buf + len, sizeof(buf) - (size_t)len, fmt, ap);
		va_end(ap);
	}
	cfg_one_line(buf);
	run->errors++;
	if (run->err)
		run->err(run->arg, buf);
	else
		log_error("%s", buf);
}

static void *field(void *conf, const struct cfgopt *o)
{
	return (char *)conf + o->off;
}

static const void *cfield(const void *conf, const struct cfgopt *o)
{
	return (const char *)conf + o->off;
}

static const struct cfgopt *find(const struct cfgopt *opts, const char *name)
{
	for (const struct cfgopt *o = opts; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/* "(known: a, b, c)" or "(it has none)". */
static void known_list(const struct cfgopt *opts, char *buf, size_t cap)
{
	if (opts == NULL || opts->name == NULL) {
		snprintf(buf, cap, "(it has none)");
		return;
	}
	size_t len = 0;
	for (const struct cfgopt *o = opts; o->name && len < cap; o++) {
		int n = snprintf(buf + len, cap - len, "%s%s", o == opts ? "(known: " : ", ", o->name);
		len = n < 0 ? cap : len + (size_t)n;
	}
	if (len < cap)
		snprintf(buf + len, cap - len, ")");
}

static void set_default(const struct cfgopt *o, void *conf)
{
	switch (o->type) {
	case CFGOPT_BOOL:
		*(bool *)field(conf, o) = o->def != 0;
		break;
	case CFGOPT_UINT:
	case CFGOPT_ENUM:
		cfg_uint_store(field(conf, o), o->size, o->def);
		break;
	case CFGOPT_STRING:
		*(char **)field(conf, o) = NULL;
		break;
	}
}

/* Decimal as strtoull reads it (blanks and '+' before the digits), no '-'. */
static bool read_uint(const struct cfgopt *o, const char *s, uint64_t *out)
{
	if (o->max_word && strcmp(s, o->max_word) == 0) {
		*out = o->max;
		return true;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || s[0] == '-' || v < o->min || v > o->max)
		return false;
	*out = v;
	return true;
}

static void expected(struct cfgopt_run *run, const struct cfg_node *n, const struct cfgopt *o)
{
	char words[256] = "";
	size_t len = 0;
	switch (o->type) {
	case CFGOPT_BOOL:
		report(run, n->line, n->col, "option '%s': expected true or false", o->name);
		break;
	case CFGOPT_UINT:
		report(run, n->line, n->col, "option '%s': expected a number from %llu to %llu%s%s",
		       o->name, (unsigned long long)o->min, (unsigned long long)o->max,
		       o->max_word ? " or " : "", o->max_word ? o->max_word : "");
		break;
	case CFGOPT_STRING:
		report(run, n->line, n->col, "option '%s': expected a non-empty text", o->name);
		break;
	case CFGOPT_ENUM:
		for (size_t i = 0; o->words[i] && len < sizeof(words); i++) {
			int k = snprintf(words + len, sizeof(words) - len, "%s%s", i ? ", " : "",
			                 o->words[i]);
			len = k < 0 ? sizeof(words) : len + (size_t)k;
		}
		report(run, n->line, n->col, "option '%s': expected one of %s", o->name, words);
		break;
	}
}

/* XS_OK, XS_ERROR (reported), XS_AGAIN: no memory. */
static int set_value(const struct cfgopt *o, const struct cfg_node *n, void *conf)
{
	const char *v = n->kind == CFG_SCALAR ? n->value : NULL;
	if (v == NULL)
		return XS_ERROR;
	uint64_t u;
	switch (o->type) {
	case CFGOPT_BOOL:
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
			return XS_ERROR;
		*(bool *)field(conf, o) = v[0] == 't';
		return XS_OK;
	case CFGOPT_UINT:
		if (!read_uint(o, v, &u))
			return XS_ERROR;
		cfg_uint_store(field(conf, o), o->size, u);
		return XS_OK;
	case CFGOPT_STRING: {
		if (v[0] == '\0')
			return XS_ERROR;
		char *s = strdup(v);
		if (s == NULL)
			return XS_AGAIN;
		char **dst = field(conf, o);
		free(*dst);
		*dst = s;
		return XS_OK;
	}
	case CFGOPT_ENUM:
		for (size_t i = 0; o->words[i]; i++) {
			if (strcmp(v, o->words[i]) == 0) {
				cfg_uint_store(field(conf, o), o->size, i);
				return XS_OK;
			}
		}
		return XS_ERROR;
	}
	return XS_ERROR;
}

static int fill_default_strings(const struct cfgopt *opts, void *conf)
{
	for (const struct cfgopt *o = opts; o && o->name; o++) {
		char **dst = field(conf, o);
		if (o->type == CFGOPT_STRING && *dst == NULL && o->def_str &&
		    (*dst = strdup(o->def_str)) == NULL)
			return XS_ERROR;
	}
	return XS_OK;
}

int cfgopt_parse(struct cfgopt_run *run, void *conf)
{
	run->errors = 0;
	for (const struct cfgopt *o = run->opts; o && o->name; o++)
		set_default(o, conf);
	const struct cfg_node *map = run->map;
	bool oom = false;
	for (size_t i = 0; map && map->kind == CFG_MAP && i < map->nchildren; i++) {
		const struct cfg_node *n = &map->children[i];
		const struct cfgopt *o = find(run->opts, n->key);
		if (o == NULL) {
			char known[512];
			known_list(run->opts, known, sizeof(known));
			report(run, n->key_line, n->key_col, "unknown option '%s' %s", n->key, known);
			continue;
		}
		int rc = set_value(o, n, conf);
		if (rc == XS_ERROR)
			expected(run, n, o);
		oom = oom || rc == XS_AGAIN;
	}
	if (map && map->kind != CFG_MAP && !(map->kind == CFG_SCALAR && map->value &&
	                                     map->value[0] == '\0'))
		report(run, map->line, map->col, "options must be a map");
	if (!oom && fill_default_strings(run->opts, conf) != XS_OK)
		oom = true;
	if (oom)
		report(run, map ? map->line : 0, map ? map->col : 0, "out of memory");
	if (run->errors) {
		cfgopt_free(run->opts, conf);
		return XS_ERROR;
	}
	return XS_OK;
}

void cfgopt_free(const struct cfgopt *opts, void *conf)
{
	for (const struct cfgopt *o = opts; o && o->name; o++) {
		if (o->type == CFGOPT_STRING) {
			char **p = field(conf, o);
			free(*p);
			*p = NULL;
		}
	}
}

bool cfgopt_given(const struct cfgopt_run *run, const char *name)
{
	return cfg_node_get(run->map, name) != NULL;
}

void cfgopt_error(struct cfgopt_run *run, const char *name, const char *fmt, ...)
{
	const struct cfg_node *n = cfg_node_get(run->map, name);
	const struct cfg_node *at = n ? n : run->map;
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	report(run, at ? at->line : 0, at ? at->col : 0, "option '%s': %s", name, text);
}

static bool same(const struct cfgopt *o, const void *a, const void *b)
{
	if (o->type != CFGOPT_STRING)
		return memcmp(cfield(a, o), cfield(b, o), o->size) == 0;
	const char *x = *(char *const *)cfield(a, o), *y = *(char *const *)cfield(b, o);
	return (x == NULL && y == NULL) || (x && y && strcmp(x, y) == 0);
}

unsigned cfgopt_keep_running(const struct cfgopt *opts, void *n, void *running,
                             const char *owner)
{
	unsigned k = 0;
	for (const struct cfgopt *o = opts; o && o->name; o++) {
		if (!o->restart || same(o, n, running))
			continue;
		log_warn("reload: module '%s': option '%s' changed: needs a restart (not applied)",
		         owner, o->name);
		unsigned char tmp[sizeof(uint64_t)];
		memcpy(tmp, field(n, o), o->size);
		memcpy(field(n, o), field(running, o), o->size);
		memcpy(field(running, o), tmp, o->size);
		k++;
	}
	return k;
}

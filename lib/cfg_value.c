/* cfg_value.c — reading one value of the configuration tree: each reader
 * checks the node's kind and value and reports what is wrong with position
 * and key.  Contract: lib/cfg_int.h. */
#include "lib/cfg_int.h"
#include "lib/xs.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cfg_l_err(struct cfg_loader *L, const struct cfg_node *n, const char *key,
               const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cfg_verr(L->e, n->line, n->col, key, fmt, ap);
	va_end(ap);
}

void cfg_l_oom(struct cfg_loader *L)
{
	cfg_err_at(L->e, 0, 0, NULL, "out of memory");
}

static const char *kind_name(const struct cfg_node *n)
{
	switch (n->kind) {
	case CFG_MAP: return "a map";
	case CFG_SEQ: return "a list";
	default: return n->value && !*n->value ? "an empty value" : "a scalar";
	}
}

/* A non-empty scalar, else an error "expected WHAT, found ...". */
bool cfg_want_scalar(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                     const char *what)
{
	if (cfg_node_poisoned(n))
		return false;
	if (n->kind != CFG_SCALAR || !*n->value) {
		cfg_l_err(L, n, key, "expected %s, found %s", what, kind_name(n));
		return false;
	}
	return true;
}

bool cfg_want_kind(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                   enum cfg_node_kind kind, const char *what)
{
	if (cfg_node_poisoned(n))
		return false;
	if (n->kind != kind) {
		cfg_l_err(L, n, key, "expected %s, found %s", what, kind_name(n));
		return false;
	}
	return true;
}

/* Plain decimal digits only.  A sign, a base prefix, YAML 1.1 underscores or
 * a leading zero (octal to a YAML 1.1 reader) would each mean something else
 * to some other tool reading the same file, so none is accepted. */
enum cfg_dec cfg_parse_dec(const char *s, uint64_t *out)
{
	if (!*s)
		return CFG_DEC_NOT_DIGITS;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return CFG_DEC_NOT_DIGITS;
	if (s[0] == '0' && s[1])
		return CFG_DEC_LEADING_ZERO;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	static_assert(sizeof(v) == sizeof(*out), "strtoull covers uint64_t");
	if (errno == ERANGE || *end)
		return CFG_DEC_OVERFLOW;
	*out = v;
	return CFG_DEC_OK;
}

bool cfg_get_uint(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                  const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!cfg_want_scalar(L, n, key, what))
		return false;
	uint64_t v = 0;
	enum cfg_dec r = cfg_parse_dec(n->value, &v);
	if (r == CFG_DEC_NOT_DIGITS) {
		cfg_l_err(L, n, key, "expected %s, found '%.64s'", what, n->value);
		return false;
	}
	if (r == CFG_DEC_LEADING_ZERO) {
		cfg_l_err(L, n, key, "leading zeros are not allowed in '%.64s'", n->value);
		return false;
	}
	if (r == CFG_DEC_OVERFLOW || v < min || v > max) {
		cfg_l_err(L, n, key, "must be between %llu and %llu", (unsigned long long)min,
		          (unsigned long long)max);
		return false;
	}
	*out = v;
	return true;
}

/* YAML's true/false (and the YAML 1.1 spellings operators still write). */
bool cfg_get_bool(struct cfg_loader *L, const struct cfg_node *n, const char *key, bool *out)
{
	if (!cfg_want_scalar(L, n, key, "true or false"))
		return false;
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	for (size_t i = 0; i < XS_ARRAY_LEN(yes); i++) {
		if (strcasecmp(n->value, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(n->value, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	cfg_l_err(L, n, key, "expected true or false, found '%.64s'", n->value);
	return false;
}

void cfg_set_str(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                 const char *what, char **dst)
{
	if (!cfg_want_scalar(L, n, key, what))
		return;
	char *s = strdup(n->value);
	if (!s) {
		cfg_l_oom(L);
		return;
	}
	free(*dst);
	*dst = s;
}

/* NULL when h (lowercase, trailing dot already removed) is a plain ASCII
 * host name; else what is wrong with it. */

bool cfg_get_open_closed(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                         bool *open)
{
	if (!cfg_want_scalar(L, n, key, "open or closed"))
		return false;
	if (strcmp(n->value, "open") == 0 || strcmp(n->value, "closed") == 0) {
		*open = n->value[0] == 'o';
		return true;
	}
	cfg_l_err(L, n, key, "expected open or closed, found '%.64s'", n->value);
	return false;
}

uint64_t cfg_uint_load(const void *p, size_t size)
{
	switch (size) {
	case 1: return *(const uint8_t *)p;
	case 2: { uint16_t v; memcpy(&v, p, sizeof(v)); return v; }
	case 4: { uint32_t v; memcpy(&v, p, sizeof(v)); return v; }
	default: { uint64_t v; memcpy(&v, p, sizeof(v)); return v; }
	}
}

void cfg_uint_store(void *p, size_t size, uint64_t v)
{
	switch (size) {
	case 1: *(uint8_t *)p = (uint8_t)v; break;
	case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, sizeof(x)); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, sizeof(x)); break; }
	default: memcpy(p, &v, sizeof(v)); break;
	}
}

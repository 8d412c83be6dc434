/* cfg_settings.c — the table of top-level settings, and what it drives: pass 2
 * of the loader (each setting parsed or given its default), the rules between
 * settings, the reload classes (cfg_keep_running) and freeing.  Contract:
 * lib/cfg_settings.h; the pieces it uses: lib/cfg_int.h. */
#include "lib/cfg_int.h"
#include "lib/xs.h"
#include "shm/shm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define FIELD(f) .off = offsetof(struct cfg, f), .size = sizeof(((struct cfg *)0)->f)
#define LIMIT(n, d, hi) \
	{ .name = #n, .type = CFG_T_UINT, .reload = CFG_LIVE, FIELD(limits.n), .def = d, \
	  .max = hi, .what = "a number" }

/* limits: 0 turns a limit off. */
static const struct cfg_setting limits[] = {
	LIMIT(max_connections_per_ip, 64, 1000000),
	LIMIT(connection_rate_per_ip, 120, 1000000),   /* a minute */
	LIMIT(auth_timeout, 30, 3600),                 /* seconds */
	LIMIT(keepalive_interval, 60, 86400),          /* seconds */
	LIMIT(max_auth_failures, 3, 100),
	LIMIT(auth_block_seconds, 60, 86400),
	LIMIT(shaper_bytes_per_second, 50000, 1000000000),
	LIMIT(registration_rate_per_ip, 5, 1000000),   /* an hour */
};

#define PATH(n, d) \
	.name = #n, .type = CFG_T_STR, FIELD(n), .def_str = d, .what = "a path"

/* The order matters where a setting reads another: host_config after hosts,
 * control_socket after run_dir. */
static const struct cfg_setting table[] = {
	{ .name = "hosts", .type = CFG_T_SECTION, .reload = CFG_RESTART, .required = true,
	  .parse = cfg_parse_hosts, .same = cfg_hosts_same, .swap = cfg_hosts_swap,
	  .free = cfg_hosts_free, .restart_note = "; host_config stays as it is too" },
	{ .name = "loglevel", .type = CFG_T_UINT, .reload = CFG_LIVE, FIELD(loglevel),
	  .def = LOG_LVL_INFO, .max = LOG_LVL_DEBUG, .parse = cfg_parse_loglevel },
	{ .name = "workers", .type = CFG_T_UINT, .reload = CFG_RESTART, FIELD(workers), .min = 1,
	  .max = SHM_MAX_WORKERS, .what = "a number or 'auto'", .parse = cfg_parse_workers,
	  .dflt = cfg_default_workers },
	{ PATH(data_dir, "./var/data"), .reload = CFG_RESTART },
	{ PATH(run_dir, "./var/run"), .reload = CFG_RESTART },
	{ PATH(control_socket, NULL), .reload = CFG_RESTART, .dflt = cfg_default_control_socket },
	{ PATH(modules_dir, NULL), .reload = CFG_RESTART, .dflt = cfg_default_modules_dir },
	{ .name = "max_stanza_size", .type = CFG_T_UINT, .reload = CFG_RESTART,
	  FIELD(max_stanza_size), .def = 262144, .min = 1024, .max = 16777216, .what = "a number" },
	{ .name = "scram_iterations", .type = CFG_T_UINT, .reload = CFG_LIVE,
	  FIELD(scram_iterations), .def = 4096, .min = 4096, .max = 1000000, .what = "a number" },
	{ .name = "ring_size", .type = CFG_T_UINT, .reload = CFG_RESTART, FIELD(ring_size),
	  .def = 4194304, .min = 65536, .max = 1073741824, .parse = cfg_parse_ring_size },
	{ .name = "listen", .type = CFG_T_SECTION, .reload = CFG_LIVE, .required = true,
	  .parse = cfg_parse_listen, .free = cfg_listen_free },
	{ .name = "modules", .type = CFG_T_SECTION, .reload = CFG_RESTART,
	  .parse = cfg_parse_modules, .same = cfg_modules_same, .swap = cfg_modules_swap,
	  .free = cfg_modules_free, .restart_note = "; module options stay as they are too: "
	  "change options alone to apply them live" },
	{ .name = "certfiles", .type = CFG_T_SECTION, .reload = CFG_LIVE,
	  .parse = cfg_parse_certfiles, .free = cfg_certfiles_free },
	{ .name = "tls_priority", .type = CFG_T_STR, .reload = CFG_LIVE, FIELD(tls_priority),
	  .def_str = CFG_DEFAULT_TLS_PRIORITY, .what = "a GnuTLS priority string" },
	{ .name = "host_config", .type = CFG_T_SECTION, .reload = CFG_LIVE,
	  .parse = cfg_parse_host_config },
	{ .name = "limits", .type = CFG_T_MAP, .reload = CFG_LIVE, .what = "a map of limits",
	  .sub = limits, .nsub = XS_ARRAY_LEN(limits) },
	{ .name = "registration", .type = CFG_T_BOOL, .reload = CFG_LIVE,
	  FIELD(registration_open), .def = false, .parse = cfg_parse_registration },
	{ .name = "log", .type = CFG_T_SECTION, .reload = CFG_LIVE, .what = "stderr, syslog or a "
	  "file path", .parse = cfg_parse_log, .same = cfg_log_same, .free = cfg_log_free },
	{ .name = "trace", .type = CFG_T_SECTION, .reload = CFG_LIVE, .parse = cfg_parse_trace,
	  .free = cfg_trace_free },
	{ PATH(pidfile, NULL), .reload = CFG_STARTUP },
	{ .name = "user", .type = CFG_T_STR, .reload = CFG_RESTART, FIELD(user),
	  .what = "a user name", .parse = cfg_parse_account },
	{ .name = "group", .type = CFG_T_STR, .reload = CFG_RESTART, FIELD(group),
	  .what = "a group name", .parse = cfg_parse_account },
};

const struct cfg_setting *cfg_settings(size_t *n)
{
	*n = XS_ARRAY_LEN(table);
	return table;
}

static const struct cfg_setting *find(const struct cfg_setting *v, size_t n, const char *name,
                                      size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i].name) == len && memcmp(v[i].name, name, len) == 0)
			return &v[i];
	return NULL;
}

const struct cfg_setting *cfg_setting(const char *name)
{
	const char *dot = strchr(name, '.');
	const struct cfg_setting *s = find(table, XS_ARRAY_LEN(table), name,
	                                   dot ? (size_t)(dot - name) : strlen(name));
	if (s == NULL || dot == NULL)
		return s;
	return s->type == CFG_T_MAP ? find(s->sub, s->nsub, dot + 1, strlen(dot + 1)) : NULL;
}

/* ---- pass 2 --------------------------------------------------------------- */

static void *field(struct cfg *c, const struct cfg_setting *s)
{
	return (char *)c + s->off;
}

static const void *cfield(const struct cfg *c, const struct cfg_setting *s)
{
	return (const char *)c + s->off;
}

static void parse_one(struct cfg_loader *L, struct cfg_node *n, const char *key,
                      const struct cfg_setting *s);

static void parse_map(struct cfg_loader *L, struct cfg_node *n, const char *key,
                      const struct cfg_setting *s)
{
	if (n->kind == CFG_SCALAR && n->value && !*n->value)
		return; /* "limits:" alone: the defaults */
	if (!cfg_want_kind(L, n, key, CFG_MAP, s->what))
		return;
	for (size_t i = 0; i < n->nchildren; i++) {
		struct cfg_node *v = &n->children[i];
		char vkey[96];
		snprintf(vkey, sizeof(vkey), "%s.%.64s", key, v->key);
		const struct cfg_setting *sub = find(s->sub, s->nsub, v->key, strlen(v->key));
		if (sub == NULL)
			cfg_err_at(L->e, v->key_line, v->key_col, vkey, "unknown key");
		else
			parse_one(L, v, vkey, sub);
	}
}

/* The parser of the setting's type, unless it names its own. */
static void parse_one(struct cfg_loader *L, struct cfg_node *n, const char *key,
                      const struct cfg_setting *s)
{
	if (s->parse) {
		s->parse(L, n, key, s);
		return;
	}
	uint64_t v;
	switch (s->type) {
	case CFG_T_UINT:
		if (cfg_get_uint(L, n, key, s->what, s->min, s->max, &v))
			cfg_uint_store(field(L->c, s), s->size, v);
		break;
	case CFG_T_BOOL:
		cfg_get_bool(L, n, key, field(L->c, s));
		break;
	case CFG_T_STR:
		cfg_set_str(L, n, key, s->what, field(L->c, s));
		break;
	case CFG_T_MAP:
		parse_map(L, n, key, s);
		break;
	case CFG_T_SECTION:
		break; /* always has its parser */
	}
}

static void set_defaults(struct cfg *c, const struct cfg_setting *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i].type == CFG_T_UINT)
			cfg_uint_store(field(c, &v[i]), v[i].size, v[i].def);
		else if (v[i].type == CFG_T_BOOL)
			*(bool *)field(c, &v[i]) = v[i].def != 0;
		else if (v[i].type == CFG_T_MAP)
			set_defaults(c, v[i].sub, v[i].nsub);
	}
}

/* A field the file left empty (0, NULL) gets its default; XS_ERROR: no memory. */
static int fill_default(struct cfg *c, const struct cfg_setting *s)
{
	bool empty = s->type == CFG_T_STR ? *(char **)field(c, s) == NULL
	           : s->type == CFG_T_UINT ? cfg_uint_load(field(c, s), s->size) == 0 : false;
	if (!empty)
		return XS_OK;
	if (s->dflt)
		return s->dflt(c);
	if (s->type == CFG_T_STR && s->def_str && !(*(char **)field(c, s) = strdup(s->def_str)))
		return XS_ERROR;
	return XS_OK;
}

/* The largest stanza encoding (lib/stz.h) any process builds: room for the
 * encoding of a max_stanza_size stanza (up to 4 times its text) and an error
 * echoing it, but never more than a ring record holds (a quarter of the
 * ring, less the record header). */
static void set_max_encoded(struct cfg_loader *L, const struct cfg_node *root)
{
	struct cfg *c = L->c;
	size_t want = 4 * c->max_stanza_size + 4096, room = (size_t)(c->ring_size / 4) - 256;
	c->max_encoded = want < room ? want : room;
	if (c->max_encoded < c->max_stanza_size + 4096)
		cfg_err_at(L->e, root->line, root->col, "ring_size",
		           "%" PRIu64 " bytes is too small for max_stanza_size %zu: a ring record "
		           "holds a quarter of the ring", c->ring_size, c->max_stanza_size);
}

/* bind() would fail much later, in the master, with a vaguer message. */
static void check_control_socket(struct cfg_loader *L, const struct cfg_node *root)
{
	const char *path = L->c->control_socket;
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
	if (path == NULL || strlen(path) <= max)
		return;
	const struct cfg_node *ctl = cfg_node_get(root, "control_socket");
	const struct cfg_node *at = ctl ? ctl : cfg_node_get(root, "run_dir");
	if (at)
		cfg_l_err(L, at, ctl ? "control_socket" : "run_dir",
		          "control socket path '%s' is longer than %zu bytes", path, max);
}

void cfg_settings_load(struct cfg_loader *L, struct cfg_node *root)
{
	set_defaults(L->c, table, XS_ARRAY_LEN(table));
	/* An empty document is an empty configuration, reported as missing keys. */
	bool empty = root->kind == CFG_SCALAR && root->value && !*root->value;
	if (empty) {
		/* Its position may be past the last line; the start reads better. */
		root->line = root->col = 1;
	} else if (!cfg_want_kind(L, root, NULL, CFG_MAP, "a map of settings at the top level")) {
		return;
	}
	L->root = root;
	for (size_t i = 0; i < root->nchildren; i++) {
		const struct cfg_node *n = &root->children[i];
		if (find(table, XS_ARRAY_LEN(table), n->key, strlen(n->key)) == NULL)
			cfg_err_at(L->e, n->key_line, n->key_col, n->key, "unknown key");
	}
	for (size_t i = 0; i < XS_ARRAY_LEN(table); i++) {
		struct cfg_node *n = (struct cfg_node *)cfg_node_get(root, table[i].name);
		if (n)
			parse_one(L, n, table[i].name, &table[i]);
		if (fill_default(L->c, &table[i]) != XS_OK) {
			cfg_l_oom(L);
			return;
		}
	}
	set_max_encoded(L, root);
	for (size_t i = 0; i < XS_ARRAY_LEN(table); i++)
		if (table[i].required && cfg_node_get(root, table[i].name) == NULL)
			cfg_err_at(L->e, root->line, root->col, table[i].name, "required key is missing");
	check_control_socket(L, root);
}

/* ---- reload classes ------------------------------------------------------ */

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

bool cfg_setting_same(const struct cfg_setting *s, const struct cfg *a, const struct cfg *b)
{
	switch (s->type) {
	case CFG_T_UINT:
		return cfg_uint_load(cfield(a, s), s->size) == cfg_uint_load(cfield(b, s), s->size);
	case CFG_T_BOOL:
		return *(const bool *)cfield(a, s) == *(const bool *)cfield(b, s);
	case CFG_T_STR:
		return str_same(*(char *const *)cfield(a, s), *(char *const *)cfield(b, s));
	case CFG_T_MAP:
		for (size_t i = 0; i < s->nsub; i++)
			if (!cfg_setting_same(&s->sub[i], a, b))
				return false;
		return true;
	case CFG_T_SECTION:
		return s->same == NULL || s->same(a, b);
	}
	return true;
}

/* n takes run's value of s; run gets n's (each stays freeable). */
static void keep(const struct cfg_setting *s, struct cfg *n, struct cfg *run)
{
	switch (s->type) {
	case CFG_T_UINT:
	case CFG_T_BOOL:
		memcpy(field(n, s), field(run, s), s->size);
		break;
	case CFG_T_STR: {
		char **a = field(n, s), **b = field(run, s), *t = *a;
		*a = *b;
		*b = t;
		break;
	}
	case CFG_T_SECTION:
		if (s->swap)
			s->swap(n, run);
		break;
	case CFG_T_MAP:
		for (size_t i = 0; i < s->nsub; i++)
			keep(&s->sub[i], n, run);
		break;
	}
}

unsigned cfg_keep_running(struct cfg *n, struct cfg *run, bool log)
{
	unsigned k = 0;
	for (size_t i = 0; i < XS_ARRAY_LEN(table); i++) {
		const struct cfg_setting *s = &table[i];
		if (s->reload == CFG_LIVE || cfg_setting_same(s, n, run))
			continue;
		if (s->reload == CFG_RESTART) {
			if (log)
				log_warn("reload: '%s' changed: needs a restart (not applied%s)", s->name,
				         s->restart_note ? s->restart_note : "");
			k++;
		}
		keep(s, n, run);
	}
	/* Derived from max_stanza_size and ring_size, which were kept. */
	n->max_encoded = run->max_encoded;
	return k;
}

void cfg_settings_free(struct cfg *c)
{
	for (size_t i = 0; i < XS_ARRAY_LEN(table); i++) {
		const struct cfg_setting *s = &table[i];
		if (s->type == CFG_T_STR) {
			char **p = field(c, s);
			free(*p);
			*p = NULL;
		} else if (s->type == CFG_T_SECTION && s->free) {
			s->free(c);
		}
	}
}

/* cfg_sections.c — the dedicated parsers of the structured settings of the
 * table in cfg_settings.c (hosts, listen, host_config, modules, certfiles,
 * trace, log, user and group) and of values with a rule of their own (workers,
 * ring_size, loglevel, registration); with the comparison, swap and free of
 * the sections a reload compares.  Contract: lib/cfg_int.h. */
#include "lib/cfg_int.h"
#include "lib/jid.h"
#include "lib/xs.h"
#include "shm/shm.h"

#include <arpa/inet.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEF_LISTEN_IP "0.0.0.0"
#define DEF_CTL_NAME  "xmppd.ctl"

/* ---- hosts */

static const char *host_problem(const char *h)
{
	size_t len = strlen(h);
	if (len == 0)
		return "empty";
	if (len > 253)
		return "longer than 253 characters";
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		char ch = h[i];
		if (ch == '.' || ch == '\0') {
			if (label == 0)
				return "empty label";
			if (label > 63)
				return "label longer than 63 characters";
			if (h[i - label] == '-' || h[i - 1] == '-')
				return "label starts or ends with a hyphen";
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-') {
			label++;
		} else {
			return "only letters, digits, hyphens and dots are allowed";
		}
	}
	return NULL;
}

void cfg_parse_hosts(struct cfg_loader *L, struct cfg_node *n, const char *key,
                     const struct cfg_setting *s)
{
	(void)s;
	if (!cfg_want_kind(L, n, key, CFG_SEQ, "a list of host names"))
		return;
	if (n->nchildren == 0) {
		cfg_l_err(L, n, key, "at least one host is required");
		return;
	}
	struct cfg *c = L->c;
	c->hosts = calloc(n->nchildren, sizeof(*c->hosts));
	c->host_anonymous = calloc(n->nchildren, sizeof(*c->host_anonymous));
	c->host_registration = calloc(n->nchildren, sizeof(*c->host_registration));
	if (!c->hosts || !c->host_anonymous || !c->host_registration) {
		cfg_l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *item = &n->children[i];
		char ikey[32];
		snprintf(ikey, sizeof(ikey), "hosts[%zu]", i);
		if (!cfg_want_scalar(L, item, ikey, "a host name"))
			continue;
		char *h = strdup(item->value);
		if (!h) {
			cfg_l_oom(L);
			return;
		}
		for (char *p = h; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		size_t len = strlen(h);
		if (len > 1 && h[len - 1] == '.')
			h[len - 1] = '\0'; /* the root label: same host */
		const char *why = host_problem(h);
		if (why) {
			cfg_l_err(L, item, ikey, "bad host name '%.64s': %s", item->value, why);
			free(h);
			continue;
		}
		if (cfg_has_host(c, h)) {
			cfg_l_err(L, item, ikey, "duplicate host '%s'", h);
			free(h);
			continue;
		}
		c->hosts[c->nhosts++] = h;
	}
}

bool cfg_hosts_same(const struct cfg *a, const struct cfg *b)
{
	bool same = a->nhosts == b->nhosts;
	for (size_t i = 0; same && i < a->nhosts; i++)
		same = strcmp(a->hosts[i], b->hosts[i]) == 0;
	return same;
}

#define SWAP(a, b)                  \
	do {                            \
		__typeof__(a) swap_ = (a);  \
		(a) = (b);                  \
		(b) = swap_;                \
	} while (0)

/* host_config is per host: it goes along. */
void cfg_hosts_swap(struct cfg *a, struct cfg *b)
{
	SWAP(a->hosts, b->hosts);
	SWAP(a->host_anonymous, b->host_anonymous);
	SWAP(a->host_registration, b->host_registration);
	SWAP(a->nhosts, b->nhosts);
}

void cfg_hosts_free(struct cfg *c)
{
	for (size_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	free(c->hosts);
	free(c->host_anonymous);
	free(c->host_registration);
	c->hosts = NULL;
	c->host_anonymous = NULL;
	c->host_registration = NULL;
	c->nhosts = 0;
}

/* After hosts in the table: it names them. */
void cfg_parse_host_config(struct cfg_loader *L, struct cfg_node *n, const char *key,
                           const struct cfg_setting *s)
{
	(void)s;
	struct cfg *c = L->c;
	if (!cfg_want_kind(L, n, key, CFG_MAP, "a map of host name to settings"))
		return;
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *h = &n->children[i];
		char hkey[96];
		snprintf(hkey, sizeof(hkey), "%s.%.64s", key, h->key);
		size_t idx = 0;
		while (idx < c->nhosts && strcasecmp(c->hosts[idx], h->key) != 0)
			idx++;
		if (idx == c->nhosts) {
			cfg_err_at(L->e, h->key_line, h->key_col, hkey, "not one of hosts");
			continue;
		}
		if (h->kind == CFG_SCALAR && h->value && !*h->value)
			continue; /* "host:" with nothing: no settings */
		if (!cfg_want_kind(L, h, hkey, CFG_MAP, "a map of settings"))
			continue;
		for (size_t j = 0; j < h->nchildren; j++) {
			const struct cfg_node *v = &h->children[j];
			char vkey[128];
			snprintf(vkey, sizeof(vkey), "%s.%.24s", hkey, v->key);
			if (strcmp(v->key, "anonymous") == 0) {
				cfg_get_bool(L, v, vkey, &c->host_anonymous[idx]);
			} else if (strcmp(v->key, "registration") == 0) {
				bool open;
				if (cfg_get_open_closed(L, v, vkey, &open))
					c->host_registration[idx] = open ? 1 : -1;
			} else
				cfg_err_at(L->e, v->key_line, v->key_col, vkey, "unknown key");
		}
	}
}

/* ---- values with a rule of their own */

void cfg_parse_loglevel(struct cfg_loader *L, struct cfg_node *n, const char *key,
                        const struct cfg_setting *s)
{
	(void)s;
	if (!cfg_want_scalar(L, n, key, "a log level"))
		return;
	if (log_level_parse(n->value, &L->c->loglevel) != XS_OK)
		cfg_l_err(L, n, key, "expected error, warning, info or debug, found '%.64s'",
		          n->value);
}

void cfg_parse_registration(struct cfg_loader *L, struct cfg_node *n, const char *key,
                            const struct cfg_setting *s)
{
	(void)s;
	cfg_get_open_closed(L, n, key, &L->c->registration_open);
}

bool cfg_registration_open(const struct cfg *cfg, const char *host)
{
	for (size_t i = 0; host && i < cfg->nhosts; i++)
		if (strcmp(cfg->hosts[i], host) == 0 && cfg->host_registration[i] != 0)
			return cfg->host_registration[i] > 0;
	return cfg->registration_open;
}

/* 'auto' leaves the field 0 for cfg_default_workers. */
void cfg_parse_workers(struct cfg_loader *L, struct cfg_node *n, const char *key,
                       const struct cfg_setting *s)
{
	if (n->kind == CFG_SCALAR && n->value && strcmp(n->value, "auto") == 0)
		return;
	uint64_t v;
	if (cfg_get_uint(L, n, key, s->what, s->min, s->max, &v))
		L->c->workers = (unsigned)v;
}

int cfg_default_workers(struct cfg *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	c->workers = cpus < 1 ? 1 : cpus > (long)SHM_MAX_WORKERS ? SHM_MAX_WORKERS : (unsigned)cpus;
	return XS_OK;
}

void cfg_parse_ring_size(struct cfg_loader *L, struct cfg_node *n, const char *key,
                         const struct cfg_setting *s)
{
	uint64_t v = 0;
	if (!cfg_want_scalar(L, n, key, "a number"))
		return;
	/* One message for every way of being wrong: the rule is short. */
	if (cfg_parse_dec(n->value, &v) != CFG_DEC_OK || v < s->min || v > s->max ||
	    (v & (v - 1)) != 0) {
		cfg_l_err(L, n, key, "must be a power of two between %llu and %llu",
		          (unsigned long long)s->min, (unsigned long long)s->max);
		return;
	}
	L->c->ring_size = v;
}

/* ---- listen */

static void check_listen_entry(struct cfg_loader *L, const struct cfg_node *n, size_t idx,
                               struct cfg_listen *out)
{
	char key[64];
	snprintf(key, sizeof(key), "listen[%zu]", idx);
	if (!cfg_want_kind(L, n, key, CFG_MAP, "a map with port, ip and module"))
		return;
	*out = (struct cfg_listen){ .ip = DEF_LISTEN_IP, .line = n->line };
	bool ok = true, have_port = false, have_module = false;
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *v = &n->children[i];
		snprintf(key, sizeof(key), "listen[%zu].%.32s", idx, v->key);
		if (strcmp(v->key, "port") == 0) {
			have_port = true;
			uint64_t port;
			if (cfg_get_uint(L, v, key, "a port number", 1, 65535, &port))
				out->port = (uint16_t)port;
			else
				ok = false;
		} else if (strcmp(v->key, "ip") == 0) {
			unsigned char addr[sizeof(struct in6_addr)];
			if (!cfg_want_scalar(L, v, key, "an IP address")) {
				ok = false;
			} else if (strlen(v->value) >= sizeof(out->ip) ||
			           (inet_pton(AF_INET, v->value, addr) != 1 &&
			            inet_pton(AF_INET6, v->value, addr) != 1)) {
				cfg_l_err(L, v, key, "bad IP address '%.64s'", v->value);
				ok = false;
			} else {
				memcpy(out->ip, v->value, strlen(v->value) + 1);
			}
		} else if (strcmp(v->key, "tls") == 0) {
			ok = cfg_get_bool(L, v, key, &out->tls) && ok;
		} else if (strcmp(v->key, "allow_plaintext_auth") == 0) {
			ok = cfg_get_bool(L, v, key, &out->allow_plaintext_auth) && ok;
		} else if (strcmp(v->key, "starttls") == 0) {
			if (!cfg_want_scalar(L, v, key, "required, optional or off")) {
				ok = false;
			} else if (strcmp(v->value, "required") == 0) {
				out->starttls = CFG_STARTTLS_REQUIRED;
			} else if (strcmp(v->value, "optional") == 0) {
				out->starttls = CFG_STARTTLS_OPTIONAL;
			} else if (strcmp(v->value, "off") == 0) {
				out->starttls = CFG_STARTTLS_OFF;
			} else {
				cfg_l_err(L, v, key, "expected required, optional or off, found '%.64s'",
				          v->value);
				ok = false;
			}
		} else if (strcmp(v->key, "module") == 0) {
			have_module = true;
			if (!cfg_want_scalar(L, v, key, "a listener module")) {
				ok = false;
			} else if (strcmp(v->value, "c2s") == 0) {
				out->module = CFG_LISTEN_C2S;
			} else {
				cfg_l_err(L, v, key, "unknown listener module '%.64s' (expected c2s)",
				          v->value);
				ok = false;
			}
		} else {
			cfg_err_at(L->e, v->key_line, v->key_col, key, "unknown key");
		}
	}
	if (!have_port) {
		snprintf(key, sizeof(key), "listen[%zu].port", idx);
		cfg_l_err(L, n, key, "required key is missing");
	}
	if (!have_module) {
		snprintf(key, sizeof(key), "listen[%zu].module", idx);
		cfg_l_err(L, n, key, "required key is missing");
	}
	if (!ok || !have_port || !have_module)
		return;
	for (size_t j = 0; j < L->c->nlisten; j++) {
		const struct cfg_listen *o = &L->c->listen[j];
		if (o->port == out->port && strcmp(o->ip, out->ip) == 0) {
			snprintf(key, sizeof(key), "listen[%zu]", idx);
			cfg_l_err(L, n, key, "same address and port as the listener at line %d", o->line);
			return;
		}
	}
	L->c->nlisten++;
}

void cfg_parse_listen(struct cfg_loader *L, struct cfg_node *n, const char *key,
                      const struct cfg_setting *s)
{
	(void)s;
	if (!cfg_want_kind(L, n, key, CFG_SEQ, "a list of listeners"))
		return;
	if (n->nchildren == 0) {
		cfg_l_err(L, n, key, "at least one listener is required");
		return;
	}
	L->c->listen = calloc(n->nchildren, sizeof(*L->c->listen));
	if (!L->c->listen) {
		cfg_l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++)
		check_listen_entry(L, &n->children[i], i, &L->c->listen[L->c->nlisten]);
}

void cfg_listen_free(struct cfg *c)
{
	free(c->listen);
	c->listen = NULL;
	c->nlisten = 0;
}

/* ---- lists of strings */

/* Turns one item into the string kept (malloc'd), or reports why not and
 * returns NULL with *oom false. */
typedef char *item_fn(struct cfg_loader *L, const struct cfg_node *item, const char *key,
                      bool *oom);

/* A list of scalars, each checked by fn: what is kept goes to *out. */
static void parse_list(struct cfg_loader *L, const struct cfg_node *n, const char *key,
                       const char *what, const char *item_what, item_fn *fn, char ***out,
                       size_t *nout)
{
	if (!cfg_want_kind(L, n, key, CFG_SEQ, what))
		return;
	*out = calloc(n->nchildren ? n->nchildren : 1, sizeof(char *));
	if (!*out) {
		cfg_l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *item = &n->children[i];
		char ikey[64];
		snprintf(ikey, sizeof(ikey), "%.32s[%zu]", key, i);
		if (!cfg_want_scalar(L, item, ikey, item_what))
			continue;
		bool oom = false;
		char *p = fn(L, item, ikey, &oom);
		if (oom) {
			cfg_l_oom(L);
			return;
		}
		if (p)
			(*out)[(*nout)++] = p;
	}
}

static char *certfile_item(struct cfg_loader *L, const struct cfg_node *item, const char *key,
                           bool *oom)
{
	(void)L;
	(void)key;
	char *p = strdup(item->value);
	*oom = p == NULL;
	return p;
}

void cfg_parse_certfiles(struct cfg_loader *L, struct cfg_node *n, const char *key,
                         const struct cfg_setting *s)
{
	(void)s;
	parse_list(L, n, key, "a list of PEM files", "a file name", certfile_item,
	           &L->c->certfiles, &L->c->ncertfiles);
}

static char *trace_item(struct cfg_loader *L, const struct cfg_node *item, const char *key,
                        bool *oom)
{
	struct jid j;
	char bare[JID_MAX + 1];
	if (jid_parse(item->value, strlen(item->value), &j) != XS_OK || j.resource[0] ||
	    !j.node[0]) {
		cfg_l_err(L, item, key, "'%.64s' is not a bare JID (user@host)", item->value);
		return NULL;
	}
	int len = jid_bare(&j, bare, sizeof(bare));
	if (len < 0 || len >= CFG_TRACE_JID_MAX) {
		cfg_l_err(L, item, key, "JID longer than %d bytes", CFG_TRACE_JID_MAX - 1);
		return NULL;
	}
	char *p = strdup(bare);
	*oom = p == NULL;
	return p;
}

/* Bare JIDs whose stanzas are traced from the start (xmppctl trace adds more). */
void cfg_parse_trace(struct cfg_loader *L, struct cfg_node *n, const char *key,
                     const struct cfg_setting *s)
{
	(void)s;
	parse_list(L, n, key, "a list of bare JIDs", "a bare JID", trace_item, &L->c->trace,
	           &L->c->ntrace);
}

static void strs_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

void cfg_certfiles_free(struct cfg *c)
{
	strs_free(&c->certfiles, &c->ncertfiles);
}

void cfg_trace_free(struct cfg *c)
{
	strs_free(&c->trace, &c->ntrace);
}

/* ---- modules */

static bool module_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

void cfg_parse_modules(struct cfg_loader *L, struct cfg_node *n, const char *key,
                       const struct cfg_setting *s)
{
	(void)s;
	if (cfg_node_poisoned(n) || (n->kind == CFG_SCALAR && !*n->value))
		return; /* `modules:` with nothing: no modules */
	if (!cfg_want_kind(L, n, key, CFG_MAP, "a map of module names to options"))
		return;
	if (n->nchildren == 0)
		return;
	struct cfg *c = L->c;
	c->modules = calloc(n->nchildren, sizeof(*c->modules));
	if (!c->modules) {
		cfg_l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		struct cfg_node *v = &n->children[i];
		char mkey[256];
		snprintf(mkey, sizeof(mkey), "%s.%s", key, v->key);
		/* The name becomes part of a file name for dlopen: nothing that can
		 * climb out of modules_dir. */
		if (!module_name_ok(v->key)) {
			cfg_err_at(L->e, v->key_line, v->key_col, mkey,
			           "bad module name: only a-z, 0-9 and _ are allowed");
			continue;
		}
		if (cfg_node_poisoned(v))
			continue;
		bool empty = v->kind == CFG_SCALAR && !*v->value;
		if (!empty && !cfg_want_kind(L, v, mkey, CFG_MAP, "a map of options"))
			continue;
		struct cfg_module *m = &c->modules[c->nmodules];
		m->name = strdup(v->key);
		if (!m->name) {
			cfg_l_oom(L);
			return;
		}
		m->line = v->key_line;
		/* Steal the subtree: the tree is freed after the checks. */
		if (empty) {
			m->opts = (struct cfg_node){ .kind = CFG_MAP, .line = v->line, .col = v->col,
			                             .key = v->key, .key_line = v->key_line,
			                             .key_col = v->key_col };
			free(v->value);
		} else {
			m->opts = *v;
		}
		*v = (struct cfg_node){ 0 };
		c->nmodules++;
	}
}

bool cfg_modules_same(const struct cfg *a, const struct cfg *b)
{
	bool same = a->nmodules == b->nmodules;
	for (size_t i = 0; same && i < a->nmodules; i++)
		same = strcmp(a->modules[i].name, b->modules[i].name) == 0;
	return same;
}

void cfg_modules_swap(struct cfg *a, struct cfg *b)
{
	SWAP(a->modules, b->modules);
	SWAP(a->nmodules, b->nmodules);
}

void cfg_modules_free(struct cfg *c)
{
	for (size_t i = 0; i < c->nmodules; i++) {
		free(c->modules[i].name);
		cfg_node_free(&c->modules[i].opts);
	}
	free(c->modules);
	c->modules = NULL;
	c->nmodules = 0;
}

/* ---- log, user, group */

void cfg_parse_log(struct cfg_loader *L, struct cfg_node *n, const char *key,
                   const struct cfg_setting *s)
{
	if (!cfg_want_scalar(L, n, key, s->what))
		return;
	if (strcmp(n->value, "stderr") == 0 || strcmp(n->value, "syslog") == 0) {
		L->c->log_target = n->value[1] == 't' ? LOG_TO_STDERR : LOG_TO_SYSLOG;
		return;
	}
	if (n->value[0] != '/' && n->value[0] != '.') {
		cfg_l_err(L, n, key, "expected stderr, syslog or a path (starting with / or .), "
		      "found '%.64s'", n->value);
		return;
	}
	L->c->log_target = LOG_TO_FILE;
	cfg_set_str(L, n, key, "a path", &L->c->log_file);
}

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

bool cfg_log_same(const struct cfg *a, const struct cfg *b)
{
	return a->log_target == b->log_target && str_same(a->log_file, b->log_file);
}

void cfg_log_free(struct cfg *c)
{
	free(c->log_file);
	c->log_file = NULL;
}

/* user and group: a name the system knows (the master switches to it). */
void cfg_parse_account(struct cfg_loader *L, struct cfg_node *n, const char *key,
                       const struct cfg_setting *s)
{
	if (!cfg_want_scalar(L, n, key, s->what))
		return;
	bool user = strcmp(s->name, "user") == 0;
	if (user ? getpwnam(n->value) == NULL : getgrnam(n->value) == NULL) {
		cfg_l_err(L, n, key, "no such %s '%.64s'", s->name, n->value);
		return;
	}
	cfg_set_str(L, n, key, s->what, (char **)((char *)L->c + s->off));
}

/* ---- computed defaults */

/* <directory of the running binary>/modules, so a build tree and an installed
 * tree each find their own modules without configuration. */
static char *modules_dir_of_binary(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return strdup("./modules");
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return strdup("./modules");
	*slash = '\0';
	char *out;
	if (asprintf(&out, "%s/modules", exe) < 0)
		return NULL;
	return out;
}

int cfg_default_modules_dir(struct cfg *c)
{
	c->modules_dir = modules_dir_of_binary();
	return c->modules_dir ? XS_OK : XS_ERROR;
}

/* <run_dir>/xmppd.ctl */
int cfg_default_control_socket(struct cfg *c)
{
	if (c->run_dir == NULL)
		return XS_OK; /* reported with run_dir */
	size_t len = strlen(c->run_dir);
	bool slash = len && c->run_dir[len - 1] == '/';
	if (asprintf(&c->control_socket, "%s%s" DEF_CTL_NAME, c->run_dir, slash ? "" : "/") < 0) {
		c->control_socket = NULL;
		return XS_ERROR;
	}
	return XS_OK;
}

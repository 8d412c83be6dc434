/* cfg.c — the YAML configuration loader.
 *
 * Two passes.  libyaml's events become a bounded generic tree that keeps every
 * position, so the second pass, which checks the tree key by key into struct
 * cfg, can name the line and column of whatever it rejects.  Errors are
 * collected and emitted sorted by position: `xmppd -t` then reads top to
 * bottom even though some checks (missing keys, duplicates) run late. */
#include "lib/cfg.h"
#include "lib/jid.h"
#include "lib/xs.h"
#include "shm/shm.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

#define CFG_MAX_FILE  (1u << 20)
#define CFG_MAX_DEPTH 32
#define CFG_MAX_NODES 100000
/* Key paths only decorate messages; a pathological one is cut, not refused. */
#define CFG_KEYPATH_MAX 256

#define DEF_LOGLEVEL         LOG_LVL_INFO
#define DEF_DATA_DIR         "./var/data"
#define DEF_RUN_DIR          "./var/run"
#define DEF_CTL_NAME         "xmppd.ctl"
#define DEF_MAX_STANZA       262144u
#define DEF_SCRAM_ITERATIONS 4096u
#define DEF_RING_SIZE        4194304u
#define DEF_LISTEN_IP        "0.0.0.0"

/* ---- error collection ---------------------------------------------------- */

struct err_item {
	int line, col;
	size_t seq; /* keeps errors at one position in the order they were found */
	char *text;
};

struct errs {
	const char *file;
	cfg_err_fn *fn;
	void *arg;
	struct err_item *v;
	size_t n, cap;
	size_t unsorted; /* emitted at once for want of memory, still failures */
};

static void emit(const struct errs *e, const char *text)
{
	if (e->fn)
		e->fn(e->arg, text);
	else
		log_error("%s", text);
}

/* A message is one line whatever the file holds: keys and values quoted in it
 * may carry escaped newlines or control characters. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void clamp_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void clamp_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
	if (*len >= cap - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len = (size_t)n < cap - *len ? *len + (size_t)n : cap - 1;
}

static void verr(struct errs *e, int line, int col, const char *key, const char *fmt,
                 va_list ap) __attribute__((format(printf, 5, 0)));

/* line 0 means the problem has no position (the file itself). */
static void verr(struct errs *e, int line, int col, const char *key, const char *fmt,
                 va_list ap)
{
	char buf[1024];
	size_t len = 0;
	if (line > 0)
		clamp_append(buf, sizeof(buf), &len, "%s:%d:%d: ", e->file, line, col);
	else
		clamp_append(buf, sizeof(buf), &len, "%s: ", e->file);
	if (key && *key)
		clamp_append(buf, sizeof(buf), &len, "key '%s': ", key);
	if (len < sizeof(buf) - 1)
		vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	one_line(buf);

	if (e->n == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 16;
		struct err_item *nv = realloc(e->v, ncap * sizeof(*nv));
		if (!nv)
			goto unsorted;
		e->v = nv;
		e->cap = ncap;
	}
	char *text = strdup(buf);
	if (!text)
		goto unsorted;
	e->v[e->n] = (struct err_item){ line, col, e->n, text };
	e->n++;
	return;
unsorted:
	emit(e, buf); /* out of memory: still said, just not in order */
	e->unsorted++;
}

static void err_at(struct errs *e, int line, int col, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void err_at(struct errs *e, int line, int col, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(e, line, col, key, fmt, ap);
	va_end(ap);
}

static int err_cmp(const void *a, const void *b)
{
	const struct err_item *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void errs_flush(struct errs *e)
{
	if (e->n)
		qsort(e->v, e->n, sizeof(*e->v), err_cmp);
	for (size_t i = 0; i < e->n; i++) {
		emit(e, e->v[i].text);
		free(e->v[i].text);
	}
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

/* ---- generic tree ---------------------------------------------------------- */

static void node_free(struct cfg_node *n)
{
	for (size_t i = 0; i < n->nchildren; i++)
		node_free(&n->children[i]);
	free(n->children);
	free(n->value);
	free(n->key);
	*n = (struct cfg_node){ 0 };
}

/* A node whose problem was already reported (alias, too deep, NUL byte): the
 * checks skip it so one mistake does not cascade into several messages.  It
 * never leaves this file, since the load fails anyway. */
static bool poisoned(const struct cfg_node *n)
{
	return n->kind == CFG_SCALAR && n->value == NULL;
}

const struct cfg_node *cfg_node_get(const struct cfg_node *map, const char *key)
{
	if (!map || map->kind != CFG_MAP || !key)
		return NULL;
	for (size_t i = 0; i < map->nchildren; i++)
		if (map->children[i].key && strcmp(map->children[i].key, key) == 0)
			return &map->children[i];
	return NULL;
}

/* ---- pass 1: events to tree -------------------------------------------------- */

struct builder {
	yaml_parser_t parser;
	struct errs *e;
	const char *buf;
	size_t len;
	size_t nodes;
	char path[CFG_KEYPATH_MAX]; /* key path of the node being built */
	size_t plen;
};

static void b_err(struct builder *b, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void b_err(struct builder *b, int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(b->e, line, col, b->path, fmt, ap);
	va_end(ap);
}

static size_t path_push_key(struct builder *b, const char *key)
{
	size_t old = b->plen;
	clamp_append(b->path, sizeof(b->path), &b->plen, "%s%s", old ? "." : "", key);
	return old;
}

static size_t path_push_index(struct builder *b, size_t i)
{
	size_t old = b->plen;
	clamp_append(b->path, sizeof(b->path), &b->plen, "[%zu]", i);
	return old;
}

static void path_pop(struct builder *b, size_t old)
{
	b->plen = old;
	b->path[old] = '\0';
}

static int mark_line(const yaml_mark_t *m) { return m->line < INT_MAX ? (int)m->line + 1 : INT_MAX; }
static int mark_col(const yaml_mark_t *m) { return m->column < INT_MAX ? (int)m->column + 1 : INT_MAX; }

static void syntax_error(struct builder *b)
{
	const yaml_parser_t *p = &b->parser;
	int line, col;
	if (p->error == YAML_READER_ERROR) {
		/* The reader only knows a byte offset: turn it into a position
		 * counted in characters, as libyaml's own marks are. */
		size_t off = p->problem_offset < b->len ? p->problem_offset : b->len;
		line = col = 1;
		for (size_t i = 0; i < off; i++) {
			unsigned char ch = (unsigned char)b->buf[i];
			if (ch == '\n') {
				line++;
				col = 1;
			} else if ((ch & 0xc0) != 0x80) {
				col++;
			}
		}
	} else {
		line = mark_line(&p->problem_mark);
		col = mark_col(&p->problem_mark);
	}
	const char *problem = p->problem ? p->problem : "unknown YAML error";
	if (p->error == YAML_MEMORY_ERROR)
		err_at(b->e, 0, 0, NULL, "out of memory while parsing");
	else if (p->context)
		err_at(b->e, line, col, NULL, "syntax error: %s (%s at line %d, column %d)",
		       problem, p->context, mark_line(&p->context_mark), mark_col(&p->context_mark));
	else
		err_at(b->e, line, col, NULL, "syntax error: %s", problem);
}

/* False when parsing cannot go on; the reason was reported. */
static bool next_event(struct builder *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev)) {
		syntax_error(b);
		return false;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
	case YAML_ALIAS_EVENT:
		if (++b->nodes > CFG_MAX_NODES) {
			err_at(b->e, mark_line(&ev->start_mark), mark_col(&ev->start_mark), NULL,
			       "more than %d nodes", CFG_MAX_NODES);
			yaml_event_delete(ev);
			return false;
		}
		break;
	default:
		break;
	}
	return true;
}

/* Consumes the rest of a collection whose start event was just read. */
static bool skip_collection(struct builder *b)
{
	for (int level = 1; level > 0;) {
		yaml_event_t ev;
		if (!next_event(b, &ev))
			return false;
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
			level++;
		else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
			level--;
		yaml_event_delete(&ev);
	}
	return true;
}

static const char *event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: return (const char *)ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT: return (const char *)ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT: return (const char *)ev->data.mapping_start.anchor;
	default: return NULL;
	}
}

static bool oom(struct builder *b)
{
	err_at(b->e, 0, 0, NULL, "out of memory");
	return false;
}

/* Copies a scalar; *bad is set when it holds a NUL byte (possible with a
 * "\0" escape), which C strings would silently cut — "port\0x" must not
 * compare equal to "port".  Unquoted nulls become "" so that every kind of
 * "nothing here" looks the same to the checks. */
static char *scalar_dup(const yaml_event_t *ev, bool is_value, bool *bad)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	*bad = memchr(v, '\0', len) != NULL;
	if (is_value && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	     strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0))
		len = 0;
	char *s = malloc(len + 1);
	if (!s)
		return NULL;
	memcpy(s, v, len);
	s[len] = '\0';
	/* Shown in the message as '?' rather than cutting the key short there. */
	for (size_t i = 0; *bad && i < len; i++)
		if (s[i] == '\0')
			s[i] = '?';
	return s;
}

static bool build_node(struct builder *b, yaml_event_t *ev, int depth, struct cfg_node *out);

static int key_ptr_cmp(const void *a, const void *b)
{
	const struct cfg_node *x = *(const struct cfg_node *const *)a;
	const struct cfg_node *y = *(const struct cfg_node *const *)b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	/* Same array: address order is document order, so the first stays first. */
	return x < y ? -1 : x > y;
}

/* Reports and drops every repeated key but the first.  Sorting keeps a map of
 * many keys (the node bound allows 50,000) from costing n² comparisons. */
static bool drop_duplicates(struct builder *b, struct cfg_node *v, size_t *n)
{
	if (*n < 2)
		return true;
	const struct cfg_node **idx = malloc(*n * sizeof(*idx));
	if (!idx)
		return oom(b);
	for (size_t i = 0; i < *n; i++)
		idx[i] = &v[i];
	qsort(idx, *n, sizeof(*idx), key_ptr_cmp);
	bool any = false;
	for (size_t i = 1, first = 0; i < *n; i++) {
		if (strcmp(idx[i]->key, idx[first]->key) != 0) {
			first = i;
			continue;
		}
		struct cfg_node *dup = (struct cfg_node *)idx[i];
		size_t old = path_push_key(b, dup->key);
		b_err(b, dup->key_line, dup->key_col, "duplicate key (first at line %d, column %d)",
		      idx[first]->key_line, idx[first]->key_col);
		path_pop(b, old);
		node_free(dup); /* leaves key == NULL: the mark for compaction */
		any = true;
	}
	free(idx);
	if (any) {
		size_t w = 0;
		for (size_t r = 0; r < *n; r++)
			if (v[r].key)
				v[w++] = v[r];
		*n = w;
	}
	return true;
}

static bool append(struct builder *b, struct cfg_node **v, size_t *n, size_t *cap,
                   struct cfg_node *child)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct cfg_node *nv = realloc(*v, ncap * sizeof(*nv));
		if (!nv) {
			node_free(child);
			return oom(b);
		}
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = *child;
	return true;
}

static bool build_map(struct builder *b, int depth, struct cfg_node *out)
{
	struct cfg_node *v = NULL;
	size_t n = 0, cap = 0;
	bool ok = true;
	for (;;) {
		yaml_event_t kev;
		if (!next_event(b, &kev)) {
			ok = false;
			break;
		}
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		struct cfg_node child = { .kind = CFG_SCALAR };
		child.key_line = mark_line(&kev.start_mark);
		child.key_col = mark_col(&kev.start_mark);
		bool keep = true;
		if (kev.type == YAML_SCALAR_EVENT) {
			bool bad;
			child.key = scalar_dup(&kev, false, &bad);
			if (!child.key) {
				yaml_event_delete(&kev);
				ok = oom(b);
				break;
			}
			size_t old = path_push_key(b, child.key);
			if (event_anchor(&kev))
				b_err(b, child.key_line, child.key_col,
				      "anchors and aliases are not allowed");
			if (bad) {
				b_err(b, child.key_line, child.key_col, "NUL characters are not allowed");
				keep = false;
			}
			path_pop(b, old);
			yaml_event_delete(&kev);
		} else {
			/* A collection or an alias as a key: nothing we could name. */
			b_err(b, child.key_line, child.key_col, "%s",
			      kev.type == YAML_ALIAS_EVENT ? "anchors and aliases are not allowed"
			                                   : "keys must be scalars");
			keep = false;
			bool collection = kev.type != YAML_ALIAS_EVENT;
			yaml_event_delete(&kev);
			if (collection && !skip_collection(b)) {
				ok = false;
				break;
			}
		}
		yaml_event_t vev;
		if (!next_event(b, &vev)) {
			node_free(&child);
			ok = false;
			break;
		}
		size_t old = path_push_key(b, child.key ? child.key : "?");
		bool cont = build_node(b, &vev, depth, &child);
		path_pop(b, old);
		if (!keep) {
			node_free(&child);
		} else if (!append(b, &v, &n, &cap, &child)) {
			ok = false;
			break;
		}
		if (!cont) {
			ok = false;
			break;
		}
	}
	if (ok)
		ok = drop_duplicates(b, v, &n);
	out->children = v;
	out->nchildren = n;
	return ok;
}

static bool build_seq(struct builder *b, int depth, struct cfg_node *out)
{
	struct cfg_node *v = NULL;
	size_t n = 0, cap = 0;
	bool ok = true;
	for (;;) {
		yaml_event_t ev;
		if (!next_event(b, &ev)) {
			ok = false;
			break;
		}
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		struct cfg_node child = { .kind = CFG_SCALAR };
		size_t old = path_push_index(b, n);
		bool cont = build_node(b, &ev, depth, &child);
		path_pop(b, old);
		if (!append(b, &v, &n, &cap, &child) || !cont) {
			ok = false;
			break;
		}
	}
	out->children = v;
	out->nchildren = n;
	return ok;
}

/* Builds *out from the node that *ev starts, consuming ev.  `depth` is the
 * number of collections around it. */
static bool build_node(struct builder *b, yaml_event_t *ev, int depth, struct cfg_node *out)
{
	out->line = mark_line(&ev->start_mark);
	out->col = mark_col(&ev->start_mark);
	out->kind = CFG_SCALAR;
	out->value = NULL;
	if (ev->type == YAML_ALIAS_EVENT || event_anchor(ev))
		b_err(b, out->line, out->col, "anchors and aliases are not allowed");

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		yaml_event_delete(ev);
		return true; /* poisoned */
	case YAML_SCALAR_EVENT: {
		bool bad;
		out->value = scalar_dup(ev, true, &bad);
		yaml_event_delete(ev);
		if (!out->value)
			return oom(b);
		if (bad) {
			b_err(b, out->line, out->col, "NUL characters are not allowed");
			free(out->value);
			out->value = NULL;
		}
		return true;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;
		yaml_event_delete(ev);
		if (depth >= CFG_MAX_DEPTH) {
			b_err(b, out->line, out->col, "nested deeper than %d levels", CFG_MAX_DEPTH);
			return skip_collection(b);
		}
		out->kind = map ? CFG_MAP : CFG_SEQ;
		return map ? build_map(b, depth + 1, out) : build_seq(b, depth + 1, out);
	}
	default:
		/* libyaml only hands out well-formed event streams; be safe anyway. */
		err_at(b->e, out->line, out->col, NULL, "unexpected YAML event");
		yaml_event_delete(ev);
		return false;
	}
}

/* Fills *root (kind CFG_MAP with no children when the file holds no document).
 * False when the tree is incomplete and must not be checked further. */
static bool build_tree(struct builder *b, struct cfg_node *root)
{
	*root = (struct cfg_node){ .kind = CFG_MAP, .line = 1, .col = 1 };
	yaml_event_t ev;
	if (!next_event(b, &ev)) /* stream start */
		return false;
	yaml_event_delete(&ev);
	if (!next_event(b, &ev))
		return false;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return true;
	}
	yaml_event_delete(&ev); /* document start */
	if (!next_event(b, &ev))
		return false;
	if (!build_node(b, &ev, 0, root))
		return false;
	if (!next_event(b, &ev)) /* document end */
		return false;
	yaml_event_delete(&ev);
	if (!next_event(b, &ev))
		return false;
	if (ev.type == YAML_DOCUMENT_START_EVENT)
		/* What follows is not parsed, but the first document is whole and
		 * still worth checking. */
		err_at(b->e, mark_line(&ev.start_mark), mark_col(&ev.start_mark), NULL,
		       "only one YAML document is allowed");
	yaml_event_delete(&ev);
	return true;
}

/* ---- pass 2: tree to struct cfg -------------------------------------------- */

struct loader {
	struct errs *e;
	struct cfg *c;
	bool have_hosts, have_listen, have_workers;
	const struct cfg_node *run_dir_node, *ctl_node, *host_config_node;
};

static void l_err(struct loader *L, const struct cfg_node *n, const char *key,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* An error about the value n. */
static void l_err(struct loader *L, const struct cfg_node *n, const char *key,
                  const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verr(L->e, n->line, n->col, key, fmt, ap);
	va_end(ap);
}

static void l_oom(struct loader *L)
{
	err_at(L->e, 0, 0, NULL, "out of memory");
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
static bool want_scalar(struct loader *L, const struct cfg_node *n, const char *key,
                        const char *what)
{
	if (poisoned(n))
		return false;
	if (n->kind != CFG_SCALAR || !*n->value) {
		l_err(L, n, key, "expected %s, found %s", what, kind_name(n));
		return false;
	}
	return true;
}

static bool want_kind(struct loader *L, const struct cfg_node *n, const char *key,
                      enum cfg_node_kind kind, const char *what)
{
	if (poisoned(n))
		return false;
	if (n->kind != kind) {
		l_err(L, n, key, "expected %s, found %s", what, kind_name(n));
		return false;
	}
	return true;
}

enum dec_result { DEC_OK, DEC_NOT_DIGITS, DEC_LEADING_ZERO, DEC_OVERFLOW };

/* Plain decimal digits only.  A sign, a base prefix, YAML 1.1 underscores or
 * a leading zero (octal to a YAML 1.1 reader) would each mean something else
 * to some other tool reading the same file, so none is accepted. */
static enum dec_result parse_dec(const char *s, uint64_t *out)
{
	if (!*s)
		return DEC_NOT_DIGITS;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return DEC_NOT_DIGITS;
	if (s[0] == '0' && s[1])
		return DEC_LEADING_ZERO;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	static_assert(sizeof(v) == sizeof(*out), "strtoull covers uint64_t");
	if (errno == ERANGE || *end)
		return DEC_OVERFLOW;
	*out = v;
	return DEC_OK;
}

static bool get_uint(struct loader *L, const struct cfg_node *n, const char *key,
                     const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!want_scalar(L, n, key, what))
		return false;
	uint64_t v = 0;
	enum dec_result r = parse_dec(n->value, &v);
	if (r == DEC_NOT_DIGITS) {
		l_err(L, n, key, "expected %s, found '%.64s'", what, n->value);
		return false;
	}
	if (r == DEC_LEADING_ZERO) {
		l_err(L, n, key, "leading zeros are not allowed in '%.64s'", n->value);
		return false;
	}
	if (r == DEC_OVERFLOW || v < min || v > max) {
		l_err(L, n, key, "must be between %llu and %llu", (unsigned long long)min,
		      (unsigned long long)max);
		return false;
	}
	*out = v;
	return true;
}

/* YAML's true/false (and the YAML 1.1 spellings operators still write). */
static bool get_bool(struct loader *L, const struct cfg_node *n, const char *key, bool *out)
{
	if (!want_scalar(L, n, key, "true or false"))
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
	l_err(L, n, key, "expected true or false, found '%.64s'", n->value);
	return false;
}

static void set_path(struct loader *L, const struct cfg_node *n, char **dst)
{
	if (!want_scalar(L, n, n->key, "a path"))
		return;
	char *s = strdup(n->value);
	if (!s) {
		l_oom(L);
		return;
	}
	free(*dst);
	*dst = s;
}

/* NULL when h (lowercase, trailing dot already removed) is a plain ASCII
 * host name; else what is wrong with it. */
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

static void check_hosts(struct loader *L, struct cfg_node *n)
{
	L->have_hosts = true;
	if (!want_kind(L, n, "hosts", CFG_SEQ, "a list of host names"))
		return;
	if (n->nchildren == 0) {
		l_err(L, n, "hosts", "at least one host is required");
		return;
	}
	struct cfg *c = L->c;
	c->hosts = calloc(n->nchildren, sizeof(*c->hosts));
	c->host_anonymous = calloc(n->nchildren, sizeof(*c->host_anonymous));
	c->host_registration = calloc(n->nchildren, sizeof(*c->host_registration));
	if (!c->hosts || !c->host_anonymous || !c->host_registration) {
		l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *item = &n->children[i];
		char key[32];
		snprintf(key, sizeof(key), "hosts[%zu]", i);
		if (!want_scalar(L, item, key, "a host name"))
			continue;
		char *h = strdup(item->value);
		if (!h) {
			l_oom(L);
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
			l_err(L, item, key, "bad host name '%.64s': %s", item->value, why);
			free(h);
			continue;
		}
		if (cfg_has_host(c, h)) {
			l_err(L, item, key, "duplicate host '%s'", h);
			free(h);
			continue;
		}
		c->hosts[c->nhosts++] = h;
	}
}

static void check_loglevel(struct loader *L, struct cfg_node *n)
{
	if (!want_scalar(L, n, n->key, "a log level"))
		return;
	if (log_level_parse(n->value, &L->c->loglevel) != XS_OK)
		l_err(L, n, n->key, "expected error, warning, info or debug, found '%.64s'",
		      n->value);
}

static bool get_open_closed(struct loader *L, const struct cfg_node *n, const char *key,
                            bool *open)
{
	if (!want_scalar(L, n, key, "open or closed"))
		return false;
	if (strcmp(n->value, "open") == 0 || strcmp(n->value, "closed") == 0) {
		*open = n->value[0] == 'o';
		return true;
	}
	l_err(L, n, key, "expected open or closed, found '%.64s'", n->value);
	return false;
}

static void check_registration(struct loader *L, struct cfg_node *n)
{
	get_open_closed(L, n, n->key, &L->c->registration_open);
}

bool cfg_registration_open(const struct cfg *cfg, const char *host)
{
	for (size_t i = 0; host && i < cfg->nhosts; i++)
		if (strcmp(cfg->hosts[i], host) == 0 && cfg->host_registration[i] != 0)
			return cfg->host_registration[i] > 0;
	return cfg->registration_open;
}

static void check_workers(struct loader *L, struct cfg_node *n)
{
	L->have_workers = true;
	if (n->kind == CFG_SCALAR && n->value && strcmp(n->value, "auto") == 0) {
		L->have_workers = false;
		return;
	}
	uint64_t v;
	if (get_uint(L, n, n->key, "a number or 'auto'", 1, SHM_MAX_WORKERS, &v))
		L->c->workers = (unsigned)v;
}

static void check_max_stanza(struct loader *L, struct cfg_node *n)
{
	uint64_t v;
	if (get_uint(L, n, n->key, "a number", 1024, 16777216, &v))
		L->c->max_stanza_size = (size_t)v;
}

static void check_scram(struct loader *L, struct cfg_node *n)
{
	uint64_t v;
	if (get_uint(L, n, n->key, "a number", 4096, 1000000, &v))
		L->c->scram_iterations = (unsigned)v;
}

static void check_ring_size(struct loader *L, struct cfg_node *n)
{
	uint64_t v = 0;
	if (!want_scalar(L, n, n->key, "a number"))
		return;
	/* One message for every way of being wrong: the rule is short. */
	if (parse_dec(n->value, &v) != DEC_OK || v < 65536 || v > 1073741824 ||
	    (v & (v - 1)) != 0) {
		l_err(L, n, n->key, "must be a power of two between 65536 and 1073741824");
		return;
	}
	L->c->ring_size = v;
}

static void check_listen_entry(struct loader *L, const struct cfg_node *n, size_t idx,
                               struct cfg_listen *out)
{
	char key[64];
	snprintf(key, sizeof(key), "listen[%zu]", idx);
	if (!want_kind(L, n, key, CFG_MAP, "a map with port, ip and module"))
		return;
	*out = (struct cfg_listen){ .ip = DEF_LISTEN_IP, .line = n->line };
	bool ok = true, have_port = false, have_module = false;
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *v = &n->children[i];
		snprintf(key, sizeof(key), "listen[%zu].%.32s", idx, v->key);
		if (strcmp(v->key, "port") == 0) {
			have_port = true;
			uint64_t port;
			if (get_uint(L, v, key, "a port number", 1, 65535, &port))
				out->port = (uint16_t)port;
			else
				ok = false;
		} else if (strcmp(v->key, "ip") == 0) {
			unsigned char addr[sizeof(struct in6_addr)];
			if (!want_scalar(L, v, key, "an IP address")) {
				ok = false;
			} else if (strlen(v->value) >= sizeof(out->ip) ||
			           (inet_pton(AF_INET, v->value, addr) != 1 &&
			            inet_pton(AF_INET6, v->value, addr) != 1)) {
				l_err(L, v, key, "bad IP address '%.64s'", v->value);
				ok = false;
			} else {
				memcpy(out->ip, v->value, strlen(v->value) + 1);
			}
		} else if (strcmp(v->key, "tls") == 0) {
			ok = get_bool(L, v, key, &out->tls) && ok;
		} else if (strcmp(v->key, "allow_plaintext_auth") == 0) {
			ok = get_bool(L, v, key, &out->allow_plaintext_auth) && ok;
		} else if (strcmp(v->key, "starttls") == 0) {
			if (!want_scalar(L, v, key, "required, optional or off")) {
				ok = false;
			} else if (strcmp(v->value, "required") == 0) {
				out->starttls = CFG_STARTTLS_REQUIRED;
			} else if (strcmp(v->value, "optional") == 0) {
				out->starttls = CFG_STARTTLS_OPTIONAL;
			} else if (strcmp(v->value, "off") == 0) {
				out->starttls = CFG_STARTTLS_OFF;
			} else {
				l_err(L, v, key, "expected required, optional or off, found '%.64s'",
				      v->value);
				ok = false;
			}
		} else if (strcmp(v->key, "module") == 0) {
			have_module = true;
			if (!want_scalar(L, v, key, "a listener module")) {
				ok = false;
			} else if (strcmp(v->value, "c2s") == 0) {
				out->module = CFG_LISTEN_C2S;
			} else {
				l_err(L, v, key, "unknown listener module '%.64s' (expected c2s)",
				      v->value);
				ok = false;
			}
		} else {
			err_at(L->e, v->key_line, v->key_col, key, "unknown key");
		}
	}
	if (!have_port) {
		snprintf(key, sizeof(key), "listen[%zu].port", idx);
		l_err(L, n, key, "required key is missing");
	}
	if (!have_module) {
		snprintf(key, sizeof(key), "listen[%zu].module", idx);
		l_err(L, n, key, "required key is missing");
	}
	if (!ok || !have_port || !have_module)
		return;
	for (size_t j = 0; j < L->c->nlisten; j++) {
		const struct cfg_listen *o = &L->c->listen[j];
		if (o->port == out->port && strcmp(o->ip, out->ip) == 0) {
			snprintf(key, sizeof(key), "listen[%zu]", idx);
			l_err(L, n, key, "same address and port as the listener at line %d", o->line);
			return;
		}
	}
	L->c->nlisten++;
}

static void check_listen(struct loader *L, struct cfg_node *n)
{
	L->have_listen = true;
	if (!want_kind(L, n, "listen", CFG_SEQ, "a list of listeners"))
		return;
	if (n->nchildren == 0) {
		l_err(L, n, "listen", "at least one listener is required");
		return;
	}
	L->c->listen = calloc(n->nchildren, sizeof(*L->c->listen));
	if (!L->c->listen) {
		l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++)
		check_listen_entry(L, &n->children[i], i, &L->c->listen[L->c->nlisten]);
}

static void check_certfiles(struct loader *L, struct cfg_node *n)
{
	if (!want_kind(L, n, "certfiles", CFG_SEQ, "a list of PEM files"))
		return;
	L->c->certfiles = calloc(n->nchildren ? n->nchildren : 1, sizeof(char *));
	if (!L->c->certfiles) {
		l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *item = &n->children[i];
		char key[32];
		snprintf(key, sizeof(key), "certfiles[%zu]", i);
		if (!want_scalar(L, item, key, "a file name"))
			continue;
		if (!*item->value) {
			l_err(L, item, key, "empty file name");
			continue;
		}
		char *p = strdup(item->value);
		if (!p) {
			l_oom(L);
			return;
		}
		L->c->certfiles[L->c->ncertfiles++] = p;
	}
}

/* Bare JIDs whose stanzas are traced from the start (xmppctl trace adds more). */
static void check_trace(struct loader *L, struct cfg_node *n)
{
	if (!want_kind(L, n, "trace", CFG_SEQ, "a list of bare JIDs"))
		return;
	L->c->trace = calloc(n->nchildren ? n->nchildren : 1, sizeof(char *));
	if (!L->c->trace) {
		l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *item = &n->children[i];
		char key[32];
		snprintf(key, sizeof(key), "trace[%zu]", i);
		if (!want_scalar(L, item, key, "a bare JID"))
			continue;
		struct jid j;
		char bare[JID_MAX + 1];
		if (jid_parse(item->value, strlen(item->value), &j) != XS_OK || j.resource[0] ||
		    !j.node[0]) {
			l_err(L, item, key, "'%.64s' is not a bare JID (user@host)", item->value);
			continue;
		}
		int len = jid_bare(&j, bare, sizeof(bare));
		if (len < 0 || len >= CFG_TRACE_JID_MAX) {
			l_err(L, item, key, "JID longer than %d bytes", CFG_TRACE_JID_MAX - 1);
			continue;
		}
		char *p = strdup(bare);
		if (!p) {
			l_oom(L);
			return;
		}
		L->c->trace[L->c->ntrace++] = p;
	}
}

static void check_tls_priority(struct loader *L, struct cfg_node *n)
{
	if (!want_scalar(L, n, n->key, "a GnuTLS priority string"))
		return;
	if (!*n->value) {
		l_err(L, n, n->key, "empty priority string");
		return;
	}
	free(L->c->tls_priority);
	if (!(L->c->tls_priority = strdup(n->value)))
		l_oom(L);
}

/* host_config names hosts, so it is checked once hosts is known. */
static void check_host_config(struct loader *L, struct cfg_node *n)
{
	if (want_kind(L, n, "host_config", CFG_MAP, "a map of host name to settings"))
		L->host_config_node = n;
}

static void apply_host_config(struct loader *L)
{
	const struct cfg_node *n = L->host_config_node;
	struct cfg *c = L->c;
	if (!n)
		return;
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *h = &n->children[i];
		char key[96];
		snprintf(key, sizeof(key), "host_config.%.64s", h->key);
		size_t idx = 0;
		while (idx < c->nhosts && strcasecmp(c->hosts[idx], h->key) != 0)
			idx++;
		if (idx == c->nhosts) {
			err_at(L->e, h->key_line, h->key_col, key, "not one of hosts");
			continue;
		}
		if (h->kind == CFG_SCALAR && h->value && !*h->value)
			continue; /* "host:" with nothing: no settings */
		if (!want_kind(L, h, key, CFG_MAP, "a map of settings"))
			continue;
		for (size_t j = 0; j < h->nchildren; j++) {
			const struct cfg_node *v = &h->children[j];
			char vkey[128];
			snprintf(vkey, sizeof(vkey), "%s.%.24s", key, v->key);
			if (strcmp(v->key, "anonymous") == 0) {
				get_bool(L, v, vkey, &c->host_anonymous[idx]);
			} else if (strcmp(v->key, "registration") == 0) {
				bool open;
				if (get_open_closed(L, v, vkey, &open))
					c->host_registration[idx] = open ? 1 : -1;
			} else
				err_at(L->e, v->key_line, v->key_col, vkey, "unknown key");
		}
	}
}

static const struct {
	const char *name;
	size_t off;
	unsigned def, max;
} limit_keys[] = {
	{ "max_connections_per_ip", offsetof(struct cfg_limits, max_connections_per_ip), 64, 1000000 },
	{ "connection_rate_per_ip", offsetof(struct cfg_limits, connection_rate_per_ip), 120, 1000000 },
	{ "auth_timeout", offsetof(struct cfg_limits, auth_timeout), 30, 3600 },
	{ "keepalive_interval", offsetof(struct cfg_limits, keepalive_interval), 60, 86400 },
	{ "max_auth_failures", offsetof(struct cfg_limits, max_auth_failures), 3, 100 },
	{ "auth_block_seconds", offsetof(struct cfg_limits, auth_block_seconds), 60, 86400 },
	{ "shaper_bytes_per_second", offsetof(struct cfg_limits, shaper_bytes_per_second), 50000,
	  1000000000 },
	{ "registration_rate_per_ip", offsetof(struct cfg_limits, registration_rate_per_ip), 5,
	  1000000 },
};

static void limits_defaults(struct cfg_limits *l)
{
	for (size_t i = 0; i < XS_ARRAY_LEN(limit_keys); i++)
		*(unsigned *)((char *)l + limit_keys[i].off) = limit_keys[i].def;
}

static void check_limits(struct loader *L, struct cfg_node *n)
{
	if (n->kind == CFG_SCALAR && n->value && !*n->value)
		return; /* "limits:" alone: the defaults */
	if (!want_kind(L, n, "limits", CFG_MAP, "a map of limits"))
		return;
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct cfg_node *v = &n->children[i];
		char key[96];
		snprintf(key, sizeof(key), "limits.%.64s", v->key);
		size_t k = 0;
		while (k < XS_ARRAY_LEN(limit_keys) && strcmp(limit_keys[k].name, v->key) != 0)
			k++;
		if (k == XS_ARRAY_LEN(limit_keys)) {
			err_at(L->e, v->key_line, v->key_col, key, "unknown key");
			continue;
		}
		uint64_t val;
		if (get_uint(L, v, key, "a number", 0, limit_keys[k].max, &val))
			*(unsigned *)((char *)&L->c->limits + limit_keys[k].off) = (unsigned)val;
	}
}

static bool module_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static void check_modules(struct loader *L, struct cfg_node *n)
{
	if (poisoned(n) || (n->kind == CFG_SCALAR && !*n->value))
		return; /* `modules:` with nothing: no modules */
	if (!want_kind(L, n, "modules", CFG_MAP, "a map of module names to options"))
		return;
	if (n->nchildren == 0)
		return;
	struct cfg *c = L->c;
	c->modules = calloc(n->nchildren, sizeof(*c->modules));
	if (!c->modules) {
		l_oom(L);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		struct cfg_node *v = &n->children[i];
		char key[CFG_KEYPATH_MAX];
		snprintf(key, sizeof(key), "modules.%s", v->key);
		/* The name becomes part of a file name for dlopen: nothing that can
		 * climb out of modules_dir. */
		if (!module_name_ok(v->key)) {
			err_at(L->e, v->key_line, v->key_col, key,
			       "bad module name: only a-z, 0-9 and _ are allowed");
			continue;
		}
		if (poisoned(v))
			continue;
		bool empty = v->kind == CFG_SCALAR && !*v->value;
		if (!empty && !want_kind(L, v, key, CFG_MAP, "a map of options"))
			continue;
		struct cfg_module *m = &c->modules[c->nmodules];
		m->name = strdup(v->key);
		if (!m->name) {
			l_oom(L);
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

typedef void key_check_fn(struct loader *, struct cfg_node *);

static void check_data_dir(struct loader *L, struct cfg_node *n) { set_path(L, n, &L->c->data_dir); }
static void check_run_dir(struct loader *L, struct cfg_node *n)
{
	L->run_dir_node = n;
	set_path(L, n, &L->c->run_dir);
}
static void check_ctl(struct loader *L, struct cfg_node *n)
{
	L->ctl_node = n;
	set_path(L, n, &L->c->control_socket);
}
static void check_modules_dir(struct loader *L, struct cfg_node *n) { set_path(L, n, &L->c->modules_dir); }
static void check_pidfile(struct loader *L, struct cfg_node *n) { set_path(L, n, &L->c->pidfile); }

static void check_log(struct loader *L, struct cfg_node *n)
{
	if (!want_scalar(L, n, n->key, "stderr, syslog or a file path"))
		return;
	if (strcmp(n->value, "stderr") == 0 || strcmp(n->value, "syslog") == 0) {
		L->c->log_target = n->value[1] == 't' ? LOG_TO_STDERR : LOG_TO_SYSLOG;
		return;
	}
	if (n->value[0] != '/' && n->value[0] != '.') {
		l_err(L, n, n->key, "expected stderr, syslog or a path (starting with / or .), "
		      "found '%.64s'", n->value);
		return;
	}
	L->c->log_target = LOG_TO_FILE;
	set_path(L, n, &L->c->log_file);
}

static void check_user(struct loader *L, struct cfg_node *n)
{
	if (!want_scalar(L, n, n->key, "a user name"))
		return;
	if (getpwnam(n->value) == NULL) {
		l_err(L, n, n->key, "no such user '%.64s'", n->value);
		return;
	}
	set_path(L, n, &L->c->user);
}

static void check_group(struct loader *L, struct cfg_node *n)
{
	if (!want_scalar(L, n, n->key, "a group name"))
		return;
	if (getgrnam(n->value) == NULL) {
		l_err(L, n, n->key, "no such group '%.64s'", n->value);
		return;
	}
	set_path(L, n, &L->c->group);
}

static const struct {
	const char *name;
	key_check_fn *check;
} top_keys[] = {
	{ "hosts", check_hosts },
	{ "loglevel", check_loglevel },
	{ "workers", check_workers },
	{ "data_dir", check_data_dir },
	{ "run_dir", check_run_dir },
	{ "control_socket", check_ctl },
	{ "modules_dir", check_modules_dir },
	{ "max_stanza_size", check_max_stanza },
	{ "scram_iterations", check_scram },
	{ "ring_size", check_ring_size },
	{ "listen", check_listen },
	{ "modules", check_modules },
	{ "certfiles", check_certfiles },
	{ "tls_priority", check_tls_priority },
	{ "host_config", check_host_config },
	{ "limits", check_limits },
	{ "registration", check_registration },
	{ "log", check_log },
	{ "trace", check_trace },
	{ "pidfile", check_pidfile },
	{ "user", check_user },
	{ "group", check_group },
};

/* <directory of the running binary>/modules, so a build tree and an installed
 * tree each find their own modules without configuration. */
static char *default_modules_dir(void)
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

/* The largest stanza encoding (lib/stz.h) any process builds: room for the
 * encoding of a max_stanza_size stanza (up to 4 times its text) and an error
 * echoing it, but never more than a ring record holds (a quarter of the
 * ring, less the record header). */
static void set_max_encoded(struct loader *L, const struct cfg_node *root)
{
	struct cfg *c = L->c;
	size_t want = 4 * c->max_stanza_size + 4096, room = (size_t)(c->ring_size / 4) - 256;
	c->max_encoded = want < room ? want : room;
	if (c->max_encoded < c->max_stanza_size + 4096)
		err_at(L->e, root->line, root->col, "ring_size",
		       "%" PRIu64 " bytes is too small for max_stanza_size %zu: a ring record holds a "
		       "quarter of the ring", c->ring_size, c->max_stanza_size);
}

static void apply_defaults(struct loader *L, const struct cfg_node *root)
{
	struct cfg *c = L->c;
	set_max_encoded(L, root);
	if (!L->have_hosts)
		err_at(L->e, root->line, root->col, "hosts", "required key is missing");
	if (!L->have_listen)
		err_at(L->e, root->line, root->col, "listen", "required key is missing");
	if (!L->have_workers) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = cpus < 1 ? 1 : cpus > (long)SHM_MAX_WORKERS ? SHM_MAX_WORKERS
		                                                         : (unsigned)cpus;
	}
	if (!c->data_dir)
		c->data_dir = strdup(DEF_DATA_DIR);
	if (!c->run_dir)
		c->run_dir = strdup(DEF_RUN_DIR);
	if (!c->modules_dir)
		c->modules_dir = default_modules_dir();
	if (!c->tls_priority)
		c->tls_priority = strdup(CFG_DEFAULT_TLS_PRIORITY);
	if (!c->data_dir || !c->run_dir || !c->modules_dir || !c->tls_priority) {
		l_oom(L);
		return;
	}
	if (!c->control_socket) {
		size_t len = strlen(c->run_dir);
		bool slash = len && c->run_dir[len - 1] == '/';
		if (asprintf(&c->control_socket, "%s%s" DEF_CTL_NAME, c->run_dir,
		             slash ? "" : "/") < 0) {
			c->control_socket = NULL;
			l_oom(L);
			return;
		}
	}
	/* bind() would fail much later, in the master, with a vaguer message. */
	if (strlen(c->control_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		const struct cfg_node *at = L->ctl_node ? L->ctl_node : L->run_dir_node;
		const char *key = L->ctl_node ? "control_socket" : "run_dir";
		if (at)
			l_err(L, at, key, "control socket path '%s' is longer than %zu bytes",
			      c->control_socket, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
}

static void check_tree(struct loader *L, struct cfg_node *root)
{
	struct cfg *c = L->c;
	c->loglevel = DEF_LOGLEVEL;
	c->max_stanza_size = DEF_MAX_STANZA;
	c->scram_iterations = DEF_SCRAM_ITERATIONS;
	c->ring_size = DEF_RING_SIZE;
	limits_defaults(&c->limits);

	/* An empty document is an empty configuration, reported as missing keys. */
	bool empty = root->kind == CFG_SCALAR && root->value && !*root->value;
	if (empty) {
		/* Its position may be past the last line; the start reads better. */
		root->line = root->col = 1;
	} else if (!want_kind(L, root, NULL, CFG_MAP, "a map of settings at the top level")) {
		return;
	}
	for (size_t i = 0; i < root->nchildren; i++) {
		struct cfg_node *n = &root->children[i];
		size_t k = 0;
		while (k < XS_ARRAY_LEN(top_keys) && strcmp(top_keys[k].name, n->key) != 0)
			k++;
		if (k == XS_ARRAY_LEN(top_keys))
			err_at(L->e, n->key_line, n->key_col, n->key, "unknown key");
		else
			top_keys[k].check(L, n);
	}
	apply_defaults(L, root);
	apply_host_config(L);
}

/* ---- entry points ---------------------------------------------------------- */

/* Reads the whole file, refusing more than the bound before parsing starts. */
static char *read_file(struct errs *e, const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_at(e, 0, 0, NULL, "cannot open: %s", strerror(errno));
		return NULL;
	}
	char *buf = malloc(CFG_MAX_FILE + 1);
	if (!buf) {
		close(fd);
		err_at(e, 0, 0, NULL, "out of memory");
		return NULL;
	}
	size_t got = 0;
	while (got <= CFG_MAX_FILE) {
		ssize_t r = read(fd, buf + got, CFG_MAX_FILE + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_at(e, 0, 0, NULL, "cannot read: %s", strerror(errno));
			close(fd);
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got > CFG_MAX_FILE) {
		err_at(e, 0, 0, NULL, "file is larger than %u bytes", CFG_MAX_FILE);
		free(buf);
		return NULL;
	}
	*len = got;
	return buf;
}

int cfg_load(const char *path, struct cfg *out, cfg_err_fn *err, void *arg)
{
	struct errs e = { .file = path, .fn = err, .arg = arg };
	size_t len = 0;
	char *buf = read_file(&e, path, &len);
	if (!buf) {
		errs_flush(&e);
		return XS_ERROR;
	}

	struct builder b = { .e = &e, .buf = buf, .len = len };
	struct cfg_node root;
	bool whole = false;
	if (!yaml_parser_initialize(&b.parser)) {
		root = (struct cfg_node){ 0 };
		err_at(&e, 0, 0, NULL, "out of memory");
	} else {
		yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf, len);
		whole = build_tree(&b, &root);
		yaml_parser_delete(&b.parser);
	}
	free(buf);

	struct cfg c = { 0 };
	if (whole) {
		c.path = strdup(path);
		if (!c.path)
			err_at(&e, 0, 0, NULL, "out of memory");
		struct loader L = { .e = &e, .c = &c };
		check_tree(&L, &root);
	}
	node_free(&root);

	if (e.n || e.unsorted) {
		cfg_free(&c);
		errs_flush(&e);
		return XS_ERROR;
	}
	errs_flush(&e);
	*out = c;
	return XS_OK;
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	for (size_t i = 0; i < cfg->nhosts; i++)
		free(cfg->hosts[i]);
	free(cfg->hosts);
	free(cfg->host_anonymous);
	free(cfg->host_registration);
	for (size_t i = 0; i < cfg->ncertfiles; i++)
		free(cfg->certfiles[i]);
	free(cfg->certfiles);
	free(cfg->tls_priority);
	free(cfg->data_dir);
	free(cfg->run_dir);
	free(cfg->control_socket);
	free(cfg->modules_dir);
	free(cfg->log_file);
	for (size_t i = 0; i < cfg->ntrace; i++)
		free(cfg->trace[i]);
	free(cfg->trace);
	free(cfg->pidfile);
	free(cfg->user);
	free(cfg->group);
	free(cfg->listen);
	for (size_t i = 0; i < cfg->nmodules; i++) {
		free(cfg->modules[i].name);
		node_free(&cfg->modules[i].opts);
	}
	free(cfg->modules);
	*cfg = (struct cfg){ 0 };
}

#define SWAP(a, b)                  \
	do {                            \
		__typeof__(a) swap_ = (a);  \
		(a) = (b);                  \
		(b) = swap_;                \
	} while (0)

static bool str_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void keep_note_also(bool log, unsigned *k, const char *key, const char *also)
{
	if (log)
		log_warn("reload: '%s' changed: needs a restart (not applied%s)", key, also);
	(*k)++;
}

static void keep_note(bool log, unsigned *k, const char *key)
{
	keep_note_also(log, k, key, "");
}

unsigned cfg_keep_running(struct cfg *n, struct cfg *run, bool log)
{
	unsigned k = 0;
	bool hosts = n->nhosts == run->nhosts;
	for (size_t i = 0; hosts && i < n->nhosts; i++)
		hosts = strcmp(n->hosts[i], run->hosts[i]) == 0;
	if (!hosts) {
		keep_note_also(log, &k, "hosts", "; host_config stays as it is too");
		SWAP(n->hosts, run->hosts);
		SWAP(n->host_anonymous, run->host_anonymous);
		SWAP(n->host_registration, run->host_registration);
		SWAP(n->nhosts, run->nhosts);
	}
	bool mods = n->nmodules == run->nmodules;
	for (size_t i = 0; mods && i < n->nmodules; i++)
		mods = strcmp(n->modules[i].name, run->modules[i].name) == 0;
	if (!mods) {
		keep_note_also(log, &k, "modules", "; module options stay as they are too: change "
		               "options alone to apply them live");
		SWAP(n->modules, run->modules);
		SWAP(n->nmodules, run->nmodules);
	}
	char **strs[][2] = {
		{ &n->data_dir, &run->data_dir }, { &n->run_dir, &run->run_dir },
		{ &n->control_socket, &run->control_socket }, { &n->modules_dir, &run->modules_dir },
		{ &n->user, &run->user }, { &n->group, &run->group },
	};
	static const char *const names[] = { "data_dir", "run_dir", "control_socket",
		                                 "modules_dir", "user", "group" };
	for (size_t i = 0; i < XS_ARRAY_LEN(names); i++) {
		if (str_same(*strs[i][0], *strs[i][1]))
			continue;
		keep_note(log, &k, names[i]);
		SWAP(*strs[i][0], *strs[i][1]);
	}
	/* The pidfile (perhaps from -p) stays the one written at start. */
	SWAP(n->pidfile, run->pidfile);
	if (n->workers != run->workers)
		keep_note(log, &k, "workers");
	if (n->ring_size != run->ring_size)
		keep_note(log, &k, "ring_size");
	if (n->max_stanza_size != run->max_stanza_size)
		keep_note(log, &k, "max_stanza_size");
	n->workers = run->workers;
	n->ring_size = run->ring_size;
	n->max_stanza_size = run->max_stanza_size;
	return k;
}

struct cfg *cfg_reread(const struct cfg *running)
{
	struct cfg *n = calloc(1, sizeof(*n));
	if (n == NULL || cfg_load(running->path, n, NULL, NULL) != XS_OK) {
		free(n);
		log_error("reload: the configuration did not load again; nothing changed here");
		return NULL;
	}
	cfg_keep_running(n, (struct cfg *)running, false);
	if (n->log_target != running->log_target || !str_same(n->log_file, running->log_file))
		log_open(n->log_target, n->log_file);
	log_set_level(n->loglevel);
	return n;
}

static struct cfg **retired;
static size_t nretired;

void cfg_retire(struct cfg *cfg)
{
	struct cfg **n = realloc(retired, (nretired + 1) * sizeof(*n));
	if (n == NULL) {
		log_error("no memory to keep a replaced configuration; leaking it");
		return;
	}
	retired = n;
	retired[nretired++] = cfg;
}

void cfg_retired_free(void)
{
	for (size_t i = 0; i < nretired; i++) {
		cfg_free(retired[i]);
		free(retired[i]);
	}
	free(retired);
	retired = NULL;
	nretired = 0;
}

int cfg_has_host(const struct cfg *cfg, const char *host)
{
	for (size_t i = 0; i < cfg->nhosts; i++)
		if (strcmp(cfg->hosts[i], host) == 0)
			return 1;
	return 0;
}

/* cfg_tree.c — error collection, and pass 1 of the configuration loader:
 * libyaml's events become a bounded generic tree that keeps every position,
 * so that pass 2 (cfg_settings.c) can name the line and column of whatever it
 * rejects.  Errors are collected and emitted sorted by position: `xmppd -t`
 * then reads top to bottom even though some checks (missing keys, duplicates)
 * run late.  Contract: lib/cfg_int.h. */
#include "lib/cfg_int.h"
#include "lib/xs.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CFG_MAX_DEPTH 32
#define CFG_MAX_NODES 100000
/* Key paths only decorate messages; a pathological one is cut, not refused. */
#define CFG_KEYPATH_MAX 256

/* ---- error collection ---------------------------------------------------- */

static void emit(const struct cfg_errs *e, const char *text)
{
	if (e->fn)
		e->fn(e->arg, text);
	else
		log_error("%s", text);
}

/* A message is one line whatever the file holds: keys and values quoted in it
 * may carry escaped newlines or control characters. */
void cfg_one_line(char *s)
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

/* line 0 means the problem has no position (the file itself). */
void cfg_verr(struct cfg_errs *e, int line, int col, const char *key, const char *fmt,
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
	cfg_one_line(buf);

	if (e->n == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 16;
		struct cfg_err_item *nv = realloc(e->v, ncap * sizeof(*nv));
		if (!nv)
			goto unsorted;
		e->v = nv;
		e->cap = ncap;
	}
	char *text = strdup(buf);
	if (!text)
		goto unsorted;
	e->v[e->n] = (struct cfg_err_item){ line, col, e->n, text };
	e->n++;
	return;
unsorted:
	emit(e, buf); /* out of memory: still said, just not in order */
	e->unsorted++;
}

void cfg_err_at(struct cfg_errs *e, int line, int col, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cfg_verr(e, line, col, key, fmt, ap);
	va_end(ap);
}

static int err_cmp(const void *a, const void *b)
{
	const struct cfg_err_item *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void cfg_errs_flush(struct cfg_errs *e)
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

void cfg_node_free(struct cfg_node *n)
{
	for (size_t i = 0; i < n->nchildren; i++)
		cfg_node_free(&n->children[i]);
	free(n->children);
	free(n->value);
	free(n->key);
	*n = (struct cfg_node){ 0 };
}

/* Poisoned: a scalar without value.  It never leaves the loader, since the
 * load fails anyway. */
bool cfg_node_poisoned(const struct cfg_node *n)
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
	struct cfg_errs *e;
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
	cfg_verr(b->e, line, col, b->path, fmt, ap);
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
		cfg_err_at(b->e, 0, 0, NULL, "out of memory while parsing");
	else if (p->context)
		cfg_err_at(b->e, line, col, NULL, "syntax error: %s (%s at line %d, column %d)",
		           problem, p->context, mark_line(&p->context_mark), mark_col(&p->context_mark));
	else
		cfg_err_at(b->e, line, col, NULL, "syntax error: %s", problem);
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
			cfg_err_at(b->e, mark_line(&ev->start_mark), mark_col(&ev->start_mark), NULL,
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
	cfg_err_at(b->e, 0, 0, NULL, "out of memory");
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
		cfg_node_free(dup); /* leaves key == NULL: the mark for compaction */
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
			cfg_node_free(child);
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
			cfg_node_free(&child);
			ok = false;
			break;
		}
		size_t old = path_push_key(b, child.key ? child.key : "?");
		bool cont = build_node(b, &vev, depth, &child);
		path_pop(b, old);
		if (!keep) {
			cfg_node_free(&child);
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
		return true; /* cfg_node_poisoned */
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
		cfg_err_at(b->e, out->line, out->col, NULL, "unexpected YAML event");
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
		cfg_err_at(b->e, mark_line(&ev.start_mark), mark_col(&ev.start_mark), NULL,
		           "only one YAML document is allowed");
	yaml_event_delete(&ev);
	return true;
}

bool cfg_tree_build(struct cfg_errs *e, const char *buf, size_t len, struct cfg_node *root)
{
	struct builder b = { .e = e, .buf = buf, .len = len };
	if (!yaml_parser_initialize(&b.parser)) {
		*root = (struct cfg_node){ 0 };
		cfg_err_at(e, 0, 0, NULL, "out of memory");
		return false;
	}
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf, len);
	bool whole = build_tree(&b, root);
	yaml_parser_delete(&b.parser);
	return whole;
}

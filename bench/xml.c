/* xml.c — incremental scanner for a server's XML stream, and helpers that
 * read one complete element in place.  Cheap on purpose: the generator
 * shares the machine with the server it measures, so text is skipped with
 * memchr() and only tags are walked byte by byte. */
#include "bench/xml.h"

#include <string.h>

enum {
	S_TEXT = 0, /* between tags */
	S_LT,       /* just after '<' */
	S_TAG,      /* inside a start or end tag, outside quotes */
	S_QUOTE,    /* inside an attribute value */
	S_PI,       /* inside <? ... */
	S_PI_Q,     /* inside <? ... after a '?' */
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void xml_reset(struct xml_scan *x)
{
	size_t pos = x->pos;
	memset(x, 0, sizeof(*x));
	x->pos = x->elem = x->tag = pos;
}

/* A tag ended just before `end`: adjust the depth and say what it closed. */
static enum xml_event tag_done(struct xml_scan *x, const char *buf, size_t end,
                               struct xml_str *ev)
{
	if (x->end_tag) {
		switch (x->depth) {
		case 0:
			return XML_ERROR;
		case 1:
			x->depth = 0;
			return XML_CLOSE;
		case 2:
			x->depth = 1;
			ev->p = buf + x->elem;
			ev->n = end - x->elem;
			return XML_ELEMENT;
		default:
			x->depth--;
			return XML_MORE;
		}
	}
	if (x->depth == 0) {
		if (x->slash)
			return XML_ERROR; /* an empty stream */
		x->depth = 1;
		ev->p = buf + x->tag;
		ev->n = end - x->tag;
		return XML_OPEN;
	}
	if (x->depth == 1) {
		x->elem = x->tag;
		if (x->slash) {
			ev->p = buf + x->elem;
			ev->n = end - x->elem;
			return XML_ELEMENT;
		}
		x->depth = 2;
		return XML_MORE;
	}
	if (!x->slash)
		x->depth++;
	return XML_MORE;
}

enum xml_event xml_next(struct xml_scan *x, const char *buf, size_t len, struct xml_str *ev)
{
	size_t i = x->pos;
	while (i < len) {
		char c;
		const char *hit;
		switch (x->state) {
		case S_TEXT:
			hit = memchr(buf + i, '<', len - i);
			if (hit == NULL) {
				i = len;
				break;
			}
			x->tag = (size_t)(hit - buf);
			i = x->tag + 1;
			x->state = S_LT;
			break;
		case S_LT:
			c = buf[i];
			x->end_tag = false;
			x->slash = false;
			if (c == '?') {
				x->state = S_PI;
				i++;
			} else if (c == '!' || c == '<' || c == '>' || is_space(c)) {
				return XML_ERROR; /* comment, DOCTYPE, CDATA or garbage */
			} else {
				if (c == '/') {
					x->end_tag = true;
					i++;
				}
				x->state = S_TAG;
			}
			break;
		case S_TAG:
			for (; i < len; i++) {
				c = buf[i];
				if (c == '>' || c == '"' || c == '\'' || c == '<')
					break;
				if (c == '/')
					x->slash = true;
				else if (!is_space(c))
					x->slash = false;
			}
			if (i == len)
				break;
			c = buf[i++];
			if (c == '<')
				return XML_ERROR;
			if (c != '>') {
				x->quote = c;
				x->state = S_QUOTE;
				break;
			}
			x->state = S_TEXT;
			enum xml_event e = tag_done(x, buf, i, ev);
			if (e != XML_MORE) {
				x->pos = i;
				return e;
			}
			break;
		case S_QUOTE:
			hit = memchr(buf + i, x->quote, len - i);
			if (hit == NULL) {
				i = len;
				break;
			}
			i = (size_t)(hit - buf) + 1;
			x->slash = false;
			x->state = S_TAG;
			break;
		case S_PI:
			hit = memchr(buf + i, '?', len - i);
			if (hit == NULL) {
				i = len;
				break;
			}
			i = (size_t)(hit - buf) + 1;
			x->state = S_PI_Q;
			break;
		case S_PI_Q:
			c = buf[i++];
			if (c == '>')
				x->state = S_TEXT; /* the XML declaration: nothing to report */
			else if (c != '?')
				x->state = S_PI;
			break;
		}
	}
	x->pos = i;
	size_t from = xml_keep(x);
	if (len - from > XML_MAX_ELEMENT)
		return XML_ERROR;
	return XML_MORE;
}

size_t xml_keep(const struct xml_scan *x)
{
	if (x->depth >= 2)
		return x->elem;
	if (x->state != S_TEXT)
		return x->tag;
	return x->pos;
}

static size_t sub_sat(size_t a, size_t b)
{
	return a > b ? a - b : 0;
}

void xml_rebase(struct xml_scan *x, size_t dropped)
{
	x->pos = sub_sat(x->pos, dropped);
	x->elem = sub_sat(x->elem, dropped);
	x->tag = sub_sat(x->tag, dropped);
}

/* ------------------------------------------------------------ helpers */

/* One past the qualified name that starts at i. */
static size_t name_end(const char *p, size_t i, size_t n)
{
	while (i < n && !is_space(p[i]) && p[i] != '>' && p[i] != '/')
		i++;
	return i;
}

/* The local part of the name starting at p[from]. */
static struct xml_str local_name(const char *p, size_t from, size_t n)
{
	size_t e = name_end(p, from, n);
	size_t s = from;
	for (size_t k = from; k < e; k++)
		if (p[k] == ':')
			s = k + 1;
	return (struct xml_str){ p + s, e - s };
}

struct xml_str xml_name(struct xml_str el)
{
	if (el.n < 2 || el.p[0] != '<')
		return (struct xml_str){ el.p, 0 };
	return local_name(el.p, 1, el.n);
}

bool xml_name_is(struct xml_str el, const char *local)
{
	return xml_str_eq(xml_name(el), local);
}

bool xml_attr(struct xml_str el, const char *name, struct xml_str *out, char *quote)
{
	const char *p = el.p;
	size_t n = el.n;
	size_t i = name_end(p, 1, n);
	size_t want = strlen(name);
	for (;;) {
		while (i < n && is_space(p[i]))
			i++;
		if (i >= n || p[i] == '>' || p[i] == '/')
			return false;
		size_t ns = i;
		while (i < n && p[i] != '=' && !is_space(p[i]))
			i++;
		size_t ne = i;
		while (i < n && is_space(p[i]))
			i++;
		if (i >= n || p[i] != '=')
			return false;
		i++;
		while (i < n && is_space(p[i]))
			i++;
		if (i >= n || (p[i] != '\'' && p[i] != '"'))
			return false;
		char q = p[i++];
		const char *v = memchr(p + i, q, n - i);
		if (v == NULL)
			return false;
		if (ne - ns == want && memcmp(p + ns, name, want) == 0) {
			out->p = p + i;
			out->n = (size_t)(v - (p + i));
			if (quote)
				*quote = q;
			return true;
		}
		i = (size_t)(v - p) + 1;
	}
}

bool xml_attr_is(struct xml_str el, const char *name, const char *value)
{
	struct xml_str v;
	return xml_attr(el, name, &v, NULL) && xml_str_eq(v, value);
}

/* The next tag from *i on: [*start, *end) with *end one past its '>'. */
static bool next_tag(const char *p, size_t n, size_t *i, size_t *start, size_t *end)
{
	if (*i >= n)
		return false;
	const char *lt = memchr(p + *i, '<', n - *i);
	if (lt == NULL)
		return false;
	size_t s = (size_t)(lt - p);
	char q = 0;
	for (size_t j = s + 1; j < n; j++) {
		char c = p[j];
		if (q) {
			if (c == q)
				q = 0;
		} else if (c == '\'' || c == '"') {
			q = c;
		} else if (c == '>') {
			*start = s;
			*end = j + 1;
			*i = j + 1;
			return true;
		}
	}
	return false;
}

static bool is_start_tag(const char *p, size_t start)
{
	return p[start + 1] != '/' && p[start + 1] != '?';
}

static bool is_empty_tag(const char *p, size_t end)
{
	return p[end - 2] == '/';
}

bool xml_text(struct xml_str el, const char *local, struct xml_str *out)
{
	const char *p = el.p;
	size_t n = el.n, i = 0, s, e;
	while (next_tag(p, n, &i, &s, &e)) {
		if (!is_start_tag(p, s) || !xml_str_eq(local_name(p, s + 1, e), local))
			continue;
		out->p = p + e;
		if (is_empty_tag(p, e)) {
			out->n = 0;
			return true;
		}
		const char *lt = memchr(p + e, '<', n - e);
		out->n = lt ? (size_t)(lt - (p + e)) : n - e;
		return true;
	}
	return false;
}

bool xml_first_child(struct xml_str el, struct xml_str *child)
{
	const char *p = el.p;
	size_t n = el.n, i = 0, s, e;
	if (!next_tag(p, n, &i, &s, &e) || is_empty_tag(p, e))
		return false;
	if (!next_tag(p, n, &i, &s, &e) || !is_start_tag(p, s))
		return false;
	size_t first = s;
	unsigned depth = 1;
	if (is_empty_tag(p, e))
		depth = 0;
	while (depth > 0 && next_tag(p, n, &i, &s, &e)) {
		if (p[s + 1] == '/')
			depth--;
		else if (is_start_tag(p, s) && !is_empty_tag(p, e))
			depth++;
	}
	if (depth > 0)
		return false;
	child->p = p + first;
	child->n = e - first;
	return true;
}

/* stz.c — flat stanza encoding: builder, checked view, XML output. */
#include "lib/stz.h"
#include "lib/xs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- names */

static const char *const type_names[] = {
	[STZ_T_NONE] = "", [STZ_T_UNKNOWN] = "",
	[STZ_T_NORMAL] = "normal", [STZ_T_CHAT] = "chat", [STZ_T_GROUPCHAT] = "groupchat",
	[STZ_T_HEADLINE] = "headline", [STZ_T_ERROR] = "error",
	[STZ_T_UNAVAILABLE] = "unavailable", [STZ_T_SUBSCRIBE] = "subscribe",
	[STZ_T_SUBSCRIBED] = "subscribed", [STZ_T_UNSUBSCRIBE] = "unsubscribe",
	[STZ_T_UNSUBSCRIBED] = "unsubscribed", [STZ_T_PROBE] = "probe",
	[STZ_T_GET] = "get", [STZ_T_SET] = "set", [STZ_T_RESULT] = "result",
};

static bool eq(const char *a, size_t alen, const char *z)
{
	size_t zl = strlen(z);
	return alen == zl && memcmp(a, z, zl) == 0;
}

enum stz_kind stz_kind_of(const char *name, size_t len)
{
	if (eq(name, len, "message"))
		return STZ_MESSAGE;
	if (eq(name, len, "presence"))
		return STZ_PRESENCE;
	if (eq(name, len, "iq"))
		return STZ_IQ;
	return STZ_OTHER;
}

enum stz_type stz_type_of(const char *value, size_t len)
{
	for (size_t t = STZ_T_NORMAL; t < XS_ARRAY_LEN(type_names); t++)
		if (eq(value, len, type_names[t]))
			return (enum stz_type)t;
	return STZ_T_UNKNOWN;
}

const char *stz_type_name(enum stz_type t)
{
	return (unsigned)t < XS_ARRAY_LEN(type_names) ? type_names[t] : "";
}

bool stz_type_valid(enum stz_kind kind, enum stz_type t)
{
	if (t == STZ_T_NONE)
		return kind != STZ_IQ; /* an IQ must say what it is */
	if (t == STZ_T_ERROR)
		return kind != STZ_OTHER;
	switch (kind) {
	case STZ_MESSAGE:
		return t >= STZ_T_NORMAL && t <= STZ_T_HEADLINE;
	case STZ_PRESENCE:
		return t >= STZ_T_UNAVAILABLE && t <= STZ_T_PROBE;
	case STZ_IQ:
		return t >= STZ_T_GET && t <= STZ_T_RESULT;
	default:
		return false;
	}
}

/* ---------------------------------------------------------------- view */

static bool ref_ok(const struct stz_hdr *h, const char *pool, struct stz_ref r)
{
	return (uint64_t)r.off + r.len < h->pool_len && pool[r.off + r.len] == '\0';
}

int stz_view(struct stz *s, const void *buf, size_t len)
{
	const struct stz_hdr *h = buf;
	if (len < sizeof(*h) || ((uintptr_t)buf & 7) != 0)
		return XS_ERROR;
	if (h->magic != STZ_MAGIC || h->size != len || h->nnodes == 0)
		return XS_ERROR;
	uint64_t nodes_end = (uint64_t)h->nodes_off + (uint64_t)h->nnodes * sizeof(struct stz_node);
	uint64_t attrs_end = (uint64_t)h->attrs_off + (uint64_t)h->nattrs * sizeof(struct stz_attr);
	if (h->nodes_off < sizeof(*h) || (h->nodes_off & 7) || nodes_end > h->attrs_off ||
	    (h->attrs_off & 7) || attrs_end > h->pool_off ||
	    (uint64_t)h->pool_off + h->pool_len != len || h->pool_len == 0)
		return XS_ERROR;
	const char *pool = (const char *)buf + h->pool_off;
	const struct stz_node *nodes = (const void *)((const char *)buf + h->nodes_off);
	const struct stz_attr *attrs = (const void *)((const char *)buf + h->attrs_off);
	if (!ref_ok(h, pool, h->from) || !ref_ok(h, pool, h->to) || !ref_ok(h, pool, h->id) ||
	    !ref_ok(h, pool, h->lang) || !ref_ok(h, pool, h->payload_ns))
		return XS_ERROR;
	if (nodes[0].is_text || nodes[0].depth != 0 || nodes[0].end != h->nnodes)
		return XS_ERROR;
	/* One pass with a stack of open subtrees: every node must sit inside its
	 * parent's range at the parent's depth + 1. */
	uint32_t stack[STZ_MAX_DEPTH + 1];
	uint32_t sp = 0;
	for (uint32_t i = 0; i < h->nnodes; i++) {
		while (sp > 0 && nodes[stack[sp - 1]].end == i)
			sp--;
		const struct stz_node *n = &nodes[i];
		if (n->depth != sp || (i > 0 && sp == 0))
			return XS_ERROR;
		if (n->end <= i || (sp > 0 && n->end > nodes[stack[sp - 1]].end))
			return XS_ERROR;
		if (!ref_ok(h, pool, n->name) || !ref_ok(h, pool, n->ns))
			return XS_ERROR;
		if (n->is_text) {
			if (n->end != i + 1 || n->nattrs != 0 || i == 0)
				return XS_ERROR;
			continue;
		}
		if ((uint64_t)n->attr_first + n->nattrs > h->nattrs || n->nattrs > STZ_MAX_ATTRS ||
		    n->name.len == 0)
			return XS_ERROR;
		for (uint32_t a = n->attr_first; a < n->attr_first + n->nattrs; a++)
			if (!ref_ok(h, pool, attrs[a].name) || !ref_ok(h, pool, attrs[a].ns) ||
			    !ref_ok(h, pool, attrs[a].value) || attrs[a].name.len == 0)
				return XS_ERROR;
		if (n->end > i + 1) {
			if (sp >= STZ_MAX_DEPTH)
				return XS_ERROR;
			stack[sp++] = i;
		}
	}
	s->h = h;
	s->nodes = nodes;
	s->attrs = attrs;
	s->pool = pool;
	return XS_OK;
}

uint32_t stz_first_child(const struct stz *s, uint32_t parent)
{
	return parent + 1 < s->nodes[parent].end ? parent + 1 : 0;
}

uint32_t stz_next_sibling(const struct stz *s, uint32_t parent, uint32_t child)
{
	uint32_t next = s->nodes[child].end;
	return next < s->nodes[parent].end ? next : 0;
}

uint32_t stz_child(const struct stz *s, uint32_t parent, const char *name, const char *ns)
{
	for (uint32_t c = stz_first_child(s, parent); c != 0; c = stz_next_sibling(s, parent, c))
		if (stz_node_is(s, c, name, ns))
			return c;
	return 0;
}

const char *stz_attr(const struct stz *s, uint32_t node, const char *name)
{
	const struct stz_node *n = &s->nodes[node];
	for (uint32_t a = n->attr_first; a < n->attr_first + n->nattrs; a++)
		if (s->attrs[a].ns.len == 0 && strcmp(stz_str(s, s->attrs[a].name), name) == 0)
			return stz_str(s, s->attrs[a].value);
	return NULL;
}

const char *stz_text(const struct stz *s, uint32_t node)
{
	for (uint32_t c = stz_first_child(s, node); c != 0; c = stz_next_sibling(s, node, c))
		if (s->nodes[c].is_text)
			return stz_str(s, s->nodes[c].name);
	return "";
}

/* ---------------------------------------------------------------- output */

/* A reader's parser turns a literal CR (and CRLF) into LF, and a tab or
 * line break inside an attribute value into a space: those go as character
 * references, or the recipient would not get what the sender wrote. */
static int put_escaped(struct buf *out, const char *p, size_t len, bool attr)
{
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		const char *rep;
		switch (p[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = attr ? "&quot;" : NULL; break;
		case '\'': rep = attr ? "&apos;" : NULL; break;
		case '\r': rep = "&#13;"; break;
		case '\t': rep = attr ? "&#9;" : NULL; break;
		case '\n': rep = attr ? "&#10;" : NULL; break;
		default: rep = NULL; break;
		}
		if (rep == NULL)
			continue;
		if (buf_append(out, p + start, i - start) != XS_OK || buf_appendz(out, rep) != XS_OK)
			return XS_ERROR;
		start = i + 1;
	}
	return buf_append(out, p + start, len - start);
}

static int put_attr(struct buf *out, const char *prefix, const char *name, size_t nlen,
                    const char *value, size_t vlen)
{
	if (buf_append(out, " ", 1) || (prefix && buf_appendz(out, prefix)) ||
	    buf_append(out, name, nlen) || buf_append(out, "='", 2) ||
	    put_escaped(out, value, vlen, true) || buf_append(out, "'", 1))
		return XS_ERROR;
	return XS_OK;
}

/* `cut`, for the stanza element only (else NULL): its own namespace-less
 * 'to' is left out and *cut set to where it stood, or to the end of the
 * attributes when it had none. */
static int put_start_tag(const struct stz *s, uint32_t i, const char *parent_ns,
                         struct buf *out, size_t *cut)
{
	const struct stz_node *n = &s->nodes[i];
	const char *ns = stz_str(s, n->ns);
	if (buf_append(out, "<", 1) || buf_append(out, stz_str(s, n->name), n->name.len))
		return XS_ERROR;
	if (strcmp(ns, parent_ns) != 0 &&
	    put_attr(out, NULL, "xmlns", 5, ns, n->ns.len) != XS_OK)
		return XS_ERROR;
	unsigned nprefix = 0;
	for (uint32_t a = n->attr_first; a < n->attr_first + n->nattrs; a++) {
		const struct stz_attr *at = &s->attrs[a];
		if (cut && at->ns.len == 0 && at->name.len == 2 &&
		    memcmp(stz_str(s, at->name), "to", 2) == 0) {
			*cut = out->len;
			cut = NULL;
			continue;
		}
		const char *ans = stz_str(s, at->ns);
		const char *prefix = NULL;
		char pbuf[16];
		if (at->ns.len == 0) {
			prefix = NULL;
		} else if (strcmp(ans, STZ_NS_XML) == 0) {
			prefix = "xml:";
		} else {
			/* Foreign attribute namespace: declare a private prefix for it. */
			snprintf(pbuf, sizeof(pbuf), "a%u", nprefix++);
			char decl[24];
			int dl = snprintf(decl, sizeof(decl), "xmlns:%s", pbuf);
			if (put_attr(out, NULL, decl, (size_t)dl, ans, at->ns.len) != XS_OK)
				return XS_ERROR;
			strcat(pbuf, ":");
			prefix = pbuf;
		}
		if (put_attr(out, prefix, stz_str(s, at->name), at->name.len,
		             stz_str(s, at->value), at->value.len) != XS_OK)
			return XS_ERROR;
	}
	if (cut)
		*cut = out->len;
	return XS_OK;
}

/* The stanza as XML; with `cut` non-NULL, without the stanza element's
 * 'to', whose place is stored in *cut (see put_start_tag). */
static int put_xml(const struct stz *s, const char *stream_ns, struct buf *out, size_t *cut)
{
	/* Elements still open, innermost last, to emit their end tags. */
	uint32_t open[STZ_MAX_DEPTH + 1];
	uint32_t depth = 0;
	for (uint32_t i = 0; i < s->h->nnodes; i++) {
		while (depth > 0 && s->nodes[open[depth - 1]].end == i) {
			const struct stz_node *o = &s->nodes[open[--depth]];
			if (buf_append(out, "</", 2) || buf_append(out, stz_str(s, o->name), o->name.len) ||
			    buf_append(out, ">", 1))
				return XS_ERROR;
		}
		const struct stz_node *n = &s->nodes[i];
		if (n->is_text) {
			if (put_escaped(out, stz_str(s, n->name), n->name.len, false) != XS_OK)
				return XS_ERROR;
			continue;
		}
		const char *parent_ns = depth > 0 ? stz_str(s, s->nodes[open[depth - 1]].ns) : stream_ns;
		if (put_start_tag(s, i, parent_ns, out, i == 0 ? cut : NULL) != XS_OK)
			return XS_ERROR;
		if (n->end == i + 1) {
			if (buf_append(out, "/>", 2))
				return XS_ERROR;
		} else {
			if (buf_append(out, ">", 1))
				return XS_ERROR;
			open[depth++] = i;
		}
	}
	while (depth > 0) {
		const struct stz_node *o = &s->nodes[open[--depth]];
		if (buf_append(out, "</", 2) || buf_append(out, stz_str(s, o->name), o->name.len) ||
		    buf_append(out, ">", 1))
			return XS_ERROR;
	}
	return XS_OK;
}

int stz_to_xml(const struct stz *s, const char *stream_ns, struct buf *out)
{
	return put_xml(s, stream_ns, out, NULL);
}

int stz_wire_make(struct stz_wire *w, const struct stz *s, const char *stream_ns, bool stamp_to)
{
	w->text.off = w->text.len = 0;
	w->ns = stream_ns;
	w->stamp_to = stamp_to;
	w->cut = 0;
	if (put_xml(s, stream_ns, &w->text, stamp_to ? &w->cut : NULL) != XS_OK) {
		w->ns = NULL;
		return XS_ERROR;
	}
	if (!stamp_to)
		w->cut = w->text.len;
	return XS_OK;
}

int stz_wire_put(const struct stz_wire *w, const char *to, struct buf *out)
{
	size_t tail = w->text.len - w->cut;
	size_t tlen = w->stamp_to && to ? strlen(to) : 0;
	/* One reservation: the common case (no character to escape) copies
	 * three pieces without growing the buffer in between. */
	if (buf_reserve(out, w->text.len + (tlen ? tlen + 6 : 0)) != XS_OK ||
	    buf_append(out, w->text.data, w->cut) != XS_OK)
		return XS_ERROR;
	if (tlen && (buf_append(out, " to='", 5) != XS_OK ||
	             put_escaped(out, to, tlen, true) != XS_OK || buf_append(out, "'", 1) != XS_OK))
		return XS_ERROR;
	return buf_append(out, w->text.data + w->cut, tail);
}

void stz_wire_free(struct stz_wire *w)
{
	buf_free(&w->text);
	w->ns = NULL;
}

/* ---------------------------------------------------------------- builder */

void stz_b_init(struct stz_builder *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

void stz_b_reset(struct stz_builder *b)
{
	b->nnodes = b->nattrs = b->pool_len = 0;
	b->depth = 0;
	b->failed = false;
}

void stz_b_free(struct stz_builder *b)
{
	free(b->nodes);
	free(b->attrs);
	free(b->pool);
	stz_b_init(b, b->limit);
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static size_t encoded_size(const struct stz_builder *b)
{
	return align8(sizeof(struct stz_hdr)) + (size_t)b->nnodes * sizeof(struct stz_node) +
	       (size_t)b->nattrs * sizeof(struct stz_attr) + align8((size_t)b->pool_len + 1);
}

/* Grows one of the builder's arrays; fails the builder past its limit. */
static int grow(struct stz_builder *b, void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return XS_OK;
	uint32_t ncap = *cap ? *cap : (elem == 1 ? 512 : 16);
	while (ncap < need)
		ncap *= 2;
	void *p = realloc(*arr, (size_t)ncap * elem);
	if (p == NULL) {
		b->failed = true;
		return XS_ERROR;
	}
	*arr = p;
	*cap = ncap;
	return XS_OK;
}

static int check_limit(struct stz_builder *b, size_t more)
{
	if (b->failed || encoded_size(b) + more > b->limit) {
		b->failed = true;
		return XS_ERROR;
	}
	return XS_OK;
}

/* Copies a string into the pool (NUL-terminated) and returns its reference. */
static int pool_add(struct stz_builder *b, const char *p, size_t len, struct stz_ref *out)
{
	if (len > UINT32_MAX / 2 || check_limit(b, len + 1) != XS_OK)
		return XS_ERROR;
	if (grow(b, (void **)&b->pool, &b->pool_cap, b->pool_len + (uint32_t)len + 1, 1) != XS_OK)
		return XS_ERROR;
	memcpy(b->pool + b->pool_len, p, len);
	b->pool[b->pool_len + len] = '\0';
	out->off = b->pool_len;
	out->len = (uint32_t)len;
	b->pool_len += (uint32_t)len + 1;
	return XS_OK;
}

static bool ref_eq(const struct stz_builder *b, struct stz_ref r, const char *p, size_t len)
{
	return r.len == len && memcmp(b->pool + r.off, p, len) == 0;
}

int stz_b_open(struct stz_builder *b, const char *name, size_t nlen, const char *ns, size_t nslen)
{
	if (b->depth >= STZ_MAX_DEPTH || nlen == 0 || (b->depth == 0 && b->nnodes > 0) ||
	    check_limit(b, sizeof(struct stz_node)) != XS_OK ||
	    grow(b, (void **)&b->nodes, &b->nodes_cap, b->nnodes + 1, sizeof(struct stz_node)) != XS_OK) {
		b->failed = true;
		return XS_ERROR;
	}
	struct stz_node n = { .depth = (uint16_t)b->depth, .attr_first = b->nattrs };
	if (pool_add(b, name, nlen, &n.name) != XS_OK)
		return XS_ERROR;
	/* Children nearly always share the parent's namespace: reuse its bytes. */
	if (b->depth > 0 && ref_eq(b, b->nodes[b->stack[b->depth - 1]].ns, ns, nslen))
		n.ns = b->nodes[b->stack[b->depth - 1]].ns;
	else if (pool_add(b, ns, nslen, &n.ns) != XS_OK)
		return XS_ERROR;
	b->stack[b->depth++] = b->nnodes;
	b->nodes[b->nnodes++] = n;
	return XS_OK;
}

int stz_b_attr(struct stz_builder *b, const char *name, size_t nlen, const char *ns,
               size_t nslen, const char *value, size_t vlen)
{
	if (b->depth == 0 || nlen == 0 || b->stack[b->depth - 1] != b->nnodes - 1) {
		b->failed = true; /* attributes belong right after their element */
		return XS_ERROR;
	}
	struct stz_node *n = &b->nodes[b->nnodes - 1];
	if (n->nattrs >= STZ_MAX_ATTRS || check_limit(b, sizeof(struct stz_attr)) != XS_OK ||
	    grow(b, (void **)&b->attrs, &b->attrs_cap, b->nattrs + 1, sizeof(struct stz_attr)) != XS_OK) {
		b->failed = true;
		return XS_ERROR;
	}
	struct stz_attr a;
	if (pool_add(b, name, nlen, &a.name) != XS_OK || pool_add(b, ns, nslen, &a.ns) != XS_OK ||
	    pool_add(b, value, vlen, &a.value) != XS_OK)
		return XS_ERROR;
	b->attrs[b->nattrs++] = a;
	b->nodes[b->nnodes - 1].nattrs++;
	return XS_OK;
}

int stz_b_text(struct stz_builder *b, const char *text, size_t len)
{
	if (b->depth == 0) {
		b->failed = true;
		return XS_ERROR;
	}
	if (len == 0)
		return XS_OK;
	struct stz_node *last = &b->nodes[b->nnodes - 1];
	if (last->is_text && last->depth == b->depth) {
		/* SAX delivers text in pieces: extend the previous text node, whose
		 * bytes are the last thing in the pool.  Only a text node of the open
		 * element: in <a><b>x</b>y</a>, "y" is not part of b's "x". */
		if (check_limit(b, len) != XS_OK ||
		    grow(b, (void **)&b->pool, &b->pool_cap, b->pool_len + (uint32_t)len, 1) != XS_OK)
			return XS_ERROR;
		memcpy(b->pool + b->pool_len - 1, text, len);
		b->pool_len += (uint32_t)len;
		b->pool[b->pool_len - 1] = '\0';
		last->name.len += (uint32_t)len;
		last->ns.off = last->name.off + last->name.len;
		return XS_OK;
	}
	if (check_limit(b, sizeof(struct stz_node)) != XS_OK ||
	    grow(b, (void **)&b->nodes, &b->nodes_cap, b->nnodes + 1, sizeof(struct stz_node)) != XS_OK)
		return XS_ERROR;
	struct stz_node n = { .is_text = 1, .depth = (uint16_t)b->depth, .end = b->nnodes + 1,
	                      .attr_first = b->nattrs };
	if (pool_add(b, text, len, &n.name) != XS_OK)
		return XS_ERROR;
	/* A text node has no namespace: its empty reference is the text's own NUL,
	 * which keeps the text last in the pool so later pieces can extend it. */
	n.ns.off = n.name.off + n.name.len;
	n.ns.len = 0;
	b->nodes[b->nnodes++] = n;
	return XS_OK;
}

int stz_b_close(struct stz_builder *b)
{
	if (b->depth == 0 || b->failed) {
		b->failed = true;
		return XS_ERROR;
	}
	uint32_t i = b->stack[--b->depth];
	b->nodes[i].end = b->nnodes;
	return XS_OK;
}

int stz_b_openz(struct stz_builder *b, const char *name, const char *ns)
{
	return stz_b_open(b, name, strlen(name), ns, strlen(ns));
}

int stz_b_attrz(struct stz_builder *b, const char *name, const char *value)
{
	return stz_b_attr(b, name, strlen(name), "", 0, value, strlen(value));
}

int stz_b_copy(struct stz_builder *b, const struct stz *src, uint32_t n)
{
	uint32_t base_depth = src->nodes[n].depth;
	uint32_t end = src->nodes[n].end;
	uint32_t opened = 0;
	for (uint32_t i = n; i < end; i++) {
		const struct stz_node *sn = &src->nodes[i];
		while (opened > 0 && sn->depth <= base_depth + opened - 1) {
			if (stz_b_close(b) != XS_OK)
				return XS_ERROR;
			opened--;
		}
		if (sn->is_text) {
			if (stz_b_text(b, stz_str(src, sn->name), sn->name.len) != XS_OK)
				return XS_ERROR;
			continue;
		}
		if (stz_b_open(b, stz_str(src, sn->name), sn->name.len, stz_str(src, sn->ns),
		               sn->ns.len) != XS_OK)
			return XS_ERROR;
		for (uint32_t a = sn->attr_first; a < sn->attr_first + sn->nattrs; a++) {
			const struct stz_attr *sa = &src->attrs[a];
			if (stz_b_attr(b, stz_str(src, sa->name), sa->name.len, stz_str(src, sa->ns),
			               sa->ns.len, stz_str(src, sa->value), sa->value.len) != XS_OK)
				return XS_ERROR;
		}
		opened++;
	}
	while (opened-- > 0)
		if (stz_b_close(b) != XS_OK)
			return XS_ERROR;
	return XS_OK;
}

size_t stz_b_size(const struct stz_builder *b)
{
	if (b->failed || b->depth != 0 || b->nnodes == 0)
		return 0;
	return encoded_size(b);
}

/* Finds a plain attribute of the stanza element while writing the header. */
static struct stz_ref root_attr(const struct stz_builder *b, const char *name, const char *ns,
                                struct stz_ref none)
{
	const struct stz_node *r = &b->nodes[0];
	for (uint32_t a = r->attr_first; a < r->attr_first + r->nattrs; a++) {
		const struct stz_attr *at = &b->attrs[a];
		if (strcmp(b->pool + at->name.off, name) == 0 && strcmp(b->pool + at->ns.off, ns) == 0)
			return at->value;
	}
	return none;
}

void stz_b_write(const struct stz_builder *b, void *dst, uint64_t conn)
{
	struct stz_hdr *h = dst;
	size_t size = encoded_size(b);
	memset(h, 0, align8(sizeof(*h)));
	h->size = (uint32_t)size;
	h->magic = STZ_MAGIC;
	h->nnodes = b->nnodes;
	h->nattrs = b->nattrs;
	h->nodes_off = (uint32_t)align8(sizeof(*h));
	h->attrs_off = h->nodes_off + b->nnodes * (uint32_t)sizeof(struct stz_node);
	h->pool_off = h->attrs_off + b->nattrs * (uint32_t)sizeof(struct stz_attr);
	/* One extra NUL closes the pool so that an empty reference can point at it. */
	h->pool_len = (uint32_t)(size - h->pool_off);
	h->conn = conn;
	const struct stz_node *r = &b->nodes[0];
	h->kind = (uint8_t)stz_kind_of(b->pool + r->name.off, r->name.len);
	struct stz_ref none = { .off = b->pool_len, .len = 0 };
	struct stz_ref type = root_attr(b, "type", "", none);
	h->type = type.len || type.off != none.off
	        ? (uint8_t)stz_type_of(b->pool + type.off, type.len) : STZ_T_NONE;
	h->from = root_attr(b, "from", "", none);
	h->to = root_attr(b, "to", "", none);
	h->id = root_attr(b, "id", "", none);
	h->lang = root_attr(b, "lang", STZ_NS_XML, none);
	h->payload_ns = none;
	for (uint32_t c = 1; c < r->end; c = b->nodes[c].end) {
		if (!b->nodes[c].is_text) {
			h->payload_ns = b->nodes[c].ns;
			break;
		}
	}
	char *base = dst;
	memcpy(base + h->nodes_off, b->nodes, (size_t)b->nnodes * sizeof(struct stz_node));
	if (b->nattrs > 0) /* attrs may still be unallocated */
		memcpy(base + h->attrs_off, b->attrs, (size_t)b->nattrs * sizeof(struct stz_attr));
	memcpy(base + h->pool_off, b->pool, b->pool_len);
	memset(base + h->pool_off + b->pool_len, 0, h->pool_len - b->pool_len);
}

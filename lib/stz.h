/* stz.h — the flat stanza encoding that crosses the rings.
 *
 * A stanza is parsed once, in the worker, straight into this encoding; the
 * router routes from the fixed header and reads the rest in place; the worker
 * that delivers turns it back into XML text.  It holds no pointers: every
 * reference is an offset, so a record can be copied as it is into shared
 * memory.
 *
 *   struct stz_hdr | struct stz_node[nnodes] | struct stz_attr[nattrs] | pool
 *
 * Node 0 is the stanza element.  Nodes are in document order; each knows its
 * depth and the index one past its subtree (`end`), so children are walked
 * without pointers: the first child of n is n+1 (when n+1 < end), the next
 * sibling of c is nodes[c].end.  Element attributes are consecutive in the
 * attribute array.  Every string lives in the pool, NUL-terminated (the
 * length excludes the NUL), and is raw text: escaping happens on output.
 *
 * The header repeats what routing needs: kind, type, from, to, id, xml:lang,
 * the namespace of the first child element (an IQ's payload) and the source
 * connection.  stz_view() bounds-checks everything before anyone reads it:
 * a record from shared memory is input like any other. */
#ifndef XMPPD_LIB_STZ_H
#define XMPPD_LIB_STZ_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STZ_MAGIC      0x5a53u /* "SZ" */
#define STZ_MAX_DEPTH  64      /* elements nested deeper are refused */
#define STZ_MAX_ATTRS  64      /* attributes on one element */

#define STZ_NS_CLIENT  "jabber:client"
#define STZ_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define STZ_NS_XML     "http://www.w3.org/XML/1998/namespace"

enum stz_kind { STZ_OTHER = 0, STZ_MESSAGE, STZ_PRESENCE, STZ_IQ };

/* The `type` attribute; one enum for all kinds, checked against the kind by
 * stz_type_valid().  STZ_T_NONE: no attribute; STZ_T_UNKNOWN: a value not
 * defined by RFC 6120/6121. */
enum stz_type {
	STZ_T_NONE = 0, STZ_T_UNKNOWN,
	STZ_T_NORMAL, STZ_T_CHAT, STZ_T_GROUPCHAT, STZ_T_HEADLINE, STZ_T_ERROR,
	STZ_T_UNAVAILABLE, STZ_T_SUBSCRIBE, STZ_T_SUBSCRIBED, STZ_T_UNSUBSCRIBE,
	STZ_T_UNSUBSCRIBED, STZ_T_PROBE,
	STZ_T_GET, STZ_T_SET, STZ_T_RESULT,
};

struct stz_ref {
	uint32_t off; /* into the pool */
	uint32_t len; /* bytes, without the NUL that follows */
};

struct stz_node {
	uint8_t is_text;
	uint8_t pad;
	uint16_t depth;       /* 0 for the stanza element */
	uint32_t end;         /* one past the last node of this subtree */
	struct stz_ref name;  /* element local name, or the text */
	struct stz_ref ns;    /* element namespace URI; empty for text */
	uint32_t attr_first;
	uint32_t nattrs;
};

struct stz_attr {
	struct stz_ref name;  /* local name */
	struct stz_ref ns;    /* namespace URI, empty for plain attributes */
	struct stz_ref value;
};

struct stz_hdr {
	uint32_t size;        /* bytes of the whole encoding */
	uint16_t magic;
	uint8_t kind;         /* enum stz_kind */
	uint8_t type;         /* enum stz_type */
	uint32_t nnodes, nattrs;
	uint32_t nodes_off, attrs_off, pool_off, pool_len;
	struct stz_ref from, to, id, lang, payload_ns;  /* len 0: absent */
	uint64_t conn;        /* source connection; 0 when made by the router */
	uint64_t trace;       /* trace id (xmppctl trace), 0 when not traced */
};

/* A checked, read-only view of an encoding. */
struct stz {
	const struct stz_hdr *h;
	const struct stz_node *nodes;
	const struct stz_attr *attrs;
	const char *pool;
};

/* XS_OK when buf[0..len) is a well-formed encoding, XS_ERROR otherwise. */
int stz_view(struct stz *s, const void *buf, size_t len);

static inline const char *stz_str(const struct stz *s, struct stz_ref r)
{
	return s->pool + r.off;
}
/* Header shortcuts; "" when absent. */
static inline const char *stz_from(const struct stz *s) { return stz_str(s, s->h->from); }
static inline const char *stz_to(const struct stz *s) { return stz_str(s, s->h->to); }
static inline const char *stz_id(const struct stz *s) { return stz_str(s, s->h->id); }
static inline bool stz_has_to(const struct stz *s) { return s->h->to.len > 0; }

/* Child navigation.  Return a node index, or 0 for none (0 is never a child). */
uint32_t stz_first_child(const struct stz *s, uint32_t parent);
uint32_t stz_next_sibling(const struct stz *s, uint32_t parent, uint32_t child);
/* First child element matching name and ns (either may be NULL = any). */
uint32_t stz_child(const struct stz *s, uint32_t parent, const char *name, const char *ns);
/* Value of a plain (namespace-less) attribute, or NULL. */
const char *stz_attr(const struct stz *s, uint32_t node, const char *name);
/* Text directly inside an element (its first text child), or "". */
const char *stz_text(const struct stz *s, uint32_t node);
static inline bool stz_node_is(const struct stz *s, uint32_t n, const char *name, const char *ns);

enum stz_kind stz_kind_of(const char *name, size_t len);
enum stz_type stz_type_of(const char *value, size_t len);
const char *stz_type_name(enum stz_type t);
/* True when `t` may appear on stanzas of `kind` (NONE is valid for all). */
bool stz_type_valid(enum stz_kind kind, enum stz_type t);

/* XML output: appends the stanza as text to `out`.  Namespaces are declared
 * where an element's differs from its parent's; the stanza element's parent
 * namespace is `stream_ns` (jabber:client for c2s).  XS_OK or XS_ERROR. */
int stz_to_xml(const struct stz *s, const char *stream_ns, struct buf *out);

/* A stanza serialised once for many recipients (a fan-out delivery, see
 * struct msg_deliver).  Without stamping, `text` is what stz_to_xml makes
 * and every recipient gets it as it is.  With stamp_to, the stanza
 * element's own 'to' is left out of `text` and `cut` is where it stood (the
 * end of the element's attributes when it had none): each recipient gets
 * text[0..cut) + " to='JID'" (escaped) + text[cut..), so only its own
 * address is written per recipient.  Children keep the namespace
 * declarations stz_to_xml gives them. */
struct stz_wire {
	struct buf text;
	size_t cut;
	const char *ns;      /* the stream namespace it was made for; NULL: none yet */
	bool stamp_to;
};

/* Serialises `s` into `w` (reusing its memory).  XS_OK or XS_ERROR. */
int stz_wire_make(struct stz_wire *w, const struct stz *s, const char *stream_ns, bool stamp_to);
/* Appends one recipient's copy to `out`: with stamp_to and `to` non-empty,
 * with to='to'; with `to` NULL or "", without any 'to'.  XS_OK or XS_ERROR. */
int stz_wire_put(const struct stz_wire *w, const char *to, struct buf *out);
void stz_wire_free(struct stz_wire *w);

/* Builder: elements are opened and closed in document order; an element's
 * attributes are added right after it is opened.  Sizes are bounded by
 * `limit` (encoded bytes): past it every call fails with XS_ERROR.  One
 * builder is reused across stanzas (stz_b_reset keeps the memory). */
struct stz_builder {
	struct stz_node *nodes;
	struct stz_attr *attrs;
	char *pool;
	uint32_t nnodes, nattrs, pool_len;
	uint32_t nodes_cap, attrs_cap, pool_cap;
	uint32_t stack[STZ_MAX_DEPTH];
	uint32_t depth;
	size_t limit;
	bool failed;
};

void stz_b_init(struct stz_builder *b, size_t limit);
void stz_b_reset(struct stz_builder *b);
void stz_b_free(struct stz_builder *b);
int stz_b_open(struct stz_builder *b, const char *name, size_t nlen,
               const char *ns, size_t nslen);
int stz_b_attr(struct stz_builder *b, const char *name, size_t nlen,
               const char *ns, size_t nslen, const char *value, size_t vlen);
int stz_b_text(struct stz_builder *b, const char *text, size_t len);
int stz_b_close(struct stz_builder *b);
/* Convenience forms for NUL-terminated strings. */
int stz_b_openz(struct stz_builder *b, const char *name, const char *ns);
int stz_b_attrz(struct stz_builder *b, const char *name, const char *value);
/* Appends a copy of node `n` of `src` (with its subtree) at the current position. */
int stz_b_copy(struct stz_builder *b, const struct stz *src, uint32_t n);
/* Number of open elements. */
static inline uint32_t stz_b_depth(const struct stz_builder *b) { return b->depth; }

/* Size of the finished encoding; 0 if the builder failed or is not complete
 * (an element still open, or no element at all). */
size_t stz_b_size(const struct stz_builder *b);
/* Writes the encoding (exactly stz_b_size bytes, 8-byte aligned `dst`). */
void stz_b_write(const struct stz_builder *b, void *dst, uint64_t conn);

static inline bool stz_node_is(const struct stz *s, uint32_t n, const char *name, const char *ns)
{
	const struct stz_node *nd = &s->nodes[n];
	return !nd->is_text && (name == NULL || strcmp(stz_str(s, nd->name), name) == 0) &&
	       (ns == NULL || strcmp(stz_str(s, nd->ns), ns) == 0);
}

#endif

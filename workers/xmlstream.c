/* xmlstream.c — libxml2 SAX2 push parser -> stanza builder. */
#include "workers/xmlstream.h"
#include "lib/buf.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "lib/xmpp.h"
#include "lib/xs.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <stdlib.h>
#include <string.h>

/* What a connection needs only while bytes of it are being parsed: the
 * libxml2 context and the stanza builder.  Between stanzas a connection's
 * parse state is just "inside the stream, with these namespaces", so idle
 * connections give their kit back to a per-process pool and take one again
 * when data arrives, replaying their stream header into it.  An idle
 * connection then costs a few hundred bytes instead of a parser. */
struct xs_kit {
	struct xs_kit *next;
	xmlParserCtxtPtr ctxt;
	struct stz_builder b;
};

#define KIT_POOL_MAX 32
#define KIT_KEEP_POOL 16384  /* builder string bytes a pooled kit may keep */
#define KIT_KEEP_NODES 256   /* and nodes */

static struct {
	struct xs_kit *free;
	unsigned nfree;
	struct jid to_jid;       /* scratch for preparing 'to' */
	struct buf attr;         /* scratch for decoding an attribute value */
	struct buf uri;          /* ... and a namespace name */
} pool;

struct xmlstream {
	struct xs_kit *kit;      /* NULL while idle between stanzas */
	xmlParserCtxtPtr ctxt;   /* kit->ctxt, or NULL */
	const struct xmlstream_cb *cb;
	void *arg;
	char *replay;            /* the client's stream header, to resume a parser */
	size_t max_stanza;
	size_t max_encoded;       /* bound of a stanza's encoding */
	unsigned depth;          /* 0: before the stream element, 1: between stanzas */
	long mark;               /* parser offset of the current stanza's start, or of
	                          * the last point between stanzas */
	long fed;                /* bytes given to this parser */
	char *stamp;             /* from= value once bound */
	bool prep;               /* stanzas: drop the client's from=, prepare to= */
	unsigned stamp_gen;      /* xmlstream_stamp calls so far */
	unsigned open_gen;       /* ... when the current stanza's start tag came */
	uint8_t head;            /* the stream's first bytes: enum head */
	bool restart, failed, to_bad, resuming;
};

/* Where the opening of a stream is: the bytes of a UTF-8 byte order mark
 * seen so far (0-3), then HEAD_DONE once libxml2 has the first byte. */
enum head { HEAD_BOM_DONE = 3, HEAD_DONE = 4 };

static void fail(struct xmlstream *xs, const char *condition)
{
	if (xs->failed)
		return;
	xs->failed = true;
	xmlStopParser(xs->ctxt);
	xs->cb->on_error(xs->arg, condition);
}

static char *dup_range(const xmlChar *start, const xmlChar *end)
{
	return strndup((const char *)start, (size_t)(end - start));
}

/* Appends a namespace name as libxml2 gave it, with the characters that
 * would break a quoted attribute escaped.  Its only '&' are the "&#38;" it
 * writes for one (see unescape_amp), which a parser turns back into the
 * same text: escaping them again would change the namespace on resume. */
static void put_attr_text(struct buf *out, const char *p)
{
	for (; *p; p++) {
		if (*p == '\'')
			buf_appendz(out, "&apos;");
		else if (*p == '<')
			buf_appendz(out, "&lt;");
		else
			buf_append(out, p, 1);
	}
}

/* Remembers the stream element with its namespace declarations: replayed
 * into a fresh parser, it recreates the state a lent parser had. */
static void save_replay(struct xmlstream *xs, const xmlChar *localname, const xmlChar *prefix,
                        int nb_ns, const xmlChar **ns)
{
	struct buf out = { 0 };
	buf_appendz(&out, "<");
	if (prefix) {
		buf_appendz(&out, (const char *)prefix);
		buf_appendz(&out, ":");
	}
	buf_appendz(&out, (const char *)localname);
	for (int i = 0; i < nb_ns; i++) {
		buf_appendz(&out, " xmlns");
		if (ns[2 * i]) {
			buf_appendz(&out, ":");
			buf_appendz(&out, (const char *)ns[2 * i]);
		}
		buf_appendz(&out, "='");
		put_attr_text(&out, ns[2 * i + 1] ? (const char *)ns[2 * i + 1] : "");
		buf_appendz(&out, "'");
	}
	buf_appendz(&out, ">");
	free(xs->replay);
	xs->replay = NULL;
	if (buf_append(&out, "", 1) == XS_OK)
		xs->replay = out.data; /* ownership moves to xs */
	else
		buf_free(&out);
}

static void open_stream(struct xmlstream *xs, const xmlChar *localname, const xmlChar *URI,
                        int nb_ns, const xmlChar **ns, int nb_attrs, const xmlChar **attrs)
{
	struct xs_open h = { .name = (const char *)localname, .ns = URI ? (const char *)URI : "" };
	for (int i = 0; i < nb_ns; i++)
		if (ns[2 * i] == NULL)
			h.default_ns = (const char *)ns[2 * i + 1];
	char *vals[4] = { 0 };
	for (int i = 0; i < nb_attrs; i++) {
		const xmlChar **a = &attrs[5 * i];
		const char *name = (const char *)a[0];
		int slot = -1;
		if (a[2] == NULL) {
			slot = strcmp(name, "to") == 0 ? 0 : strcmp(name, "from") == 0 ? 1
			     : strcmp(name, "version") == 0 ? 2 : -1;
		} else if (strcmp((const char *)a[2], STZ_NS_XML) == 0 && strcmp(name, "lang") == 0) {
			slot = 3;
		}
		if (slot >= 0 && vals[slot] == NULL)
			vals[slot] = dup_range(a[3], a[4]);
	}
	h.to = vals[0];
	h.from = vals[1];
	h.version = vals[2];
	h.lang = vals[3];
	xs->cb->on_open(xs->arg, &h);
	for (int i = 0; i < 4; i++)
		free(vals[i]);
}

/* Text as the client meant it.  Without entity substitution (which stays
 * off) libxml2 hands '&' in attribute values and namespace names over as
 * the character reference "&#38;", both for &amp; and for &#38; itself, so
 * that and nothing else needs decoding.  The result in `scratch` is
 * NUL-terminated. */
static void unescape_amp(const char *p, size_t n, struct buf *scratch, const char **val,
                         size_t *len)
{
	*val = p;
	*len = n;
	if (memmem(p, n, "&#38;", 5) == NULL)
		return;
	scratch->off = scratch->len = 0;
	for (size_t i = 0; i < n;) {
		if (i + 5 <= n && memcmp(p + i, "&#38;", 5) == 0) {
			buf_append(scratch, "&", 1);
			i += 5;
		} else {
			buf_append(scratch, p + i, 1);
			i++;
		}
	}
	if (scratch->len == 0 || buf_append(scratch, "", 1) != XS_OK)
		return; /* allocation failed: keep the raw form */
	*val = scratch->data;
	*len = scratch->len - 1;
}

static void attr_value(const xmlChar **a, const char **val, size_t *len)
{
	unescape_amp((const char *)a[3], (size_t)(a[4] - a[3]), &pool.attr, val, len);
}

/* A namespace name, "" for none.  Valid until the next call. */
static const char *ns_name(const xmlChar *uri)
{
	const char *val;
	size_t len;
	if (uri == NULL)
		return "";
	unescape_amp((const char *)uri, strlen((const char *)uri), &pool.uri, &val, &len);
	return val;
}

/* Adds one attribute of the stanza element, dropping from= and preparing
 * to= once stamping is on. */
static int root_attr(struct xmlstream *xs, const char *name, const char *uri,
                     const char *val, size_t vlen)
{
	struct stz_builder *b = &xs->kit->b;
	if (xs->prep && *uri == '\0') {
		if (strcmp(name, "from") == 0)
			return XS_OK;
		if (strcmp(name, "to") == 0) {
			if (jid_parse(val, vlen, &pool.to_jid) == XS_OK) {
				char full[JID_MAX + 1];
				if (jid_full(&pool.to_jid, full, sizeof(full)) >= 0)
					return stz_b_attrz(b, "to", full);
			}
			xs->to_bad = true;
		}
	}
	return stz_b_attr(b, name, strlen(name), uri, strlen(uri), val, vlen);
}

/* The stanza element's attributes, then from= the stamp. */
static int root_attrs(struct xmlstream *xs, int nb_attrs, const xmlChar **attrs)
{
	for (int i = 0; i < nb_attrs; i++) {
		const xmlChar **a = &attrs[5 * i];
		const char *val;
		size_t vlen;
		attr_value(a, &val, &vlen);
		if (root_attr(xs, (const char *)a[0], ns_name(a[2]), val, vlen) != XS_OK)
			return XS_ERROR;
	}
	if (xs->stamp && stz_b_attrz(&xs->kit->b, "from", xs->stamp) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

/* xmlstream_stamp promises its rules for every stanza handed over after
 * it, but a stanza's attributes are written when its start tag is parsed:
 * one whose start came before the call (the bind answer arrived between
 * two reads of it) would go out without from=, as if the server had sent
 * it.  Such a stanza is rebuilt under the rules now in force. */
static int restamp(struct xmlstream *xs)
{
	struct stz_builder *b = &xs->kit->b;
	size_t size = stz_b_size(b);
	void *enc = NULL;
	struct stz s;
	if (size == 0 || posix_memalign(&enc, 8, size) != 0)
		return XS_ERROR;
	stz_b_write(b, enc, 0);
	int rc = stz_view(&s, enc, size);
	if (rc == XS_OK) {
		const struct stz_node *r = &s.nodes[0];
		stz_b_reset(b);
		xs->to_bad = false;
		rc = stz_b_open(b, stz_str(&s, r->name), r->name.len, stz_str(&s, r->ns), r->ns.len);
		for (uint32_t a = r->attr_first; rc == XS_OK && a < r->attr_first + r->nattrs; a++)
			rc = root_attr(xs, stz_str(&s, s.attrs[a].name), stz_str(&s, s.attrs[a].ns),
			               stz_str(&s, s.attrs[a].value), s.attrs[a].value.len);
		if (rc == XS_OK && xs->stamp)
			rc = stz_b_attrz(b, "from", xs->stamp);
		for (uint32_t c = stz_first_child(&s, 0); rc == XS_OK && c != 0;
		     c = stz_next_sibling(&s, 0, c))
			rc = stz_b_copy(b, &s, c);
		if (rc == XS_OK)
			rc = stz_b_close(b);
	}
	free(enc);
	return rc;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *URI, int nb_ns, const xmlChar **ns, int nb_attrs,
                     int nb_defaulted, const xmlChar **attrs)
{
	(void)nb_defaulted;
	struct xmlstream *xs = ctx;
	if (xs->failed)
		return;
	/* libxml2 only warns about namespace errors (an unbound prefix, a name
	 * like a:b:c) and goes on with a local name that still holds a ':'.
	 * Passed on, such an element would break the parser of every client
	 * it is delivered to; RFC 6120 §11.2 makes it not-well-formed. */
	if (!xs->ctxt->nsWellFormed) {
		fail(xs, "not-well-formed");
		return;
	}
	if (xs->depth == 0) {
		/* RFC 6120 §11.6: UTF-8 only.  libxml2 would convert another
		 * encoding (declared, or UTF-16 found from the first bytes), but a
		 * parser resumed from the replayed header reads UTF-8: the stream
		 * would change meaning after the first idle moment. */
		xmlParserInputPtr in = xs->ctxt->input;
		if (in && in->buf && in->buf->encoder) {
			fail(xs, "unsupported-encoding");
			return;
		}
		xs->depth = 1;
		if (xs->resuming) /* our own replay of the stream header */
			return;
		save_replay(xs, localname, prefix, nb_ns, ns);
		open_stream(xs, localname, URI, nb_ns, ns, nb_attrs, attrs);
		return;
	}
	struct stz_builder *b = &xs->kit->b;
	const char *uri = ns_name(URI);
	/* A stream header inside the stream (a restart nobody asked for) would
	 * take everything after it for its content until the limits or a
	 * timeout: RFC 6120 §4.9.3.25, a first-level child we do not support. */
	if (xs->depth == 1 && strcmp(uri, NS_STREAMS) == 0 &&
	    strcmp((const char *)localname, "stream") == 0) {
		fail(xs, "unsupported-stanza-type");
		return;
	}
	if (xs->depth == 1) {
		stz_b_reset(b);
		xs->to_bad = false;
		xs->open_gen = xs->stamp_gen;
		xs->mark = xmlByteConsumed(xs->ctxt);
	}
	if (xs->depth - 1 >= STZ_MAX_DEPTH || nb_attrs > STZ_MAX_ATTRS) {
		fail(xs, "policy-violation");
		return;
	}
	int rc = stz_b_open(b, (const char *)localname, strlen((const char *)localname), uri,
	                    strlen(uri));
	if (rc == XS_OK && xs->depth == 1) {
		rc = root_attrs(xs, nb_attrs, attrs);
	} else {
		for (int i = 0; rc == XS_OK && i < nb_attrs; i++) {
			const xmlChar **a = &attrs[5 * i];
			const char *auri = ns_name(a[2]);
			const char *val;
			size_t vlen;
			attr_value(a, &val, &vlen);
			rc = stz_b_attr(b, (const char *)a[0], strlen((const char *)a[0]), auri,
			                strlen(auri), val, vlen);
		}
	}
	if (rc != XS_OK) {
		fail(xs, "policy-violation");
		return;
	}
	xs->depth++;
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *URI)
{
	(void)localname;
	(void)prefix;
	(void)URI;
	struct xmlstream *xs = ctx;
	if (xs->failed)
		return;
	if (xs->depth == 1) {
		xs->depth = 0;
		xs->cb->on_close(xs->arg);
		return;
	}
	if (stz_b_close(&xs->kit->b) != XS_OK) {
		fail(xs, "policy-violation");
		return;
	}
	if (--xs->depth == 1) {
		xs->mark = xmlByteConsumed(xs->ctxt);
		if (xs->open_gen != xs->stamp_gen && restamp(xs) != XS_OK) {
			fail(xs, "policy-violation");
			return;
		}
		xs->cb->on_stanza(xs->arg, &xs->kit->b, xs->to_bad);
	}
}

static void on_chars(void *ctx, const xmlChar *ch, int len)
{
	struct xmlstream *xs = ctx;
	if (xs->failed)
		return;
	if (xs->depth < 2) {
		/* whitespace between stanzas (keepalives) is dropped */
		xs->mark = xmlByteConsumed(xs->ctxt);
		return;
	}
	if ((size_t)(xmlByteConsumed(xs->ctxt) - xs->mark) > xs->max_stanza ||
	    stz_b_text(&xs->kit->b, (const char *)ch, (size_t)len) != XS_OK)
		fail(xs, "policy-violation");
}

/* libxml2 (2.9.14) checks the UTF-8 of a CDATA section read in pieces by
 * the code point only: an overlong form (C1 83 for 'C') goes through, and
 * would be passed on to recipients whose parsers refuse it.  The pieces
 * end on whole characters, so each can be checked on its own. */
static void on_cdata(void *ctx, const xmlChar *ch, int len)
{
	struct xmlstream *xs = ctx;
	if (xs->failed)
		return;
	if (!utf8_valid(ch, (size_t)len)) {
		fail(xs, "not-well-formed");
		return;
	}
	on_chars(ctx, ch, len);
}

/* XMPP forbids these (RFC 6120 §11.1): each stops the stream. */
static void on_subset(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
	(void)name;
	(void)ext;
	(void)sys;
	fail(ctx, "restricted-xml");
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *pub,
                           const xmlChar *sys, xmlChar *content)
{
	(void)name;
	(void)type;
	(void)pub;
	(void)sys;
	(void)content;
	fail(ctx, "restricted-xml");
}

static void on_comment(void *ctx, const xmlChar *value)
{
	(void)value;
	fail(ctx, "restricted-xml");
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	(void)target;
	(void)data;
	fail(ctx, "restricted-xml");
}

static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
	/* Only the five predefined entities exist in XMPP. */
	xmlEntityPtr e = xmlGetPredefinedEntity(name);
	if (e == NULL)
		fail(ctx, "restricted-xml");
	return e;
}

static void on_reference(void *ctx, const xmlChar *name)
{
	(void)name;
	fail(ctx, "restricted-xml");
}

static void on_serror(void *ctx, xmlErrorPtr err)
{
	(void)ctx;
	(void)err; /* the parse result says it: not-well-formed; nothing to print */
}

static xmlSAXHandler sax = {
	.initialized = XML_SAX2_MAGIC,
	.startElementNs = on_start,
	.endElementNs = on_end,
	.characters = on_chars,
	.cdataBlock = on_cdata,
	.internalSubset = on_subset,
	.externalSubset = on_subset,
	.entityDecl = on_entity_decl,
	.comment = on_comment,
	.processingInstruction = on_pi,
	.getEntity = on_get_entity,
	.reference = on_reference,
	.serror = on_serror,
};

/* Takes a kit from the pool (or makes one) and starts a fresh parse in it. */
static int kit_take(struct xmlstream *xs)
{
	struct xs_kit *k = pool.free;
	if (k) {
		pool.free = k->next;
		pool.nfree--;
		if (xmlCtxtResetPush(k->ctxt, NULL, 0, NULL, NULL) != 0) {
			xmlFreeParserCtxt(k->ctxt);
			stz_b_free(&k->b);
			free(k);
			k = NULL;
		}
	}
	if (k == NULL) {
		k = calloc(1, sizeof(*k));
		if (k == NULL)
			return XS_ERROR;
		k->ctxt = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL);
		if (k->ctxt == NULL) {
			free(k);
			return XS_ERROR;
		}
	}
	/* No network, no entity substitution, no huge-document mode. */
	xmlCtxtUseOptions(k->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	k->ctxt->userData = xs;
	/* A pooled kit keeps the builder's arrays of earlier stanzas: reset. */
	stz_b_reset(&k->b);
	k->b.limit = xs->max_encoded;
	k->next = NULL;
	xs->kit = k;
	xs->ctxt = k->ctxt;
	xs->mark = xs->fed = 0;
	return XS_OK;
}

static void kit_give(struct xmlstream *xs)
{
	struct xs_kit *k = xs->kit;
	if (k == NULL)
		return;
	xs->kit = NULL;
	xs->ctxt = NULL;
	if (pool.nfree >= KIT_POOL_MAX) {
		stz_b_free(&k->b);
		xmlFreeParserCtxt(k->ctxt);
		free(k);
		return;
	}
	/* The builder's memory goes back with the kit, so a busy connection
	 * that idles between reads does not allocate it again for every
	 * stanza; only what one large stanza made it grow to is given back. */
	if (k->b.pool_cap > KIT_KEEP_POOL || k->b.nodes_cap > KIT_KEEP_NODES)
		stz_b_free(&k->b);
	k->ctxt->userData = NULL;
	k->next = pool.free;
	pool.free = k;
	pool.nfree++;
}

/* A new stream: drop whatever parse state there was. */
static int start_stream(struct xmlstream *xs)
{
	kit_give(xs);
	xs->depth = 0;
	xs->head = 0;
	xs->restart = false;
	xs->resuming = false;
	free(xs->replay);
	xs->replay = NULL;
	return kit_take(xs);
}

struct xmlstream *xmlstream_new(const struct xmlstream_cb *cb, void *arg, size_t max_stanza,
                                size_t max_encoded)
{
	struct xmlstream *xs = calloc(1, sizeof(*xs));
	if (xs == NULL)
		return NULL;
	xs->cb = cb;
	xs->arg = arg;
	xs->max_stanza = max_stanza;
	xs->max_encoded = max_encoded;
	return xs;
}

void xmlstream_free(struct xmlstream *xs)
{
	if (xs == NULL)
		return;
	if (xs->kit) {
		/* A context that stopped mid-document is not worth resetting. */
		xmlFreeParserCtxt(xs->kit->ctxt);
		stz_b_free(&xs->kit->b);
		free(xs->kit);
	}
	free(xs->stamp);
	free(xs->replay);
	free(xs);
}

void xmlstream_restart(struct xmlstream *xs)
{
	xs->restart = true;
	xmlStopParser(xs->ctxt);
}

int xmlstream_stamp(struct xmlstream *xs, const char *jid)
{
	free(xs->stamp);
	xs->stamp = NULL;
	xs->prep = true;
	xs->stamp_gen++;
	if (jid && (xs->stamp = strdup(jid)) == NULL)
		return XS_ERROR;
	return XS_OK;
}

/* Gets a parser for a connection that gave its kit back: a fresh one with
 * the stream header replayed, callbacks for it suppressed. */
static int resume(struct xmlstream *xs)
{
	if (kit_take(xs) != XS_OK)
		return XS_ERROR;
	xs->resuming = true;
	xs->depth = 0;
	size_t len = strlen(xs->replay);
	int rc = xmlParseChunk(xs->ctxt, xs->replay, (int)len, 0);
	xs->resuming = false;
	if (rc != 0 || xs->depth != 1)
		return XS_ERROR;
	xs->fed = (long)len;
	xs->mark = xmlByteConsumed(xs->ctxt);
	return XS_OK;
}

/* After a feed: between stanzas with nothing buffered, the kit goes back. */
static void maybe_idle(struct xmlstream *xs)
{
	if (xs->kit == NULL || xs->depth != 1 || xs->failed || xs->restart || xs->replay == NULL)
		return;
	/* Everything read is not enough: libxml2 also reads a CDATA section in
	 * pieces, and a parser resumed from the stream header would take the
	 * rest of one for markup. */
	xmlParserInputPtr in = xs->ctxt->input;
	if (in == NULL || in->cur != in->end || xs->ctxt->instate != XML_PARSER_CONTENT)
		return;
	kit_give(xs);
}

/* The first bytes of a stream, in whatever reads they come: one UTF-8 byte
 * order mark is dropped here (libxml2 takes one or not depending on how
 * many bytes it saw at once, and two when read whole), and the next byte
 * must open the XML: '<' or white space.  A second mark, or any other text
 * before the markup, is not well-formed (XML 1.0 §2.8); UTF-16 (its marks,
 * or a NUL byte) is refused as RFC 6120 §11.6 says. */
static int stream_head(struct xmlstream *xs, const char **data, size_t *len)
{
	static const unsigned char bom[3] = { 0xef, 0xbb, 0xbf };
	while (*len > 0 && xs->head != HEAD_DONE) {
		unsigned char c = (unsigned char)**data;
		if (xs->head < HEAD_BOM_DONE && c == bom[xs->head]) {
			xs->head++;
			(*data)++;
			(*len)--;
			continue;
		}
		if (xs->head != 0 && xs->head != HEAD_BOM_DONE) /* a mark cut short */
			break;
		if (c == '<' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			xs->head = HEAD_DONE;
			return XS_OK;
		}
		fail(xs, c == 0xfe || c == 0xff || c == 0 ? "unsupported-encoding" : "not-well-formed");
		return XS_ERROR;
	}
	if (*len > 0) {
		fail(xs, "not-well-formed");
		return XS_ERROR;
	}
	return XS_OK;
}

int xmlstream_feed(struct xmlstream *xs, const char *data, size_t len)
{
	if (xs->failed)
		return XS_ERROR;
	if (xs->restart || (xs->kit == NULL && xs->replay == NULL)) {
		if (start_stream(xs) != XS_OK) {
			xs->failed = true;
			xs->cb->on_error(xs->arg, "internal-server-error");
			return XS_ERROR;
		}
	} else if (xs->kit == NULL && resume(xs) != XS_OK) {
		xs->failed = true;
		xs->cb->on_error(xs->arg, "internal-server-error");
		return XS_ERROR;
	}
	if (xs->head != HEAD_DONE && stream_head(xs, &data, &len) != XS_OK)
		return XS_ERROR;
	while (len > 0 && !xs->failed && !xs->restart) {
		/* Feed in slices so an oversized stanza is caught before libxml2
		 * buffers an unbounded amount of it. */
		int n = len > 4096 ? 4096 : (int)len;
		xs->fed += n;
		int rc = xmlParseChunk(xs->ctxt, data, n, 0);
		if (xs->failed)
			return XS_ERROR;
		if (rc != 0 && !xs->restart) {
			fail(xs, "not-well-formed");
			return XS_ERROR;
		}
		/* Bytes libxml2 holds for an element it has not finished (a huge
		 * tag or attribute) count against the stanza limit too. */
		if (xs->depth >= 1 && (size_t)(xs->fed - xs->mark) > xs->max_stanza + 4096) {
			fail(xs, "policy-violation");
			return XS_ERROR;
		}
		data += n;
		len -= (size_t)n;
	}
	maybe_idle(xs);
	return XS_OK;
}

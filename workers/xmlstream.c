/* xmlstream.c — libxml2 SAX2 push parser -> stanza builder. */
#include "workers/xmlstream.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <stdlib.h>
#include <string.h>

struct xmlstream {
	xmlParserCtxtPtr ctxt;
	const struct xmlstream_cb *cb;
	void *arg;
	struct stz_builder b;
	size_t max_stanza;
	unsigned depth;          /* 0: before the stream element, 1: between stanzas */
	long mark;               /* parser offset of the current stanza's start, or of
	                          * the last point between stanzas */
	long fed;                /* bytes given to this parser */
	char *stamp;             /* from= value once bound */
	struct jid *to_jid;      /* scratch for preparing 'to' */
	bool restart, failed, to_bad;
};

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

/* Adds the stanza element's attributes, stamping from= and preparing to=. */
static int root_attrs(struct xmlstream *xs, int nb_attrs, const xmlChar **attrs)
{
	struct stz_builder *b = &xs->b;
	for (int i = 0; i < nb_attrs; i++) {
		const xmlChar **a = &attrs[5 * i];
		const char *name = (const char *)a[0];
		const char *uri = a[2] ? (const char *)a[2] : "";
		const char *val = (const char *)a[3];
		size_t vlen = (size_t)(a[4] - a[3]);
		if (xs->stamp && *uri == '\0') {
			if (strcmp(name, "from") == 0)
				continue;
			if (strcmp(name, "to") == 0) {
				if (jid_parse(val, vlen, xs->to_jid) == XS_OK) {
					char full[JID_MAX + 1];
					int n = jid_full(xs->to_jid, full, sizeof(full));
					if (n >= 0 && stz_b_attrz(b, "to", full) != XS_OK)
						return XS_ERROR;
					if (n >= 0)
						continue;
				}
				xs->to_bad = true;
			}
		}
		if (stz_b_attr(b, name, strlen(name), uri, strlen(uri), val, vlen) != XS_OK)
			return XS_ERROR;
	}
	if (xs->stamp && stz_b_attrz(b, "from", xs->stamp) != XS_OK)
		return XS_ERROR;
	return XS_OK;
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *URI, int nb_ns, const xmlChar **ns, int nb_attrs,
                     int nb_defaulted, const xmlChar **attrs)
{
	(void)prefix;
	(void)nb_defaulted;
	struct xmlstream *xs = ctx;
	if (xs->failed)
		return;
	if (xs->depth == 0) {
		xs->depth = 1;
		open_stream(xs, localname, URI, nb_ns, ns, nb_attrs, attrs);
		return;
	}
	struct stz_builder *b = &xs->b;
	const char *uri = URI ? (const char *)URI : "";
	if (xs->depth == 1) {
		stz_b_reset(b);
		xs->to_bad = false;
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
			const char *auri = a[2] ? (const char *)a[2] : "";
			rc = stz_b_attr(b, (const char *)a[0], strlen((const char *)a[0]), auri,
			                strlen(auri), (const char *)a[3], (size_t)(a[4] - a[3]));
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
	if (stz_b_close(&xs->b) != XS_OK) {
		fail(xs, "policy-violation");
		return;
	}
	if (--xs->depth == 1) {
		xs->mark = xmlByteConsumed(xs->ctxt);
		xs->cb->on_stanza(xs->arg, &xs->b, xs->to_bad);
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
	    stz_b_text(&xs->b, (const char *)ch, (size_t)len) != XS_OK)
		fail(xs, "policy-violation");
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
	.cdataBlock = on_chars,
	.internalSubset = on_subset,
	.externalSubset = on_subset,
	.entityDecl = on_entity_decl,
	.comment = on_comment,
	.processingInstruction = on_pi,
	.getEntity = on_get_entity,
	.reference = on_reference,
	.serror = on_serror,
};

static int new_parser(struct xmlstream *xs)
{
	xs->ctxt = xmlCreatePushParserCtxt(&sax, xs, NULL, 0, NULL);
	if (xs->ctxt == NULL)
		return XS_ERROR;
	/* No network, no entity substitution, no huge-document mode. */
	xmlCtxtUseOptions(xs->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xs->depth = 0;
	xs->restart = false;
	xs->mark = xs->fed = 0;
	return XS_OK;
}

struct xmlstream *xmlstream_new(const struct xmlstream_cb *cb, void *arg, size_t max_stanza)
{
	struct xmlstream *xs = calloc(1, sizeof(*xs));
	if (xs == NULL)
		return NULL;
	xs->cb = cb;
	xs->arg = arg;
	xs->max_stanza = max_stanza;
	/* The encoding of a stanza is bounded by a multiple of its text size. */
	stz_b_init(&xs->b, 4 * max_stanza + 4096);
	if (new_parser(xs) != XS_OK) {
		free(xs);
		return NULL;
	}
	return xs;
}

void xmlstream_free(struct xmlstream *xs)
{
	if (xs == NULL)
		return;
	if (xs->ctxt)
		xmlFreeParserCtxt(xs->ctxt);
	stz_b_free(&xs->b);
	free(xs->stamp);
	free(xs->to_jid);
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
	xs->stamp = strdup(jid);
	if (xs->to_jid == NULL)
		xs->to_jid = malloc(sizeof(*xs->to_jid));
	return xs->stamp && xs->to_jid ? XS_OK : XS_ERROR;
}

int xmlstream_feed(struct xmlstream *xs, const char *data, size_t len)
{
	if (xs->failed)
		return XS_ERROR;
	if (xs->restart) {
		xmlFreeParserCtxt(xs->ctxt);
		xs->ctxt = NULL;
		if (new_parser(xs) != XS_OK) {
			fail(xs, "internal-server-error");
			return XS_ERROR;
		}
	}
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
	return XS_OK;
}

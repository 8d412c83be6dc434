/* xml.h — the generator's incremental XML scanner.
 *
 * It finds the boundaries of the stream header and of each top-level element
 * (stanza, <features/>, <success/>...) in the bytes a server sends, by
 * tracking tag depth; it builds nothing.  The helpers below then read the few
 * things a step needs straight from the element's text: its name, one
 * attribute of its start tag, the text of a child.  Only what XMPP servers
 * send is handled: the XML declaration and other processing instructions,
 * start, end and self-closing tags, attribute values in either quote.
 * Comments, DOCTYPEs and CDATA (forbidden in XMPP, RFC 6120 §11.1) are
 * errors; entities are left as they are.
 *
 * The scanner works on a buffer the caller owns and keeps growing: positions
 * are offsets into it.  After consuming events the caller may drop the bytes
 * before xml_keep() and must then call xml_rebase() with that count. */
#ifndef XMPPD_BENCH_XML_H
#define XMPPD_BENCH_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A top-level element larger than this is a protocol error for a generator:
 * nothing it waits for comes close, and it bounds what one connection holds. */
#define XML_MAX_ELEMENT (1u << 20)

enum xml_event {
	XML_MORE = 0,      /* every byte scanned; feed more */
	XML_OPEN,          /* the stream header (depth-0 start tag) is complete */
	XML_ELEMENT,       /* a complete top-level element */
	XML_CLOSE,         /* </stream:stream> */
	XML_ERROR,         /* malformed or over the limit; the stream is unusable */
};

struct xml_scan {
	size_t pos;        /* next byte to look at */
	size_t elem;       /* start of the top-level element being scanned */
	size_t tag;        /* start ('<') of the tag being scanned */
	uint32_t depth;    /* 0: before the header, 1: in the stream, 2+: in an element */
	uint8_t state;
	char quote;        /* the quote that closes the attribute value */
	bool end_tag;      /* this tag is </...> */
	bool slash;        /* the last non-space character in the tag was '/' */
};

/* A piece of the scanned buffer (not NUL-terminated). */
struct xml_str {
	const char *p;
	size_t n;
};

/* Ready to read a new stream from `pos` on (kept: a stream restart continues
 * in the same buffer). */
void xml_reset(struct xml_scan *x);
/* Scans buf[x->pos, len) up to the next event; the span of an XML_OPEN or
 * XML_ELEMENT event is stored in *ev (pointing into buf). */
enum xml_event xml_next(struct xml_scan *x, const char *buf, size_t len, struct xml_str *ev);
/* Bytes before this offset are no longer needed. */
size_t xml_keep(const struct xml_scan *x);
void xml_rebase(struct xml_scan *x, size_t dropped);

/* Helpers on one complete element (as returned by XML_ELEMENT). */

/* The element's local name (after any prefix), e.g. "features" for
 * <stream:features>. */
struct xml_str xml_name(struct xml_str el);
bool xml_name_is(struct xml_str el, const char *local);
/* The raw value of attribute `name` of the element's start tag; *quote gets
 * its quote character when quote is not NULL.  false when absent. */
bool xml_attr(struct xml_str el, const char *name, struct xml_str *out, char *quote);
bool xml_attr_is(struct xml_str el, const char *name, const char *value);
/* The text directly after the start tag of the first element (the root
 * itself included) whose local name is `local`, up to the next '<'.  Empty
 * for a self-closing match.  false when there is no such element. */
bool xml_text(struct xml_str el, const char *local, struct xml_str *out);
/* The first child element of the root: its whole span (to its end tag). */
bool xml_first_child(struct xml_str el, struct xml_str *child);

static inline bool xml_str_eq(struct xml_str s, const char *z)
{
	size_t i = 0;
	for (; i < s.n; i++)
		if (z[i] != s.p[i] || z[i] == '\0')
			return false;
	return z[i] == '\0';
}

#endif

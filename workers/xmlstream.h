/* xmlstream.h — one client's XML stream: a libxml2 SAX2 push parser feeding
 * the stanza builder.
 *
 * The stream element (depth 0) is reported by on_open; each top-level child
 * (a stanza, or a SASL/bind/stream-management element) is built with the
 * stz builder and handed complete to on_stanza; the stream end is on_close.
 * Anything XMPP forbids — DTDs, entity declarations, undeclared entity
 * references, comments, processing instructions — stops the parser with
 * restricted-xml; broken XML with not-well-formed; an element over the size
 * or depth limits with policy-violation.  The callbacks may call
 * xmlstream_restart (after SASL) to start a fresh parser for the bytes that
 * follow the current feed. */
#ifndef XMPPD_WORKERS_XMLSTREAM_H
#define XMPPD_WORKERS_XMLSTREAM_H

#include "lib/stz.h"

#include <stddef.h>

struct xmlstream;

struct xs_open {
	const char *name, *ns, *default_ns; /* stream element, its namespace, xmlns= */
	const char *to, *from, *version, *lang; /* NULL when absent */
};

struct xmlstream_cb {
	void (*on_open)(void *arg, const struct xs_open *hdr);
	/* A complete top-level element; `to_bad` is set when preparing was on and
	 * its 'to' was not a valid JID (the builder keeps the original text). */
	void (*on_stanza)(void *arg, struct stz_builder *b, bool to_bad);
	void (*on_close)(void *arg);
	/* A stream error condition (RFC 6120 §4.9.3) the parser found. */
	void (*on_error)(void *arg, const char *condition);
};

/* max_stanza bounds a stanza's text, max_encoded its encoding (lib/stz.h;
 * cfg->max_encoded, 4 * max_stanza + 4096 where the rings allow). */
struct xmlstream *xmlstream_new(const struct xmlstream_cb *cb, void *arg, size_t max_stanza,
                                size_t max_encoded);
void xmlstream_free(struct xmlstream *xs);
/* Parses bytes; callbacks run inside.  XS_OK, or XS_ERROR after on_error. */
int xmlstream_feed(struct xmlstream *xs, const char *data, size_t len);
/* The next bytes start a new stream (after SASL success). */
void xmlstream_restart(struct xmlstream *xs);
/* From now on each stanza's 'from' from the client is dropped and its 'to'
 * replaced by the prepared JID; with `jid` non-NULL, from='jid' is added. */
int xmlstream_stamp(struct xmlstream *xs, const char *jid);

#endif

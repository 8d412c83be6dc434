/* dom_ref.h — the stanzas of a stream as libxml2's own tree builder sees
 * them: the reference fuzz_xmlstream holds its SAX-to-encoding path to.
 *
 * The bytes are parsed in one go into a document (push mode, so a stream
 * that never closes still gives a tree of what came); the stream element's
 * element children are then handed out one by one in stz_canon's form. */
#ifndef XMPPD_TEST_FUZZ_DOM_REF_H
#define XMPPD_TEST_FUZZ_DOM_REF_H

#include "lib/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct dom_ref;

struct dom_ref *dom_ref_parse(const char *data, size_t len);
/* Appends the next stanza in canonical form to out; false when none is left. */
bool dom_ref_next(struct dom_ref *r, struct buf *out);
void dom_ref_free(struct dom_ref *r);

#endif

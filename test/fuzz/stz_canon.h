/* stz_canon.h — a stanza in a form that compares (fuzz_stz, fuzz_xmlstream). */
#ifndef XMPPD_TEST_FUZZ_STZ_CANON_H
#define XMPPD_TEST_FUZZ_STZ_CANON_H

#include "lib/buf.h"
#include "lib/stz.h"
#include "lib/xs.h"
#include "test/fuzz/fuzz.h"

static inline void canon_bytes(struct buf *out, const void *p, size_t len)
{
	uint32_t n = (uint32_t)len;
	FUZZ_CHECK(buf_append(out, &n, sizeof(n)) == XS_OK);
	FUZZ_CHECK(len == 0 || buf_append(out, p, len) == XS_OK); /* p may be NULL then */
}

static inline void canon_ref(struct buf *out, const struct stz *s, struct stz_ref r)
{
	canon_bytes(out, stz_str(s, r), r.len);
}

static inline void canon_text(struct buf *out, struct buf *run, uint16_t depth)
{
	if (run->len == 0)
		return;
	canon_bytes(out, "T", 1);
	canon_bytes(out, &depth, sizeof(depth));
	canon_bytes(out, run->data, run->len);
	run->len = 0;
}

/* A stanza as what it says, in a form that compares: the elements in
 * document order with their depth, names, namespaces and attributes byte
 * for byte, and the text between them.  How text is cut into nodes is the
 * encoder's business (the builder drops empty ones and merges neighbours),
 * so a run of text siblings counts as one string.  Every field is
 * length-prefixed: no two different stanzas give the same bytes. */
static inline void stz_canon(const struct stz *s, struct buf *out)
{
	struct buf run = { 0 };
	uint16_t run_depth = 0;
	for (uint32_t i = 0; i < s->h->nnodes; i++) {
		const struct stz_node *n = &s->nodes[i];
		if (n->is_text) {
			/* An empty one changes nothing (and buf_append of nothing to a
			 * buffer that never allocated computes NULL + 0). */
			if (n->name.len == 0)
				continue;
			if (run.len > 0 && run_depth != n->depth)
				canon_text(out, &run, run_depth);
			run_depth = n->depth;
			FUZZ_CHECK(buf_append(&run, stz_str(s, n->name), n->name.len) == XS_OK);
			continue;
		}
		canon_text(out, &run, run_depth);
		canon_bytes(out, "E", 1);
		canon_bytes(out, &n->depth, sizeof(n->depth));
		canon_ref(out, s, n->name);
		canon_ref(out, s, n->ns);
		canon_bytes(out, &n->nattrs, sizeof(n->nattrs));
		for (uint32_t a = n->attr_first; a < n->attr_first + n->nattrs; a++) {
			canon_ref(out, s, s->attrs[a].name);
			canon_ref(out, s, s->attrs[a].ns);
			canon_ref(out, s, s->attrs[a].value);
		}
	}
	canon_text(out, &run, run_depth);
	buf_free(&run);
}

#endif

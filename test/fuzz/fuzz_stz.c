/* fuzz_stz.c — the flat stanza encoding as it is read from a ring.
 *
 * Shared memory is input like a socket: a record could be torn or written by
 * a broken process.  stz_view() is the one gate; what it accepts must be
 * safe for every reader that follows.  The input is taken as an encoding
 * (copied to an 8-aligned buffer of exactly its size, so a read one byte
 * past the end is caught); when the view accepts it, everything a module
 * can reach is walked, the stanza is written as XML, and it is copied with
 * stz_b_copy (what the router does to forward part of a stanza), which must
 * give the same stanza, and serialised for a fan-out (struct stz_wire),
 * which must give the same bytes as stz_to_xml. */
#include "lib/buf.h"
#include "lib/stz.h"
#include "lib/xs.h"
#include "test/fuzz/fuzz.h"
#include "test/fuzz/stz_canon.h"

static volatile size_t sink; /* keeps reads from being optimised away */

static void touch(const struct stz *s, struct stz_ref r)
{
	const char *p = stz_str(s, r);
	sink += strlen(p) + (unsigned char)p[r.len];
}

/* Walks the subtree of element n the way modules navigate it. */
static void walk(const struct stz *s, uint32_t n, unsigned depth)
{
	FUZZ_CHECK(depth <= STZ_MAX_DEPTH);
	const struct stz_node *nd = &s->nodes[n];
	touch(s, nd->name);
	touch(s, nd->ns);
	for (uint32_t a = nd->attr_first; a < nd->attr_first + nd->nattrs; a++) {
		touch(s, s->attrs[a].name);
		touch(s, s->attrs[a].ns);
		touch(s, s->attrs[a].value);
	}
	sink += stz_attr(s, n, "type") != NULL;
	sink += strlen(stz_text(s, n));
	sink += stz_child(s, n, "body", NULL) + stz_child(s, n, NULL, STZ_NS_STANZAS);
	for (uint32_t c = stz_first_child(s, n); c != 0; c = stz_next_sibling(s, n, c)) {
		FUZZ_CHECK(c > n && c < nd->end);
		if (s->nodes[c].is_text)
			touch(s, s->nodes[c].name);
		else
			walk(s, c, depth + 1);
	}
}

static void to_xml(const struct stz *s, struct buf *out)
{
	FUZZ_CHECK(stz_to_xml(s, STZ_NS_CLIENT, out) == XS_OK);
}

/* The copy is built from the view alone and must be the same stanza.  It
 * may fail: elements can share one attribute range and nodes one string,
 * so a small encoding can stand for a copy far over any limit, and the view
 * accepts a leaf element one level deeper than the builder opens.
 * fuzz_xmlstream copies what the parser built, where failing is not
 * allowed. */
static void check_copy(const struct stz *s, size_t size)
{
	struct stz_builder b;
	stz_b_init(&b, 64 * size + 4096);
	if (stz_b_copy(&b, s, 0) != XS_OK) {
		stz_b_free(&b);
		return;
	}
	size_t n = stz_b_size(&b);
	FUZZ_CHECK(n > 0);
	void *mem = fuzz_aligned_alloc(n);
	stz_b_write(&b, mem, s->h->conn);
	struct stz c;
	FUZZ_CHECK(stz_view(&c, mem, n) == XS_OK);
	struct buf xml = { 0 }, want = { 0 }, got = { 0 };
	to_xml(&c, &xml);
	stz_canon(s, &want);
	stz_canon(&c, &got);
	if (got.len != want.len || memcmp(got.data, want.data, want.len) != 0) {
		struct buf orig = { 0 };
		to_xml(s, &orig);
		fuzz_dump("stanza", orig.data, orig.len);
		fuzz_dump("its copy", xml.data, xml.len);
		abort();
	}
	buf_free(&xml);
	buf_free(&want);
	buf_free(&got);
	free(mem);
	stz_b_free(&b);
}

/* The stanza element's own 'to' as the fan-out serialiser finds it: the
 * first namespace-less attribute named exactly "to".  *usable is false when
 * its value is empty (stamping an empty address writes no 'to') or holds a
 * NUL (a recipient's address never does; the view lets a string carry one),
 * so that a recipient's C string cannot stand for it. */
static const char *own_to(const struct stz *s, bool *usable)
{
	const struct stz_node *nd = &s->nodes[0];
	*usable = true;
	for (uint32_t a = nd->attr_first; a < nd->attr_first + nd->nattrs; a++)
		if (s->attrs[a].ns.len == 0 && s->attrs[a].name.len == 2 &&
		    memcmp(stz_str(s, s->attrs[a].name), "to", 2) == 0) {
			const char *v = stz_str(s, s->attrs[a].value);
			*usable = s->attrs[a].value.len > 0 && strlen(v) == s->attrs[a].value.len;
			return v;
		}
	return NULL;
}

static void same_bytes(const struct buf *want, const struct buf *got, const char *what)
{
	if (got->len - got->off == want->len - want->off &&
	    memcmp(got->data + got->off, want->data + want->off, want->len - want->off) == 0)
		return;
	fuzz_dump("stz_to_xml", want->data + want->off, want->len - want->off);
	fuzz_dump(what, got->data + got->off, got->len - got->off);
	abort();
}

/* Without stamping every recipient gets stz_to_xml's bytes; with stamping,
 * a recipient whose address is the stanza's own 'to' (or none, when it has
 * none) gets them too, since the address goes back where it stood. */
static void check_wire(const struct stz *s, const struct buf *xml)
{
	struct stz_wire w = { 0 };
	struct buf got = { 0 };
	FUZZ_CHECK(stz_wire_make(&w, s, STZ_NS_CLIENT, false) == XS_OK);
	FUZZ_CHECK(stz_wire_put(&w, "someone@else/r", &got) == XS_OK);
	same_bytes(xml, &got, "unstamped wire");
	got.off = got.len = 0;
	FUZZ_CHECK(stz_wire_make(&w, s, STZ_NS_CLIENT, true) == XS_OK);
	bool usable;
	const char *to = own_to(s, &usable);
	FUZZ_CHECK(stz_wire_put(&w, to, &got) == XS_OK);
	if (usable)
		same_bytes(xml, &got, "stamped wire");
	buf_free(&got);
	stz_wire_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *mem = fuzz_aligned_copy(data, size);
	struct stz s;
	if (stz_view(&s, mem, size) == XS_OK) {
		sink += strlen(stz_from(&s)) + strlen(stz_to(&s)) + strlen(stz_id(&s));
		sink += stz_has_to(&s);
		touch(&s, s.h->lang);
		touch(&s, s.h->payload_ns);
		sink += strlen(stz_type_name((enum stz_type)s.h->type));
		sink += stz_type_valid((enum stz_kind)s.h->kind, (enum stz_type)s.h->type);
		walk(&s, 0, 0);
		struct buf xml = { 0 };
		to_xml(&s, &xml);
		check_wire(&s, &xml);
		check_copy(&s, size);
		buf_free(&xml);
	}
	free(mem);
	return 0;
}

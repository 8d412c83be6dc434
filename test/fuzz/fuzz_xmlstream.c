/* fuzz_xmlstream.c — a client's bytes through the libxml2 push parser into
 * the stanza builder (workers/xmlstream.c), the first code any byte from the
 * network reaches after TLS.
 *
 * Input: four bytes of control, then what the client sends.
 *   [0] bit 0: protocol mode.  The server's side of the dialogue happens as
 *              in c2s.c: <starttls/>, a one-step <auth/> and <response/>
 *              restart the stream (as TLS or a SASL success would), a bind
 *              IQ turns on the preparation of 'to' from inside the callback,
 *              and from= is stamped once that read is over.  A restart
 *              drops the rest of its read, as c2s does, so a form feed
 *              (0x0c, which XML never contains) also ends a read here: it
 *              marks where a client waits for the server's answer.
 *       bit 1: a 1024-byte stanza limit (else 1 MB), to reach the limits.
 *       bit 2: stamp from= as soon as the stream opens.
 *   [1..3] the sizes of the reads the bytes arrive in, used in turn
 *          (0: all that is left).  Between reads an idle connection gives
 *          its parser back and resumes later by replaying its stream header,
 *          so read boundaries are where the interesting state changes are.
 *
 * Properties:
 *  - every stanza handed over encodes, passes stz_view, prints as XML and
 *    copies with stz_b_copy (the worker and the router do all four);
 *  - once stamping is on, from= is the stamp and a 'to' kept is a prepared
 *    JID;
 *  - the XML a stanza prints as parses back to the same encoding: what one
 *    client sends is what another receives;
 *  - outside protocol mode, the same bytes read at once and read in pieces
 *    give the same events (see check_same_events for what an error allows),
 *    and without stamping each stanza is the element libxml2's own tree
 *    builder makes of those bytes (dom_ref.c).  Protocol mode cannot
 *    compare: a restart drops the rest of the read it happens in, as c2s
 *    does, so the outcome depends on the reads by design.
 *
 * With XMPPD_FUZZ_STZ_OUT=DIR in the environment, every stanza's encoding
 * is also written to DIR: run over this corpus, that makes fuzz_stz's seeds
 * from the builder itself (fuzz.mk does it before each run). */
#include "lib/buf.h"
#include "lib/jid.h"
#include "lib/stz.h"
#include "lib/xs.h"
#include "test/fuzz/dom_ref.h"
#include "test/fuzz/fuzz.h"
#include "test/fuzz/stz_canon.h"
#include "workers/xmlstream.h"

#define STAMP_JID  "juliet@example.com/balcony"
#define NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define CONN_ID    42

static const char *dump_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dump_dir = getenv("XMPPD_FUZZ_STZ_OUT");
	return 0;
}

/* Names the file by a hash of its bytes, so equal stanzas are kept once. */
static void dump(const void *enc, size_t size)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */
	for (size_t i = 0; i < size; i++)
		h = (h ^ ((const uint8_t *)enc)[i]) * 1099511628211u;
	char path[4096];
	snprintf(path, sizeof(path), "%s/stz-%016llx", dump_dir, (unsigned long long)h);
	FILE *f = fopen(path, "wb");
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fwrite(enc, 1, size, f) == size && fclose(f) == 0);
}

struct run {
	struct xmlstream *xs;
	bool protocol, stamp_at_open;
	bool prep;              /* xmlstream_stamp was called */
	const char *stamp;      /* the from= in force, or NULL */
	bool bind_pending;      /* stamp once the current read is over */
	bool failed;
	const char *condition;  /* of the error that ended the stream */
	struct buf ev;          /* the events, serialised so runs compare */
	struct buf echo;        /* per stanza: encoding and XML, for the round trip */
};

static void put_u32(struct buf *b, size_t v)
{
	uint32_t u = (uint32_t)v;
	FUZZ_CHECK(buf_append(b, &u, sizeof(u)) == XS_OK);
}

static void put_str(struct buf *b, const char *s)
{
	/* NULL and "" differ: 0xff never starts UTF-8 text. */
	FUZZ_CHECK(buf_append(b, s ? s : "\xff", s ? strlen(s) + 1 : 2) == XS_OK);
}

static void on_open(void *arg, const struct xs_open *h)
{
	struct run *r = arg;
	FUZZ_CHECK(buf_append(&r->ev, "O", 1) == XS_OK);
	const char *f[] = { h->name, h->ns, h->default_ns, h->to, h->from, h->version, h->lang };
	for (size_t i = 0; i < XS_ARRAY_LEN(f); i++)
		put_str(&r->ev, f[i]);
	if (r->stamp_at_open && !r->stamp) {
		FUZZ_CHECK(xmlstream_stamp(r->xs, STAMP_JID) == XS_OK);
		r->prep = true;
		r->stamp = STAMP_JID;
	}
}

/* What stamping promises about the stanza element's from= and to=. */
static void check_stamped(const struct run *r, const struct stz *s, bool to_bad)
{
	if (r->stamp)
		FUZZ_CHECK(strcmp(stz_from(s), r->stamp) == 0);
	else
		FUZZ_CHECK(s->h->from.len == 0);
	if (!stz_has_to(s) || to_bad)
		return;
	static struct jid j;
	char full[JID_MAX + 1];
	FUZZ_CHECK(jid_parse(stz_to(s), s->h->to.len, &j) == XS_OK);
	FUZZ_CHECK(jid_full(&j, full, sizeof(full)) >= 0 && strcmp(full, stz_to(s)) == 0);
}

/* Copies node n of s; the copy must be whole and print like the original
 * when it is the stanza element. */
static void check_copy(const struct stz *s, uint32_t n, const struct buf *xml)
{
	struct stz_builder b;
	stz_b_init(&b, 8 * s->h->size + 4096);
	FUZZ_CHECK(stz_b_copy(&b, s, n) == XS_OK);
	size_t size = stz_b_size(&b);
	FUZZ_CHECK(size > 0);
	void *mem = fuzz_aligned_alloc(size);
	stz_b_write(&b, mem, CONN_ID);
	struct stz c;
	FUZZ_CHECK(stz_view(&c, mem, size) == XS_OK);
	struct buf cxml = { 0 };
	FUZZ_CHECK(stz_to_xml(&c, STZ_NS_CLIENT, &cxml) == XS_OK);
	if (n == 0)
		FUZZ_CHECK(cxml.len == xml->len && memcmp(cxml.data, xml->data, xml->len) == 0);
	buf_free(&cxml);
	free(mem);
	stz_b_free(&b);
}

/* The server's reaction to a stanza in protocol mode (c2s.c's pre_session):
 * SASL succeeds at the first step of PLAIN or ANONYMOUS and at a SCRAM
 * client-final <response/>. */
static void react(struct run *r, const struct stz *s)
{
	const char *ns = stz_str(s, s->nodes[0].ns);
	const char *mech = stz_attr(s, 0, "mechanism");
	bool one_step = stz_node_is(s, 0, "auth", NULL) && strncmp(mech ? mech : "", "SCRAM-", 6) != 0;
	if ((strcmp(ns, NS_SASL) == 0 && (one_step || stz_node_is(s, 0, "response", NULL))) ||
	    (strcmp(ns, NS_TLS) == 0 && stz_node_is(s, 0, "starttls", NULL))) {
		xmlstream_restart(r->xs);
	} else if (stz_node_is(s, 0, "iq", NULL) && stz_child(s, 0, "bind", NS_BIND) != 0) {
		FUZZ_CHECK(xmlstream_stamp(r->xs, NULL) == XS_OK);
		r->prep = true;
		r->stamp = NULL;
		r->bind_pending = true;
	}
}

static void on_stanza(void *arg, struct stz_builder *b, bool to_bad)
{
	struct run *r = arg;
	size_t size = stz_b_size(b);
	FUZZ_CHECK(size > 0);
	void *mem = fuzz_aligned_alloc(size);
	stz_b_write(b, mem, CONN_ID);
	struct stz s;
	FUZZ_CHECK(stz_view(&s, mem, size) == XS_OK);
	struct buf xml = { 0 };
	FUZZ_CHECK(stz_to_xml(&s, STZ_NS_CLIENT, &xml) == XS_OK);
	check_copy(&s, 0, &xml);
	uint32_t child = stz_child(&s, 0, NULL, NULL);
	if (child)
		check_copy(&s, child, &xml);
	if (r->prep)
		check_stamped(r, &s, to_bad);
	else
		FUZZ_CHECK(!to_bad);

	FUZZ_CHECK(buf_append(&r->ev, to_bad ? "S1" : "S0", 2) == XS_OK);
	put_u32(&r->ev, size);
	FUZZ_CHECK(buf_append(&r->ev, mem, size) == XS_OK);
	put_u32(&r->echo, size);
	FUZZ_CHECK(buf_append(&r->echo, mem, size) == XS_OK);
	put_u32(&r->echo, xml.len);
	FUZZ_CHECK(buf_append(&r->echo, xml.data, xml.len) == XS_OK);

	if (dump_dir)
		dump(mem, size);
	if (r->protocol)
		react(r, &s);
	buf_free(&xml);
	free(mem);
}

static void on_close(void *arg)
{
	struct run *r = arg;
	FUZZ_CHECK(buf_append(&r->ev, "C", 1) == XS_OK);
}

static void on_error(void *arg, const char *condition)
{
	struct run *r = arg;
	FUZZ_CHECK(condition && *condition);
	FUZZ_CHECK(!r->failed); /* one error ends the stream */
	/* Nothing fails to allocate here: this is a parser that could not be
	 * resumed from its stream header. */
	FUZZ_CHECK(strcmp(condition, "internal-server-error") != 0);
	r->failed = true;
	r->condition = condition;
}

static const struct xmlstream_cb run_cb = {
	.on_open = on_open, .on_stanza = on_stanza, .on_close = on_close, .on_error = on_error,
};

/* Feeds data in reads of the sizes in lens (cycled; NULL: one read), as
 * c2s_input does, until the stream fails. */
static void run(struct run *r, size_t limit, const uint8_t *data, size_t size,
                const uint8_t lens[3])
{
	r->xs = xmlstream_new(&run_cb, r, limit, 4 * limit + 4096);
	FUZZ_CHECK(r->xs != NULL);
	for (size_t off = 0, k = 0; off < size; k++) {
		size_t n = lens && lens[k % 3] ? lens[k % 3] : size - off;
		if (n > size - off)
			n = size - off;
		const uint8_t *ff = r->protocol ? memchr(data + off, '\f', n) : NULL;
		if (ff)
			n = (size_t)(ff - (data + off));
		int rc = xmlstream_feed(r->xs, (const char *)data + off, n);
		FUZZ_CHECK(rc == XS_OK || r->failed);
		off += n + (ff != NULL);
		if (r->bind_pending) {
			/* c2s_bound: the router answered between two reads. */
			FUZZ_CHECK(xmlstream_stamp(r->xs, STAMP_JID) == XS_OK);
			r->stamp = STAMP_JID;
			r->bind_pending = false;
		}
		if (rc != XS_OK)
			break;
	}
	xmlstream_free(r->xs);
	r->xs = NULL;
}

/* ---- round trip: the XML a stanza prints as, parsed again ---------------- */

struct echo {
	struct buf enc;
	unsigned stanzas;
	bool failed;
};

static void echo_open(void *arg, const struct xs_open *h)
{
	(void)arg;
	(void)h;
}

static void echo_stanza(void *arg, struct stz_builder *b, bool to_bad)
{
	struct echo *e = arg;
	(void)to_bad;
	size_t size = stz_b_size(b);
	FUZZ_CHECK(size > 0);
	void *mem = fuzz_aligned_alloc(size);
	stz_b_write(b, mem, CONN_ID);
	if (e->stanzas++ == 0)
		FUZZ_CHECK(buf_append(&e->enc, mem, size) == XS_OK);
	free(mem);
}

static void echo_close(void *arg)
{
	(void)arg;
}

static void echo_error(void *arg, const char *condition)
{
	struct echo *e = arg;
	(void)condition;
	e->failed = true;
}

static const struct xmlstream_cb echo_cb = {
	.on_open = echo_open, .on_stanza = echo_stanza, .on_close = echo_close,
	.on_error = echo_error,
};

/* Walks what on_stanza kept: each stanza's encoding and its XML. */
static bool echo_next(const struct buf *echo, size_t *off, const char **enc, uint32_t *enc_len,
                      const char **xml, uint32_t *xml_len)
{
	if (*off >= echo->len)
		return false;
	memcpy(enc_len, echo->data + *off, 4);
	*enc = echo->data + *off + 4;
	memcpy(xml_len, *enc + *enc_len, 4);
	*xml = *enc + *enc_len + 4;
	*off += 8 + (size_t)*enc_len + *xml_len;
	return true;
}

static void check_round_trip(const struct buf *echo)
{
	static const char header[] =
		"<stream:stream xmlns='" STZ_NS_CLIENT "' xmlns:stream='" NS_STREAMS "'>";
	const char *enc, *xml;
	uint32_t enc_len, xml_len;
	for (size_t off = 0; echo_next(echo, &off, &enc, &enc_len, &xml, &xml_len);) {
		struct echo e = { 0 };
		/* Escaping makes the text longer than what was parsed: no limit. */
		struct xmlstream *xs = xmlstream_new(&echo_cb, &e, 1u << 24, 4 * (1u << 24) + 4096);
		FUZZ_CHECK(xs != NULL);
		FUZZ_CHECK(xmlstream_feed(xs, header, sizeof(header) - 1) == XS_OK);
		if (xmlstream_feed(xs, xml, xml_len) != XS_OK || e.stanzas != 1) {
			fuzz_dump("printed stanza does not parse back", xml, xml_len);
			abort();
		}
		if (e.enc.len != enc_len || memcmp(e.enc.data, enc, enc_len) != 0) {
			fuzz_dump("printed stanza parses back different", xml, xml_len);
			abort();
		}
		xmlstream_free(xs);
		buf_free(&e.enc);
	}
}

/* ---- reference: libxml2's own tree of the same bytes -------------------- */

/* The round trip cannot see a stanza the builder got wrong in a way that
 * prints and parses back the same (text after a child element merged into
 * the child's, say); the tree libxml2 builds from the input can. */
static void check_against_dom(const uint8_t *data, size_t size, const struct buf *echo)
{
	struct dom_ref *ref = dom_ref_parse((const char *)data, size);
	const char *enc, *xml;
	uint32_t enc_len, xml_len;
	for (size_t off = 0; echo_next(echo, &off, &enc, &enc_len, &xml, &xml_len);) {
		void *mem = fuzz_aligned_copy(enc, enc_len);
		struct stz s;
		FUZZ_CHECK(stz_view(&s, mem, enc_len) == XS_OK);
		struct buf got = { 0 }, want = { 0 };
		stz_canon(&s, &got);
		FUZZ_CHECK(dom_ref_next(ref, &want));
		if (got.len != want.len || memcmp(got.data, want.data, got.len) != 0) {
			fuzz_dump("stanza differs from libxml2's tree of it", xml, xml_len);
			abort();
		}
		buf_free(&got);
		buf_free(&want);
		free(mem);
	}
	dom_ref_free(ref);
}

/* ---- differential: one read against many ---------------------------------- */

/* Events before an error must be the same.  Whether an error is found at
 * all may differ: libxml2 waits for a '>' it does not see inside what looks
 * like a quoted value, depending on the reads ("<'=>" fails read at once,
 * stalls read byte by byte).  So a stalled run may stop short, but a run
 * that fails must have gone at least as far as one that did not; with the
 * small limit, where a stanza is found too big depends on what libxml2
 * buffered, so even that does not hold.  (A run that fails short is a
 * resumed parser that reads the stream differently.) */
static void check_same_events(const struct run *a, const struct run *b, bool small)
{
	if (!small && a->failed != b->failed) {
		const struct run *f = a->failed ? a : b, *ok = a->failed ? b : a;
		FUZZ_CHECK(f->ev.len >= ok->ev.len);
	}
	if (!a->failed && !b->failed)
		FUZZ_CHECK(a->ev.len == b->ev.len);
	size_t n = a->ev.len < b->ev.len ? a->ev.len : b->ev.len;
	FUZZ_CHECK(n == 0 || memcmp(a->ev.data, b->ev.data, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint8_t flags = data[0];
	const uint8_t *lens = data + 1;
	size_t limit = (flags & 2) ? 1024 : 1u << 20;
	data += 4;
	size -= 4;

	struct run pieces = { .protocol = flags & 1, .stamp_at_open = flags & 4 };
	run(&pieces, limit, data, size, lens);
	check_round_trip(&pieces.echo);
	if (!pieces.protocol) {
		struct run whole = { .stamp_at_open = flags & 4 };
		run(&whole, limit, data, size, NULL);
		check_same_events(&pieces, &whole, flags & 2);
		if (!whole.prep) /* stamping changes from= and to= on purpose */
			check_against_dom(data, size, &whole.echo);
		buf_free(&whole.ev);
		buf_free(&whole.echo);
	}
	buf_free(&pieces.ev);
	buf_free(&pieces.echo);
	return 0;
}

/* test_stz.c — the flat stanza encoding: build, write, view, navigate,
 * output as XML, copy, and refusal of corrupt or oversized encodings. */
#include "lib/stz.h"
#include "lib/xs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Writes the builder into an aligned heap buffer and views it. */
static void *finish(struct stz_builder *b, struct stz *s, size_t *len)
{
	size_t n = stz_b_size(b);
	assert_true(n > 0);
	void *mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	assert_non_null(mem);
	stz_b_write(b, mem, 42);
	assert_int_equal(stz_view(s, mem, n), XS_OK);
	if (len)
		*len = n;
	return mem;
}

static void build_message(struct stz_builder *b)
{
	assert_int_equal(stz_b_openz(b, "message", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_attrz(b, "to", "juliet@example.com"), XS_OK);
	assert_int_equal(stz_b_attrz(b, "from", "romeo@example.net/orchard"), XS_OK);
	assert_int_equal(stz_b_attrz(b, "type", "chat"), XS_OK);
	assert_int_equal(stz_b_attrz(b, "id", "m1"), XS_OK);
	assert_int_equal(stz_b_attr(b, "lang", 4, STZ_NS_XML, strlen(STZ_NS_XML), "en", 2), XS_OK);
	assert_int_equal(stz_b_openz(b, "body", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_text(b, "Art thou ", 9), XS_OK);
	assert_int_equal(stz_b_text(b, "<not> & \"Romeo\"?", 16), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	assert_int_equal(stz_b_openz(b, "active", "http://jabber.org/protocol/chatstates"), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct stz_builder b;
	stz_b_init(&b, 65536);
	build_message(&b);
	struct stz s;
	void *mem = finish(&b, &s, NULL);
	assert_int_equal(s.h->kind, STZ_MESSAGE);
	assert_int_equal(s.h->type, STZ_T_CHAT);
	assert_string_equal(stz_to(&s), "juliet@example.com");
	assert_string_equal(stz_from(&s), "romeo@example.net/orchard");
	assert_string_equal(stz_id(&s), "m1");
	assert_string_equal(stz_str(&s, s.h->lang), "en");
	assert_string_equal(stz_str(&s, s.h->payload_ns), STZ_NS_CLIENT);
	assert_int_equal(s.h->conn, 42);
	uint32_t body = stz_child(&s, 0, "body", NULL);
	assert_int_equal(body, 1);
	assert_string_equal(stz_text(&s, body), "Art thou <not> & \"Romeo\"?");
	assert_int_not_equal(stz_child(&s, 0, "active", "http://jabber.org/protocol/chatstates"), 0);
	assert_int_equal(stz_child(&s, 0, "active", STZ_NS_CLIENT), 0);
	assert_null(stz_attr(&s, 0, "lang")); /* namespaced: not a plain attribute */
	assert_string_equal(stz_attr(&s, 0, "type"), "chat");

	struct buf out = { 0 };
	assert_int_equal(stz_to_xml(&s, STZ_NS_CLIENT, &out), XS_OK);
	assert_int_equal(buf_append(&out, "", 1), XS_OK);
	assert_string_equal(out.data,
		"<message to='juliet@example.com' from='romeo@example.net/orchard' type='chat' "
		"id='m1' xml:lang='en'><body>Art thou &lt;not&gt; &amp; \"Romeo\"?</body>"
		"<active xmlns='http://jabber.org/protocol/chatstates'/></message>");
	/* Out of its stream (other default namespace) the stanza declares its own. */
	out.len = out.off = 0;
	assert_int_equal(stz_to_xml(&s, "jabber:server", &out), XS_OK);
	assert_int_equal(strncmp(out.data, "<message xmlns='jabber:client' to=", 34), 0);
	buf_free(&out);
	free(mem);
	stz_b_free(&b);
}

static void test_absent_fields_and_types(void **state)
{
	(void)state;
	struct stz_builder b;
	stz_b_init(&b, 4096);
	assert_int_equal(stz_b_openz(&b, "iq", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_attrz(&b, "type", "get"), XS_OK);
	assert_int_equal(stz_b_openz(&b, "ping", "urn:xmpp:ping"), XS_OK);
	assert_int_equal(stz_b_close(&b), XS_OK);
	assert_int_equal(stz_b_close(&b), XS_OK);
	struct stz s;
	void *mem = finish(&b, &s, NULL);
	assert_int_equal(s.h->kind, STZ_IQ);
	assert_int_equal(s.h->type, STZ_T_GET);
	assert_false(stz_has_to(&s));
	assert_string_equal(stz_to(&s), "");
	assert_string_equal(stz_id(&s), "");
	assert_string_equal(stz_str(&s, s.h->payload_ns), "urn:xmpp:ping");
	free(mem);

	assert_int_equal(stz_type_of("chat", 4), STZ_T_CHAT);
	assert_int_equal(stz_type_of("bogus", 5), STZ_T_UNKNOWN);
	assert_true(stz_type_valid(STZ_MESSAGE, STZ_T_NONE));
	assert_false(stz_type_valid(STZ_IQ, STZ_T_NONE));
	assert_false(stz_type_valid(STZ_MESSAGE, STZ_T_GET));
	assert_true(stz_type_valid(STZ_PRESENCE, STZ_T_UNAVAILABLE));
	assert_false(stz_type_valid(STZ_PRESENCE, STZ_T_UNKNOWN));
	assert_int_equal(stz_kind_of("presence", 8), STZ_PRESENCE);
	assert_int_equal(stz_kind_of("stream", 6), STZ_OTHER);
	stz_b_free(&b);
}

/* A stanza without a single attribute: the attribute table is never
 * allocated, and writing it must not touch it. */
static void test_no_attributes(void **state)
{
	(void)state;
	struct stz_builder b;
	stz_b_init(&b, 4096);
	assert_int_equal(stz_b_openz(&b, "presence", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_close(&b), XS_OK);
	struct stz s;
	void *mem = finish(&b, &s, NULL);
	assert_int_equal(s.h->kind, STZ_PRESENCE);
	assert_int_equal(s.h->type, STZ_T_NONE);
	assert_int_equal(s.h->nattrs, 0);
	struct buf out = { 0 };
	assert_int_equal(stz_to_xml(&s, STZ_NS_CLIENT, &out), XS_OK);
	assert_int_equal(buf_append(&out, "", 1), XS_OK);
	assert_string_equal(out.data, "<presence/>");
	buf_free(&out);
	free(mem);
	stz_b_free(&b);
}

/* Text that follows a child element belongs to the parent, not the child;
 * CR (and TAB/LF in attributes) leave as character references, or the
 * recipient's parser would normalise them away. */
static void test_mixed_text_and_whitespace(void **state)
{
	(void)state;
	struct stz_builder b;
	stz_b_init(&b, 4096);
	assert_int_equal(stz_b_openz(&b, "message", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_attrz(&b, "id", "a\tb\nc"), XS_OK);
	assert_int_equal(stz_b_openz(&b, "body", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_text(&b, "hello", 5), XS_OK);
	assert_int_equal(stz_b_close(&b), XS_OK);
	assert_int_equal(stz_b_text(&b, "\r\n", 2), XS_OK);
	assert_int_equal(stz_b_close(&b), XS_OK);
	struct stz s;
	void *mem = finish(&b, &s, NULL);
	uint32_t body = stz_child(&s, 0, "body", NULL);
	assert_string_equal(stz_text(&s, body), "hello");
	assert_string_equal(stz_text(&s, 0), "\r\n");
	struct buf out = { 0 };
	assert_int_equal(stz_to_xml(&s, STZ_NS_CLIENT, &out), XS_OK);
	assert_int_equal(buf_append(&out, "", 1), XS_OK);
	assert_string_equal(out.data, "<message id='a&#9;b&#10;c'><body>hello</body>&#13;\n</message>");
	buf_free(&out);
	free(mem);
	stz_b_free(&b);
}

static void test_copy_subtree(void **state)
{
	(void)state;
	struct stz_builder b;
	stz_b_init(&b, 65536);
	build_message(&b);
	struct stz s;
	void *mem = finish(&b, &s, NULL);

	struct stz_builder c;
	stz_b_init(&c, 65536);
	assert_int_equal(stz_b_openz(&c, "message", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_attrz(&c, "type", "error"), XS_OK);
	for (uint32_t n = stz_first_child(&s, 0); n; n = stz_next_sibling(&s, 0, n))
		assert_int_equal(stz_b_copy(&c, &s, n), XS_OK);
	assert_int_equal(stz_b_openz(&c, "error", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_close(&c), XS_OK);
	assert_int_equal(stz_b_close(&c), XS_OK);
	struct stz t;
	void *mem2 = finish(&c, &t, NULL);
	struct buf out = { 0 };
	assert_int_equal(stz_to_xml(&t, STZ_NS_CLIENT, &out), XS_OK);
	assert_int_equal(buf_append(&out, "", 1), XS_OK);
	assert_string_equal(out.data,
		"<message type='error'><body>Art thou &lt;not&gt; &amp; \"Romeo\"?</body>"
		"<active xmlns='http://jabber.org/protocol/chatstates'/><error/></message>");
	buf_free(&out);
	free(mem);
	free(mem2);
	stz_b_free(&b);
	stz_b_free(&c);
}

static void test_builder_refuses_misuse(void **state)
{
	(void)state;
	struct stz_builder b;
	stz_b_init(&b, 4096);
	assert_int_equal(stz_b_size(&b), 0); /* empty */
	assert_int_equal(stz_b_text(&b, "x", 1), XS_ERROR); /* text outside an element */
	stz_b_reset(&b);
	assert_int_equal(stz_b_openz(&b, "a", ""), XS_OK);
	assert_int_equal(stz_b_size(&b), 0); /* still open */
	assert_int_equal(stz_b_openz(&b, "b", ""), XS_OK);
	assert_int_equal(stz_b_close(&b), XS_OK);
	assert_int_equal(stz_b_attrz(&b, "late", "x"), XS_ERROR); /* attr after a child */
	assert_int_equal(stz_b_size(&b), 0);
	stz_b_reset(&b);
	/* Depth limit. */
	int rc = XS_OK;
	for (int i = 0; i <= STZ_MAX_DEPTH && rc == XS_OK; i++)
		rc = stz_b_openz(&b, "d", "");
	assert_int_equal(rc, XS_ERROR);
	stz_b_reset(&b);
	/* Attribute count limit. */
	assert_int_equal(stz_b_openz(&b, "a", ""), XS_OK);
	rc = XS_OK;
	for (int i = 0; i <= STZ_MAX_ATTRS && rc == XS_OK; i++)
		rc = stz_b_attrz(&b, "x", "y");
	assert_int_equal(rc, XS_ERROR);
	stz_b_reset(&b);
	/* Size limit: a text larger than the limit fails and keeps failing. */
	char big[5000];
	memset(big, 'x', sizeof(big));
	assert_int_equal(stz_b_openz(&b, "a", ""), XS_OK);
	assert_int_equal(stz_b_text(&b, big, sizeof(big)), XS_ERROR);
	assert_int_equal(stz_b_close(&b), XS_ERROR);
	assert_int_equal(stz_b_size(&b), 0);
	/* A second root is refused. */
	stz_b_reset(&b);
	assert_int_equal(stz_b_openz(&b, "a", ""), XS_OK);
	assert_int_equal(stz_b_close(&b), XS_OK);
	assert_int_equal(stz_b_openz(&b, "b", ""), XS_ERROR);
	stz_b_free(&b);
}

static void test_view_rejects_corruption(void **state)
{
	(void)state;
	struct stz_builder b;
	stz_b_init(&b, 65536);
	build_message(&b);
	struct stz s;
	size_t len;
	uint8_t *mem = finish(&b, &s, &len);
	uint8_t *copy = aligned_alloc(8, (len + 7) & ~(size_t)7);
	assert_non_null(copy);

	/* Truncated or mislabelled sizes. */
	assert_int_equal(stz_view(&s, mem, len - 8), XS_ERROR);
	assert_int_equal(stz_view(&s, mem, 4), XS_ERROR);

	/* Every single-byte corruption of the header and node/attr tables either
	 * still yields a consistent view or is refused — never a wild read.  The
	 * checked fields make most of them refused. */
	struct stz_hdr *h = (struct stz_hdr *)mem;
	size_t tables_end = h->pool_off;
	size_t refused = 0;
	for (size_t i = 0; i < tables_end; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(copy, mem, len);
			copy[i] ^= (uint8_t)(1u << bit);
			struct stz v;
			if (stz_view(&v, copy, len) == XS_OK) {
				struct buf out = { 0 };
				assert_int_equal(stz_to_xml(&v, STZ_NS_CLIENT, &out), XS_OK);
				buf_free(&out);
			} else {
				refused++;
			}
		}
	}
	assert_true(refused > tables_end / 2);

	/* A pool string without its NUL. */
	memcpy(copy, mem, len);
	struct stz_hdr *ch = (struct stz_hdr *)copy;
	memset(copy + ch->pool_off, 'A', ch->pool_len);
	assert_int_equal(stz_view(&s, copy, len), XS_ERROR);
	free(copy);
	free(mem);
	stz_b_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_absent_fields_and_types),
		cmocka_unit_test(test_no_attributes),
		cmocka_unit_test(test_mixed_text_and_whitespace),
		cmocka_unit_test(test_copy_subtree),
		cmocka_unit_test(test_builder_refuses_misuse),
		cmocka_unit_test(test_view_rejects_corruption),
	};
	return cmocka_run_group_tests_name("stz", tests, NULL, NULL);
}

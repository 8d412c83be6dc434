/* test_stz_wire.c — a stanza serialised once for many recipients
 * (struct stz_wire): without stamping every recipient gets stz_to_xml's
 * bytes; with MSG_DELIVER_STAMP_TO each gets its own escaped 'to' where the
 * stanza's own stood, or after its attributes when it had none. */
#include "lib/stz.h"
#include "lib/xs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct fixture {
	struct stz_builder b;
	struct stz s;
	void *mem;
	struct stz_wire w;
	struct buf out;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	stz_b_init(&f->b, 65536);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	stz_b_free(&f->b);
	stz_wire_free(&f->w);
	buf_free(&f->out);
	free(f->mem);
	free(f);
	return 0;
}

static void finish(struct fixture *f)
{
	size_t n = stz_b_size(&f->b);
	assert_true(n > 0);
	f->mem = aligned_alloc(8, (n + 7) & ~(size_t)7);
	assert_non_null(f->mem);
	stz_b_write(&f->b, f->mem, 7);
	assert_int_equal(stz_view(&f->s, f->mem, n), XS_OK);
}

/* One recipient's bytes, as a NUL-terminated string in f->out. */
static const char *put(struct fixture *f, const char *to)
{
	f->out.off = f->out.len = 0;
	assert_int_equal(stz_wire_put(&f->w, to, &f->out), XS_OK);
	assert_int_equal(buf_append(&f->out, "", 1), XS_OK);
	return f->out.data;
}

/* A group-chat message with a 'to' in the middle of its attributes and
 * children of other namespaces. */
static void build_groupchat(struct fixture *f)
{
	struct stz_builder *b = &f->b;
	assert_int_equal(stz_b_openz(b, "message", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_attrz(b, "from", "room@muc.example/nick"), XS_OK);
	assert_int_equal(stz_b_attrz(b, "to", "someone@example/else"), XS_OK);
	assert_int_equal(stz_b_attrz(b, "type", "groupchat"), XS_OK);
	assert_int_equal(stz_b_openz(b, "body", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_text(b, "a < b & 'c'", 11), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	assert_int_equal(stz_b_openz(b, "x", "http://jabber.org/protocol/muc#user"), XS_OK);
	assert_int_equal(stz_b_openz(b, "item", "http://jabber.org/protocol/muc#user"), XS_OK);
	assert_int_equal(stz_b_attrz(b, "affiliation", "member"), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	assert_int_equal(stz_b_openz(b, "active", "http://jabber.org/protocol/chatstates"), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	finish(f);
}

#define GC_TAIL " type='groupchat'><body>a &lt; b &amp; 'c'</body>" \
	"<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member'/></x>" \
	"<active xmlns='http://jabber.org/protocol/chatstates'/></message>"

static void test_stamp_replaces_existing_to(void **state)
{
	struct fixture *f = *state;
	build_groupchat(f);
	assert_int_equal(stz_wire_make(&f->w, &f->s, STZ_NS_CLIENT, true), XS_OK);
	assert_string_equal(put(f, "juliet@example.com/balcony"),
	                    "<message from='room@muc.example/nick' to='juliet@example.com/balcony'"
	                    GC_TAIL);
	/* The same wire for the next recipient: only its address differs. */
	assert_string_equal(put(f, "romeo@example.net/orchard"),
	                    "<message from='room@muc.example/nick' to='romeo@example.net/orchard'"
	                    GC_TAIL);
}

static void test_stamp_adds_missing_to(void **state)
{
	struct fixture *f = *state;
	struct stz_builder *b = &f->b;
	assert_int_equal(stz_b_openz(b, "presence", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_attrz(b, "from", "a@example/r"), XS_OK);
	assert_int_equal(stz_b_attrz(b, "id", "p1"), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	finish(f);
	assert_int_equal(stz_wire_make(&f->w, &f->s, STZ_NS_CLIENT, true), XS_OK);
	assert_string_equal(put(f, "b@example/s"),
	                    "<presence from='a@example/r' id='p1' to='b@example/s'/>");
}

static void test_stamp_bare_element(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(stz_b_openz(&f->b, "presence", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_close(&f->b), XS_OK);
	finish(f);
	assert_int_equal(stz_wire_make(&f->w, &f->s, STZ_NS_CLIENT, true), XS_OK);
	assert_string_equal(put(f, "b@example/s"), "<presence to='b@example/s'/>");
	/* No address to give: no 'to' at all. */
	assert_string_equal(put(f, NULL), "<presence/>");
}

static void test_stamp_escapes_the_jid(void **state)
{
	struct fixture *f = *state;
	build_groupchat(f);
	assert_int_equal(stz_wire_make(&f->w, &f->s, STZ_NS_CLIENT, true), XS_OK);
	/* A resource may hold ' and & (resourceprep allows them). */
	assert_string_equal(put(f, "o'neil@example.com/r&d 'lab'"),
	                    "<message from='room@muc.example/nick' "
	                    "to='o&apos;neil@example.com/r&amp;d &apos;lab&apos;'" GC_TAIL);
}

static void test_without_stamp_is_stz_to_xml(void **state)
{
	struct fixture *f = *state;
	build_groupchat(f);
	struct buf ref = { 0 };
	assert_int_equal(stz_to_xml(&f->s, STZ_NS_CLIENT, &ref), XS_OK);
	assert_int_equal(buf_append(&ref, "", 1), XS_OK);
	assert_int_equal(stz_wire_make(&f->w, &f->s, STZ_NS_CLIENT, false), XS_OK);
	/* The recipient's address is not written without the flag. */
	assert_string_equal(put(f, "x@example/y"), ref.data);
	assert_string_equal(put(f, NULL), ref.data);
	assert_string_equal(ref.data, "<message from='room@muc.example/nick' "
	                              "to='someone@example/else'" GC_TAIL);
	buf_free(&ref);
}

/* Only the stanza element's plain 'to' is the address: a namespaced 'to'
 * attribute, and a child's 'to', stay as they are. */
static void test_stamp_keeps_other_to_attributes(void **state)
{
	struct fixture *f = *state;
	struct stz_builder *b = &f->b;
	assert_int_equal(stz_b_openz(b, "iq", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_attr(b, "to", 2, "urn:x:other", 11, "kept", 4), XS_OK);
	assert_int_equal(stz_b_attrz(b, "type", "set"), XS_OK);
	assert_int_equal(stz_b_openz(b, "item", "urn:x:q"), XS_OK);
	assert_int_equal(stz_b_attrz(b, "to", "child"), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	finish(f);
	assert_int_equal(stz_wire_make(&f->w, &f->s, STZ_NS_CLIENT, true), XS_OK);
	assert_string_equal(put(f, "c@example/d"),
	                    "<iq xmlns:a0='urn:x:other' a0:to='kept' type='set' to='c@example/d'>"
	                    "<item xmlns='urn:x:q' to='child'/></iq>");
}

/* The stanza element's namespace is declared against the stream's: the
 * same stanza made for another stream namespace differs only there. */
static void test_stream_namespace(void **state)
{
	struct fixture *f = *state;
	struct stz_builder *b = &f->b;
	assert_int_equal(stz_b_openz(b, "message", STZ_NS_CLIENT), XS_OK);
	assert_int_equal(stz_b_attrz(b, "to", "old"), XS_OK);
	assert_int_equal(stz_b_close(b), XS_OK);
	finish(f);
	assert_int_equal(stz_wire_make(&f->w, &f->s, "jabber:component:accept", true), XS_OK);
	assert_string_equal(f->w.ns, "jabber:component:accept");
	assert_string_equal(put(f, "new"), "<message xmlns='jabber:client' to='new'/>");
	/* The wire is reused: made again, it forgets the first stanza. */
	assert_int_equal(stz_wire_make(&f->w, &f->s, STZ_NS_CLIENT, true), XS_OK);
	assert_string_equal(put(f, "new"), "<message to='new'/>");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stamp_replaces_existing_to, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stamp_adds_missing_to, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stamp_bare_element, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stamp_escapes_the_jid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_stamp_is_stz_to_xml, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stamp_keeps_other_to_attributes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_namespace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_buf.c — the byte buffer (lib/buf): appending, consuming, and the
 * mark and rollback a refused stanza is taken back with, also when the
 * append in between moved the unread bytes to the front (a slow reader's
 * output queue: off > 0, then an append that does not fit behind). */
#include "lib/buf.h"
#include "lib/xs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* n bytes of a pattern that tells where each came from. */
static void pattern(char *out, size_t n, char base)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(base + (char)(i % 26));
}

static void test_append_consume(void **state)
{
	(void)state;
	struct buf b = { 0 };
	assert_int_equal(buf_appendz(&b, "hello "), XS_OK);
	assert_int_equal(buf_append(&b, "world", 5), XS_OK);
	assert_int_equal(buf_append(&b, NULL, 0), XS_OK);
	assert_int_equal(buf_pending(&b), 11);
	buf_consume(&b, 6);
	assert_int_equal(buf_pending(&b), 5);
	assert_memory_equal(b.data + b.off, "world", 5);
	buf_consume(&b, 5);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	assert_null(b.data);
}

/* Nothing moved: the rollback drops exactly what came after the mark. */
static void test_rollback_in_place(void **state)
{
	(void)state;
	struct buf b = { 0 };
	assert_int_equal(buf_appendz(&b, "<a/>"), XS_OK);
	size_t m = buf_mark(&b);
	assert_int_equal(buf_appendz(&b, "<refused/>"), XS_OK);
	buf_rollback(&b, m);
	assert_int_equal(buf_pending(&b), 4);
	assert_memory_equal(b.data + b.off, "<a/>", 4);
	/* A rollback to a mark not below what is queued changes nothing. */
	buf_rollback(&b, 10);
	assert_int_equal(buf_pending(&b), 4);
	buf_free(&b);
}

/* Part read (off > 0), then an append that does not fit behind the data
 * but fits once it moves to the front: compaction without growth. */
static void test_rollback_after_compaction(void **state)
{
	(void)state;
	struct buf b = { 0 };
	char first[200], more[100];
	pattern(first, sizeof(first), 'a');
	pattern(more, sizeof(more), 'A');
	assert_int_equal(buf_append(&b, first, sizeof(first)), XS_OK);
	size_t cap = b.cap;
	buf_consume(&b, 150);
	assert_int_equal(b.off, 150);
	size_t m = buf_mark(&b);
	assert_true(b.cap - b.len < sizeof(more)); /* so the append compacts */
	assert_int_equal(buf_append(&b, more, sizeof(more)), XS_OK);
	assert_int_equal(b.off, 0);
	assert_int_equal(b.cap, cap);
	buf_rollback(&b, m);
	assert_int_equal(buf_pending(&b), 50);
	assert_memory_equal(b.data + b.off, first + 150, 50);
	/* The next append follows the kept bytes, nothing stale between. */
	assert_int_equal(buf_appendz(&b, "<next/>"), XS_OK);
	assert_int_equal(buf_pending(&b), 57);
	assert_memory_equal(b.data + b.off + 50, "<next/>", 7);
	buf_free(&b);
}

/* Part read, then an append so large that the buffer compacts and grows. */
static void test_rollback_after_growth(void **state)
{
	(void)state;
	struct buf b = { 0 };
	char first[1000], big[10000];
	pattern(first, sizeof(first), 'a');
	pattern(big, sizeof(big), 'A');
	assert_int_equal(buf_append(&b, first, sizeof(first)), XS_OK);
	buf_consume(&b, 600);
	size_t m = buf_mark(&b);
	assert_int_equal(buf_append(&b, big, sizeof(big)), XS_OK);
	assert_int_equal(b.off, 0);
	buf_rollback(&b, m);
	assert_int_equal(buf_pending(&b), 400);
	assert_memory_equal(b.data + b.off, first + 600, 400);
	buf_free(&b);
}

/* Everything read: the append starts over at the front (off and len reset);
 * a mark of nothing rolls back to nothing. */
static void test_rollback_to_empty(void **state)
{
	(void)state;
	struct buf b = { 0 };
	char first[100];
	pattern(first, sizeof(first), 'a');
	assert_int_equal(buf_append(&b, first, sizeof(first)), XS_OK);
	b.off = b.len; /* read to the end, storage kept (as buf_consume leaves it) */
	size_t m = buf_mark(&b);
	assert_int_equal(m, 0);
	assert_int_equal(buf_appendz(&b, "<refused/>"), XS_OK);
	buf_rollback(&b, m);
	assert_int_equal(buf_pending(&b), 0);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_consume),
		cmocka_unit_test(test_rollback_in_place),
		cmocka_unit_test(test_rollback_after_compaction),
		cmocka_unit_test(test_rollback_after_growth),
		cmocka_unit_test(test_rollback_to_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

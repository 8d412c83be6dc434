/* test_timer.c — the router's timer queue (router/timer.h): order, periods,
 * cancelling (by id, by owner, from a callback), stale ids, and a heap of
 * many timers that fires them in order. */
#include "router/timer.h"
#include "lib/xs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#define OWNER_A ((const void *)0x1)
#define OWNER_B ((const void *)0x2)

static struct {
	uint64_t ids[64];
	uintptr_t args[64];
	size_t n;
} fired;

static void record(uint64_t id, void *arg)
{
	if (fired.n < 64) {
		fired.ids[fired.n] = id;
		fired.args[fired.n] = (uintptr_t)arg;
	}
	fired.n++;
}

static int setup(void **state)
{
	fired.n = 0;
	*state = timerq_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	timerq_free(*state);
	return 0;
}

static void test_order_and_next(void **state)
{
	struct timerq *q = *state;
	assert_int_equal(timerq_next(q), UINT64_MAX);
	uint64_t c = timerq_add(q, 300, 0, OWNER_A, record, (void *)3);
	uint64_t a = timerq_add(q, 100, 0, OWNER_A, record, (void *)1);
	uint64_t b = timerq_add(q, 200, 0, OWNER_A, record, (void *)2);
	assert_true(a && b && c && a != b && b != c);
	assert_int_equal(timerq_next(q), 100);
	assert_int_equal(timerq_run(q, 99, 100), 0);
	assert_int_equal(timerq_run(q, 250, 100), 2);
	assert_int_equal(fired.n, 2);
	assert_int_equal(fired.ids[0], a);
	assert_int_equal(fired.args[1], 2);
	assert_int_equal(timerq_next(q), 300);
	assert_int_equal(timerq_run(q, 1000, 100), 1);
	assert_int_equal(timerq_count(q), 0);
	/* A one-shot that fired is gone: its id is stale. */
	assert_int_equal(timerq_cancel(q, a, OWNER_A), XS_PASS);
}

static void test_periodic(void **state)
{
	struct timerq *q = *state;
	uint64_t id = timerq_add(q, 10, 10, OWNER_A, record, NULL);
	assert_int_equal(timerq_run(q, 10, 100), 1);
	assert_int_equal(timerq_next(q), 20);
	assert_int_equal(timerq_run(q, 20, 100), 1);
	/* Late by many periods: once, then re-armed from now, no burst. */
	assert_int_equal(timerq_run(q, 1000, 100), 1);
	assert_int_equal(timerq_next(q), 1010);
	assert_int_equal(fired.n, 3);
	assert_int_equal(fired.ids[2], id);
	assert_int_equal(timerq_cancel(q, id, OWNER_A), XS_OK);
	assert_int_equal(timerq_run(q, 5000, 100), 0);
}

static void test_cancel(void **state)
{
	struct timerq *q = *state;
	uint64_t a = timerq_add(q, 100, 0, OWNER_A, record, NULL);
	uint64_t b = timerq_add(q, 50, 0, OWNER_B, record, NULL);
	assert_int_equal(timerq_cancel(q, a, OWNER_B), XS_PASS); /* not its own */
	assert_int_equal(timerq_cancel(q, 0, OWNER_A), XS_PASS);
	assert_int_equal(timerq_cancel(q, 999, OWNER_A), XS_PASS);
	assert_int_equal(timerq_cancel(q, a, OWNER_A), XS_OK);
	assert_int_equal(timerq_cancel(q, a, OWNER_A), XS_PASS);
	/* The slot is reused, under another id: the old one stays stale. */
	uint64_t c = timerq_add(q, 10, 0, OWNER_A, record, NULL);
	assert_int_not_equal(c, a);
	assert_int_equal(timerq_cancel(q, a, OWNER_A), XS_PASS);
	assert_int_equal(timerq_run(q, 1000, 100), 2);
	assert_int_equal(fired.ids[0], c);
	assert_int_equal(fired.ids[1], b);
}

static void test_cancel_owner(void **state)
{
	struct timerq *q = *state;
	for (int i = 0; i < 10; i++)
		timerq_add(q, (uint64_t)(i * 7 % 10), i % 3 ? 5 : 0, i % 2 ? OWNER_A : OWNER_B, record,
		           NULL);
	assert_int_equal(timerq_cancel_owner(q, OWNER_A), 5);
	assert_int_equal(timerq_count(q), 5);
	timerq_run(q, 100, 1000);
	for (size_t i = 0; i < fired.n && i < 64; i++)
		assert_true(fired.ids[i] != 0);
	assert_int_equal(timerq_cancel_owner(q, OWNER_B), 3); /* its periodic ones are left */
	assert_int_equal(timerq_count(q), 0);
}

/* A module's reload (router/plugins.c): the timers it had before are
 * cancelled after the reload, those the reload armed stay, a fired periodic
 * timer keeps its place before the mark, and a freed slot reused after the
 * mark counts as new. */
static void test_cancel_owner_before(void **state)
{
	struct timerq *q = *state;
	uint64_t old1 = timerq_add(q, 10, 5, OWNER_A, record, NULL);
	uint64_t old2 = timerq_add(q, 50, 0, OWNER_A, record, NULL);
	uint64_t other = timerq_add(q, 20, 0, OWNER_B, record, NULL);
	assert_int_equal(timerq_run(q, 12, 100), 1); /* old1 re-armed */
	assert_int_equal(timerq_cancel(q, old2, OWNER_A), XS_OK);
	uint64_t mark = timerq_mark(q);
	uint64_t fresh1 = timerq_add(q, 30, 0, OWNER_A, record, NULL); /* reuses old2's slot */
	uint64_t fresh2 = timerq_add(q, 40, 7, OWNER_A, record, NULL);
	assert_int_equal(timerq_cancel_owner_before(q, OWNER_A, mark), 1);
	assert_int_equal(timerq_cancel(q, old1, OWNER_A), XS_PASS);
	assert_int_equal(timerq_count(q), 3);
	assert_int_equal(timerq_cancel(q, fresh1, OWNER_A), XS_OK);
	assert_int_equal(timerq_cancel(q, fresh2, OWNER_A), XS_OK);
	assert_int_equal(timerq_cancel(q, other, OWNER_B), XS_OK);
	assert_int_equal(timerq_cancel_owner_before(q, OWNER_A, timerq_mark(q)), 0);
}

/* A periodic timer that cancels itself on its third run. */
static struct timerq *self_q;
static int self_runs;

static void self_cancel(uint64_t id, void *arg)
{
	(void)arg;
	if (++self_runs == 3)
		assert_int_equal(timerq_cancel(self_q, id, OWNER_A), XS_OK);
}

static void test_cancel_from_callback(void **state)
{
	struct timerq *q = self_q = *state;
	self_runs = 0;
	timerq_add(q, 1, 1, OWNER_A, self_cancel, NULL);
	for (uint64_t t = 1; t < 20; t++)
		timerq_run(q, t, 100);
	assert_int_equal(self_runs, 3);
	assert_int_equal(timerq_count(q), 0);
}

static void test_max_per_run(void **state)
{
	struct timerq *q = *state;
	for (int i = 0; i < 10; i++)
		timerq_add(q, 5, 0, OWNER_A, record, NULL);
	assert_int_equal(timerq_run(q, 5, 4), 4);
	assert_int_equal(timerq_run(q, 5, 4), 4);
	assert_int_equal(timerq_run(q, 5, 4), 2);
}

/* Many timers, half of them cancelled in a random order: the rest fire in
 * order of due time, each once. */
static uint64_t last_due;
static size_t order_fired;
static bool out_of_order;

static void check_order(uint64_t id, void *arg)
{
	(void)id;
	uint64_t due = (uintptr_t)arg;
	if (due < last_due)
		out_of_order = true;
	last_due = due;
	order_fired++;
}

static void test_many(void **state)
{
	struct timerq *q = *state;
	enum { N = 20000 };
	uint64_t *ids = malloc(N * sizeof(*ids));
	assert_non_null(ids);
	srand(42);
	for (int i = 0; i < N; i++) {
		uint64_t due = (uint64_t)(rand() % 100000);
		ids[i] = timerq_add(q, due, 0, OWNER_A, check_order, (void *)(uintptr_t)due);
		assert_true(ids[i] != 0);
	}
	size_t cancelled = 0;
	for (int i = 0; i < N; i++)
		if (rand() % 2)
			cancelled += timerq_cancel(q, ids[i], OWNER_A) == XS_OK;
	assert_int_equal(timerq_count(q), N - cancelled);
	last_due = 0;
	order_fired = 0;
	out_of_order = false;
	for (uint64_t t = 0; t <= 100000; t += 997)
		timerq_run(q, t, SIZE_MAX);
	timerq_run(q, 100000, SIZE_MAX);
	assert_false(out_of_order);
	assert_int_equal(order_fired, N - cancelled);
	assert_int_equal(timerq_count(q), 0);
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_owner_before, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_per_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

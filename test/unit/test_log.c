/* test_log.c — lines written at a bounded rate (lib/log.c log_limited). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xs.h"

static char path[] = "/tmp/xmppd-test-log-XXXXXX";

static int setup(void **state)
{
	(void)state;
	int fd = mkstemp(path);
	if (fd == -1)
		return -1;
	close(fd);
	log_set_level(LOG_LVL_INFO);
	return log_open(LOG_TO_FILE, path) == XS_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	log_open(LOG_TO_STDERR, NULL);
	unlink(path);
	return 0;
}

/* Lines of the log file that contain `what`. */
static int count(const char *what)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[4096];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

static void test_burst_then_count(void **state)
{
	(void)state;
	static struct log_limit l = { .what = "test refusals" };
	for (int i = 0; i < 25; i++)
		log_limited(&l, LOG_LVL_INFO, "refused number %d", i);
	assert_int_equal(count("refused number"), LOG_LIMIT_BURST);
	assert_int_equal(count("more not logged"), 0);
	/* Within the window a flush writes nothing. */
	log_limit_flush(&l);
	assert_int_equal(count("more not logged"), 0);
	/* The window is over (moved back instead of waiting a minute). */
	l.window -= LOG_LIMIT_WINDOW;
	log_limit_flush(&l);
	assert_int_equal(count("test refusals: 15 more not logged"), 1);
	log_limit_flush(&l);
	assert_int_equal(count("more not logged"), 1);
	/* A new window writes again, up to the burst. */
	for (int i = 0; i < 3; i++)
		log_limited(&l, LOG_LVL_INFO, "refused again %d", i);
	assert_int_equal(count("refused again"), 3);
}

static void test_count_with_next_line(void **state)
{
	(void)state;
	static struct log_limit l = { .what = "other refusals" };
	for (int i = 0; i < LOG_LIMIT_BURST + 4; i++)
		log_limited(&l, LOG_LVL_WARNING, "other %d", i);
	l.window -= LOG_LIMIT_WINDOW;
	log_limited(&l, LOG_LVL_WARNING, "other late");
	assert_int_equal(count("other refusals: 4 more not logged"), 1);
	assert_int_equal(count("other late"), 1);
}

static void test_below_level_not_counted(void **state)
{
	(void)state;
	static struct log_limit l = { .what = "debug chatter" };
	for (int i = 0; i < 50; i++)
		log_limited(&l, LOG_LVL_DEBUG, "chatter %d", i);
	l.window -= LOG_LIMIT_WINDOW;
	log_limit_flush(&l);
	assert_int_equal(count("chatter"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_count),
		cmocka_unit_test(test_count_with_next_line),
		cmocka_unit_test(test_below_level_not_counted),
	};
	return cmocka_run_group_tests_name("log", tests, setup, teardown);
}

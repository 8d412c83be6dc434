/* test_cfgopt.c — option tables (lib/cfgopt.h): defaults applied, values of
 * each type, ranges, unknown keys and wrong types refused with file, line,
 * column and key, rules between options, and the reload of restart-only
 * options.  The maps come from a real file, as a module's options do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/cfg.h"
#include "lib/cfgopt.h"
#include "lib/xs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct opts {
	uint32_t count;
	uint64_t bytes;
	bool on;
	char *name;
	uint8_t mode;
	unsigned matches;
};

static const char *const MODES[] = { "fast", "safe", NULL };

static const struct cfgopt OPTS[] = {
	CFGOPT_UINT("count", struct opts, count, 10, 1, 100),
	CFGOPT_UINT("bytes", struct opts, bytes, 4096, 1024, 1ull << 40),
	CFGOPT_BOOL("on", struct opts, on, true),
	CFGOPT_STRING("name", struct opts, name, "dflt", .restart = true),
	CFGOPT_ENUM("mode", struct opts, mode, 1, MODES),
	CFGOPT_UINT("matches", struct opts, matches, 30, 1, 500, .max_word = "infinity"),
	CFGOPT_END
};

#define CAP_MAX 16

struct cap {
	char *msg[CAP_MAX];
	size_t n;
};

static void cap_fn(void *arg, const char *line)
{
	struct cap *c = arg;
	if (c->n < CAP_MAX)
		c->msg[c->n++] = strdup(line);
}

static void cap_free(struct cap *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->msg[i]);
	c->n = 0;
}

/* A config whose module 'm' has the options `yaml` (a flow map, on line 4). */
static struct cfg loaded;
static char path[] = "/tmp/xmppd-test-cfgopt-XXXXXX";

static const struct cfg_node *options(const char *yaml)
{
	cfg_free(&loaded);
	strcpy(path, "/tmp/xmppd-test-cfgopt-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	char text[1024];
	int len = snprintf(text, sizeof(text), "hosts: [localhost]\nlisten: [{port: 5222, module: "
	                   "c2s}]\nmodules:\n  m: %s\n", yaml);
	assert_int_equal(write(fd, text, (size_t)len), len);
	close(fd);
	int rc = cfg_load(path, &loaded, NULL, NULL);
	unlink(path);
	assert_int_equal(rc, XS_OK);
	assert_int_equal(loaded.nmodules, 1);
	return &loaded.modules[0].opts;
}

static int parse(const char *yaml, struct opts *o, struct cap *cap)
{
	struct cfgopt_run run = { .opts = OPTS, .map = options(yaml), .file = "f.yml",
	                          .owner = "m", .err = cap_fn, .arg = cap };
	memset(o, 0x5a, sizeof(*o));
	o->name = NULL;
	return cfgopt_parse(&run, o);
}

static void test_defaults(void **state)
{
	(void)state;
	struct opts o;
	struct cap cap = { .n = 0 };
	assert_int_equal(parse("", &o, &cap), XS_OK);
	assert_int_equal(cap.n, 0);
	assert_int_equal(o.count, 10);
	assert_int_equal(o.bytes, 4096);
	assert_true(o.on);
	assert_string_equal(o.name, "dflt");
	assert_int_equal(o.mode, 1);
	assert_int_equal(o.matches, 30);
	cfgopt_free(OPTS, &o);
	assert_null(o.name);
}

static void test_values(void **state)
{
	(void)state;
	struct opts o;
	struct cap cap = { .n = 0 };
	assert_int_equal(parse("{count: 100, bytes: 1099511627776, on: false, name: x, mode: fast, "
	                       "matches: infinity}", &o, &cap), XS_OK);
	assert_int_equal(o.count, 100);
	assert_int_equal(o.bytes, 1ull << 40);
	assert_false(o.on);
	assert_string_equal(o.name, "x");
	assert_int_equal(o.mode, 0);
	assert_int_equal(o.matches, 500);
	cfgopt_free(OPTS, &o);
	/* As strtoul reads them: a '+', leading zeros. */
	assert_int_equal(parse("{count: +7, matches: 007}", &o, &cap), XS_OK);
	assert_int_equal(o.count, 7);
	assert_int_equal(o.matches, 7);
	cfgopt_free(OPTS, &o);
}

static void test_errors(void **state)
{
	(void)state;
	struct opts o;
	struct cap cap = { .n = 0 };
	assert_int_equal(parse("{count: 0, bogus: 1, on: yes, bytes: [1], name: '', mode: slow, "
	                       "matches: -1}", &o, &cap), XS_ERROR);
	static const char *const want[] = {
		"f.yml:4:14: module 'm': option 'count': expected a number from 1 to 100",
		"f.yml:4:17: module 'm': unknown option 'bogus' (known: count, bytes, on, name, mode, "
		"matches)",
		"f.yml:4:31: module 'm': option 'on': expected true or false",
		"f.yml:4:43: module 'm': option 'bytes': expected a number from 1024 to 1099511627776",
		"f.yml:4:54: module 'm': option 'name': expected a non-empty text",
		"f.yml:4:64: module 'm': option 'mode': expected one of fast, safe",
		"f.yml:4:79: module 'm': option 'matches': expected a number from 1 to 500 or infinity",
	};
	assert_int_equal(cap.n, XS_ARRAY_LEN(want));
	for (size_t i = 0; i < cap.n; i++)
		assert_string_equal(cap.msg[i], want[i]);
	assert_null(o.name); /* freed on failure */
	cap_free(&cap);
}

static void test_no_options(void **state)
{
	(void)state;
	char one;
	struct cap cap = { .n = 0 };
	struct cfgopt_run run = { .opts = NULL, .map = options("{verbose: true}"), .file = "f.yml",
	                          .owner = "ping", .err = cap_fn, .arg = &cap };
	assert_int_equal(cfgopt_parse(&run, &one), XS_ERROR);
	assert_int_equal(cap.n, 1);
	assert_string_equal(cap.msg[0], "f.yml:4:7: module 'ping': unknown option 'verbose' (it has "
	                    "none)");
	cap_free(&cap);
	run.map = options("");
	assert_int_equal(cfgopt_parse(&run, &one), XS_OK);
}

static void test_given_and_error(void **state)
{
	(void)state;
	struct opts o;
	struct cap cap = { .n = 0 };
	struct cfgopt_run run = { .opts = OPTS, .map = options("{count: 5}"), .file = "f.yml",
	                          .owner = "m", .err = cap_fn, .arg = &cap };
	assert_int_equal(cfgopt_parse(&run, &o), XS_OK);
	assert_true(cfgopt_given(&run, "count"));
	assert_false(cfgopt_given(&run, "bytes"));
	cfgopt_error(&run, "count", "%d is odd", 5);
	cfgopt_error(&run, "bytes", "too small");
	assert_int_equal(cap.n, 2);
	assert_string_equal(cap.msg[0], "f.yml:4:14: module 'm': option 'count': 5 is odd");
	assert_string_equal(cap.msg[1], "f.yml:4:6: module 'm': option 'bytes': too small");
	assert_int_equal(run.errors, 2);
	cfgopt_free(OPTS, &o);
	cap_free(&cap);
}

/* Restart-only options keep the running value; the others change. */
static void test_keep_running(void **state)
{
	(void)state;
	struct opts run, n;
	struct cap cap = { .n = 0 };
	assert_int_equal(parse("{name: old, count: 1}", &run, &cap), XS_OK);
	assert_int_equal(parse("{name: new, count: 2}", &n, &cap), XS_OK);
	assert_int_equal(cfgopt_keep_running(OPTS, &n, &run, "m"), 1);
	assert_string_equal(n.name, "old");
	assert_string_equal(run.name, "new");
	assert_int_equal(n.count, 2);
	cfgopt_free(OPTS, &n);
	cfgopt_free(OPTS, &run);
}

static int teardown(void **state)
{
	(void)state;
	cfg_free(&loaded);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_no_options),
		cmocka_unit_test(test_given_and_error),
		cmocka_unit_test(test_keep_running),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}

/* test_cfg_settings.c — the table of settings (lib/cfg_settings.h): every
 * entry is well formed, its default is what a minimal file loads, its range
 * is what the loader enforces, and its reload class is what cfg_keep_running
 * does with a change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/cfg.h"
#include "lib/cfg_settings.h"
#include "lib/xs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MINIMAL "hosts: [localhost]\nlisten: [{port: 5222, module: c2s}]\n"
/* Room in the ring for the largest max_stanza_size. */
#define BIG_RING "ring_size: 1073741824\n"

struct cap {
	char last[1024];
	size_t n;
};

static void cap_fn(void *arg, const char *line)
{
	struct cap *c = arg;
	snprintf(c->last, sizeof(c->last), "%s", line);
	c->n++;
}

/* Loads text; XS_OK or XS_ERROR, the last message in cap. */
static int load(const char *text, struct cfg *c, struct cap *cap)
{
	char path[] = "/tmp/xmppd-test-settings-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	*cap = (struct cap){ .n = 0 };
	int rc = cfg_load(path, c, cap_fn, cap);
	unlink(path);
	return rc;
}

static uint64_t uint_of(const struct cfg *c, const struct cfg_setting *s)
{
	const char *p = (const char *)c + s->off;
	switch (s->size) {
	case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
	case 8: { uint64_t v; memcpy(&v, p, 8); return v; }
	default: return (uint8_t)*p;
	}
}

static void test_table_well_formed(void **state)
{
	(void)state;
	size_t n;
	const struct cfg_setting *t = cfg_settings(&n);
	assert_true(n >= 20);
	for (size_t i = 0; i < n; i++) {
		/* Declared once: a name never comes back. */
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(t[i].name, t[j].name);
		assert_ptr_equal(cfg_setting(t[i].name), &t[i]);
		switch (t[i].type) {
		case CFG_T_UINT:
			assert_true(t[i].size == 4 || t[i].size == 8);
			assert_true(t[i].min <= t[i].def || t[i].dflt);
			assert_true(t[i].def <= t[i].max);
			break;
		case CFG_T_SECTION:
			assert_non_null(t[i].parse);
			if (t[i].reload == CFG_RESTART)
				assert_true(t[i].same && t[i].swap);
			break;
		case CFG_T_MAP:
			assert_non_null(t[i].sub);
			for (size_t k = 0; k < t[i].nsub; k++) {
				char name[128];
				snprintf(name, sizeof(name), "%s.%s", t[i].name, t[i].sub[k].name);
				assert_ptr_equal(cfg_setting(name), &t[i].sub[k]);
			}
			break;
		default:
			break;
		}
	}
	assert_null(cfg_setting("nosuch"));
	assert_null(cfg_setting("limits.nosuch"));
	assert_null(cfg_setting("hosts.x"));
}

/* What the reload does with each setting is part of the contract. */
static void test_reload_classes(void **state)
{
	(void)state;
	static const char *const restart[] = { "hosts", "workers", "data_dir", "run_dir",
		"control_socket", "modules_dir", "max_stanza_size", "ring_size", "modules", "user",
		"group" };
	static const char *const live[] = { "loglevel", "scram_iterations", "listen", "certfiles",
		"tls_priority", "host_config", "limits", "registration", "log", "trace" };
	for (size_t i = 0; i < XS_ARRAY_LEN(restart); i++)
		assert_int_equal(cfg_setting(restart[i])->reload, CFG_RESTART);
	for (size_t i = 0; i < XS_ARRAY_LEN(live); i++)
		assert_int_equal(cfg_setting(live[i])->reload, CFG_LIVE);
	assert_int_equal(cfg_setting("pidfile")->reload, CFG_STARTUP);
	assert_int_equal(cfg_setting("limits.auth_timeout")->reload, CFG_LIVE);
	assert_true(cfg_setting("hosts")->required && cfg_setting("listen")->required);
}

/* The table's defaults are what a file without the key gets. */
static void test_defaults_from_table(void **state)
{
	(void)state;
	struct cfg c;
	struct cap cap;
	assert_int_equal(load(MINIMAL, &c, &cap), XS_OK);
	size_t n;
	const struct cfg_setting *t = cfg_settings(&n);
	for (size_t i = 0; i < n; i++) {
		if (t[i].type == CFG_T_UINT && !t[i].dflt)
			assert_int_equal(uint_of(&c, &t[i]), t[i].def);
		if (t[i].type == CFG_T_STR && t[i].def_str)
			assert_string_equal(*(char **)((char *)&c + t[i].off), t[i].def_str);
		if (t[i].type == CFG_T_MAP)
			for (size_t k = 0; k < t[i].nsub; k++)
				assert_int_equal(uint_of(&c, &t[i].sub[k]), t[i].sub[k].def);
	}
	assert_int_equal(c.loglevel, LOG_LVL_INFO);
	assert_int_equal(c.max_stanza_size, 262144);
	assert_int_equal(c.limits.registration_rate_per_ip, 5);
	assert_string_equal(c.control_socket, "./var/run/xmppd.ctl");
	assert_true(c.workers >= 1);
	cfg_free(&c);
}

/* A file setting key (a top-level name or "map.name") to v. */
static void range_text(char *text, size_t cap, const char *key, uint64_t v)
{
	const char *dot = strchr(key, '.');
	if (dot)
		snprintf(text, cap, MINIMAL BIG_RING "%.*s: {%s: %llu}\n", (int)(dot - key), key,
		         dot + 1, (unsigned long long)v);
	else
		snprintf(text, cap, MINIMAL BIG_RING "%s: %llu\n", key, (unsigned long long)v);
}

/* For every plain number: its bounds load, one past them is refused naming
 * the key and the range. */
static void check_range(const char *key, const struct cfg_setting *s)
{
	char text[512], want[256];
	struct cfg c;
	struct cap cap;
	uint64_t ok[2] = { s->min, s->max };
	for (int i = 0; i < 2; i++) {
		range_text(text, sizeof(text), key, ok[i]);
		int rc = load(text, &c, &cap);
		if (rc != XS_OK)
			print_error("%s: %s\n", key, cap.last);
		assert_int_equal(rc, XS_OK);
		assert_int_equal(uint_of(&c, s), ok[i]);
		cfg_free(&c);
	}
	range_text(text, sizeof(text), key, s->max + 1);
	assert_int_equal(load(text, &c, &cap), XS_ERROR);
	snprintf(want, sizeof(want), "key '%s': must be between %llu and %llu", key,
	         (unsigned long long)s->min, (unsigned long long)s->max);
	assert_non_null(strstr(cap.last, want));
}

static void test_ranges(void **state)
{
	(void)state;
	size_t n;
	const struct cfg_setting *t = cfg_settings(&n);
	for (size_t i = 0; i < n; i++) {
		if (t[i].type == CFG_T_UINT && !t[i].parse)
			check_range(t[i].name, &t[i]);
		for (size_t k = 0; t[i].type == CFG_T_MAP && k < t[i].nsub; k++) {
			char key[128];
			snprintf(key, sizeof(key), "%s.%s", t[i].name, t[i].sub[k].name);
			check_range(key, &t[i].sub[k]);
		}
	}
}

static void test_types(void **state)
{
	(void)state;
	struct cfg c;
	struct cap cap;
	assert_int_equal(load(MINIMAL "scram_iterations: [1]\n", &c, &cap), XS_ERROR);
	assert_non_null(strstr(cap.last,
	                       ":3:19: key 'scram_iterations': expected a number, found a list"));
	assert_int_equal(load(MINIMAL "data_dir: {a: b}\n", &c, &cap), XS_ERROR);
	assert_non_null(strstr(cap.last, ":3:11: key 'data_dir': expected a path, found a map"));
	assert_int_equal(load(MINIMAL "limits: [1]\n", &c, &cap), XS_ERROR);
	assert_non_null(strstr(cap.last,
	                       ":3:9: key 'limits': expected a map of limits, found a list"));
	assert_int_equal(load(MINIMAL "registration: maybe\n", &c, &cap), XS_ERROR);
	assert_non_null(strstr(cap.last, "key 'registration': expected open or closed, found 'maybe'"));
}

/* A reload keeps what needs a restart (counted), takes what is live, and
 * keeps the pidfile silently. */
static void test_keep_running(void **state)
{
	(void)state;
	struct cfg run, n;
	struct cap cap;
	assert_int_equal(load(MINIMAL "workers: 2\ndata_dir: ./a\npidfile: ./p1\nloglevel: info\n"
	                      "limits: {auth_timeout: 10}\n", &run, &cap), XS_OK);
	assert_int_equal(load("hosts: [localhost, other.test]\nlisten: [{port: 5222, module: c2s}]\n"
	                      "workers: 3\ndata_dir: ./b\npidfile: ./p2\nloglevel: debug\n"
	                      "limits: {auth_timeout: 20}\n", &n, &cap), XS_OK);
	assert_false(cfg_setting_same(cfg_setting("limits"), &n, &run));
	assert_int_equal(cfg_keep_running(&n, &run, false), 3); /* hosts, workers, data_dir */
	assert_int_equal(n.workers, 2);
	assert_string_equal(n.data_dir, "./a");
	assert_string_equal(run.data_dir, "./b"); /* swapped: each stays freeable */
	assert_int_equal(n.nhosts, 1);
	assert_string_equal(n.pidfile, "./p1");
	assert_int_equal(n.loglevel, LOG_LVL_DEBUG);
	assert_int_equal(n.limits.auth_timeout, 20);
	assert_int_equal(n.max_encoded, run.max_encoded);
	cfg_free(&n);
	cfg_free(&run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_well_formed),
		cmocka_unit_test(test_reload_classes),
		cmocka_unit_test(test_defaults_from_table),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_keep_running),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

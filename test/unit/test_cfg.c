/* test_cfg.c — the configuration loader: values, defaults, and the exact
 * position and key of every error message.  Run from the repository root
 * (the default config is read as etc/xmppd.yml). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/cfg.h"
#include "lib/xs.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------------- */

#define CAP_MAX 64

struct cap {
	char *msg[CAP_MAX];
	size_t n;
};

static void cap_fn(void *arg, const char *line)
{
	struct cap *c = arg;
	if (c->n < CAP_MAX)
		c->msg[c->n] = strdup(line);
	c->n++;
}

static void cap_free(struct cap *c)
{
	for (size_t i = 0; i < c->n && i < CAP_MAX; i++)
		free(c->msg[i]);
	c->n = 0;
}

/* Writes len bytes to a fresh file under /tmp; returns its malloc'd name. */
static char *write_tmp_len(const char *text, size_t len)
{
	char *path = strdup("/tmp/xmppd-test-cfg-XXXXXX");
	assert_non_null(path);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	close(fd);
	return path;
}

static char *write_tmp(const char *text)
{
	return write_tmp_len(text, strlen(text));
}

static void drop_tmp(char *path)
{
	unlink(path);
	free(path);
}

/* Loads `yaml`; expects success and no message. */
static void load_ok(const char *yaml, struct cfg *c)
{
	char *path = write_tmp(yaml);
	struct cap cap = { 0 };
	int rc = cfg_load(path, c, cap_fn, &cap);
	unlink(path); /* before any assertion can leave it behind */
	for (size_t i = 0; i < cap.n && i < CAP_MAX; i++)
		print_error("unexpected: %s\n", cap.msg[i]);
	size_t nmsg = cap.n;
	cap_free(&cap);
	assert_int_equal(rc, XS_OK);
	assert_int_equal(nmsg, 0);
	assert_string_equal(c->path, path);
	free(path);
}

/* Loads `yaml`; expects failure with exactly the messages `want`, each given
 * without the leading "FILE:" (the temporary name is not known in advance),
 * and *out left as it was. */
static void expect_errors_(const char *yaml, size_t len, const char *const *want, size_t nwant)
{
	char *path = write_tmp_len(yaml, len);
	struct cap cap = { 0 };
	struct cfg c, pristine;
	memset(&c, 0xa5, sizeof(c));
	memcpy(&pristine, &c, sizeof(c));
	int rc = cfg_load(path, &c, cap_fn, &cap);
	assert_int_equal(rc, XS_ERROR);
	assert_memory_equal(&c, &pristine, sizeof(c));
	bool same = cap.n == nwant;
	for (size_t i = 0; same && i < nwant; i++) {
		char full[2048];
		snprintf(full, sizeof(full), "%s:%s", path, want[i]);
		same = strcmp(cap.msg[i], full) == 0;
	}
	if (!same) {
		for (size_t i = 0; i < nwant; i++)
			print_error("want: %s:%s\n", path, want[i]);
		for (size_t i = 0; i < cap.n && i < CAP_MAX; i++)
			print_error("got:  %s\n", cap.msg[i]);
	}
	cap_free(&cap);
	drop_tmp(path);
	assert_true(same);
}

#define EXPECT_ERRORS_LEN(yaml, len, ...)                                       \
	do {                                                                    \
		static const char *const want_[] = { __VA_ARGS__ };             \
		expect_errors_((yaml), (len), want_, XS_ARRAY_LEN(want_));      \
	} while (0)
#define EXPECT_ERRORS(yaml, ...) EXPECT_ERRORS_LEN(yaml, strlen(yaml), __VA_ARGS__)

/* The smallest valid configuration, to which a test appends its keys. */
#define MINIMAL "hosts: [localhost]\nlisten: [{port: 5222, module: c2s}]\n"

static unsigned expected_auto_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

/* ---- loading valid files --------------------------------------------------- */

static void test_default_file(void **state)
{
	(void)state;
	struct cfg c;
	struct cap cap = { 0 };
	assert_int_equal(cfg_load("etc/xmppd.yml", &c, cap_fn, &cap), XS_OK);
	assert_int_equal(cap.n, 0);
	assert_string_equal(c.path, "etc/xmppd.yml");
	assert_int_equal(c.nhosts, 1);
	assert_string_equal(c.hosts[0], "localhost");
	assert_int_equal(c.loglevel, LOG_LVL_INFO);
	assert_int_equal(c.workers, 2);
	assert_string_equal(c.data_dir, "./var/data");
	assert_string_equal(c.run_dir, "./var/run");
	assert_string_equal(c.control_socket, "./var/run/xmppd.ctl");
	assert_int_equal(c.nlisten, 2);
	assert_int_equal(c.listen[0].port, 5222);
	assert_string_equal(c.listen[0].ip, "127.0.0.1");
	assert_int_equal(c.listen[0].module, CFG_LISTEN_C2S);
	assert_int_equal(c.listen[0].starttls, CFG_STARTTLS_REQUIRED);
	assert_true(c.listen[0].allow_plaintext_auth);
	assert_int_equal(c.listen[1].port, 5223);
	assert_true(c.listen[1].tls);
	assert_int_equal(c.ncertfiles, 1);
	assert_string_equal(c.certfiles[0], "./var/cert/localhost.pem");
	/* The instant-messaging server of etc/xmppd.yml.dist, registration open. */
	static const char *const im[] = { "roster", "offline", "carbons", "blocking", "private",
		                          "vcard", "register", "last", "disco", "ping", "time",
		                          "version" };
	assert_int_equal(c.nmodules, sizeof(im) / sizeof(im[0]));
	for (size_t i = 0; i < c.nmodules; i++) {
		assert_string_equal(c.modules[i].name, im[i]);
		assert_int_equal(c.modules[i].opts.kind, CFG_MAP);
		assert_int_equal(c.modules[i].opts.nchildren, 0);
	}
	assert_true(cfg_registration_open(&c, "localhost"));
	cfg_free(&c);
}

static void test_defaults(void **state)
{
	(void)state;
	struct cfg c;
	load_ok(MINIMAL, &c);
	assert_int_equal(c.loglevel, LOG_LVL_INFO);
	assert_int_equal(c.workers, expected_auto_workers());
	assert_string_equal(c.data_dir, "./var/data");
	assert_string_equal(c.run_dir, "./var/run");
	assert_string_equal(c.control_socket, "./var/run/xmppd.ctl");
	assert_int_equal(c.max_stanza_size, 262144);
	assert_int_equal(c.scram_iterations, 4096);
	assert_int_equal(c.ring_size, 4194304);
	assert_int_equal(c.nlisten, 1);
	assert_string_equal(c.listen[0].ip, "0.0.0.0");
	assert_int_equal(c.listen[0].line, 2);
	assert_int_equal(c.nmodules, 0);

	char exe[PATH_MAX], want[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(want, sizeof(want), "%s/modules", exe);
	assert_string_equal(c.modules_dir, want);
	cfg_free(&c);
}

static void test_workers_auto(void **state)
{
	(void)state;
	struct cfg c;
	load_ok(MINIMAL "workers: auto\n", &c);
	assert_int_equal(c.workers, expected_auto_workers());
	cfg_free(&c);
}

static void test_all_keys(void **state)
{
	(void)state;
	struct cfg c;
	load_ok("hosts:\n"
	        "  - LocalHost\n"
	        "  - Example.ORG.\n"
	        "  - xn--bcher-kva.example\n"
	        "loglevel: debug\n"
	        "workers: 7\n"
	        "data_dir: /srv/xmpp/data\n"
	        "run_dir: /run/xmppd/\n"
	        "modules_dir: /usr/lib/xmppd/modules\n"
	        "max_stanza_size: 65536\n"
	        "scram_iterations: 10000\n"
	        "ring_size: 1048576\n"
	        "listen:\n"
	        "  - {port: 5222, ip: \"::1\", module: c2s}\n"
	        "  - port: \"5223\"\n"
	        "    ip: 192.0.2.1\n"
	        "    module: c2s\n"
	        "modules:\n",
	        &c);
	assert_int_equal(c.nhosts, 3);
	assert_string_equal(c.hosts[0], "localhost");
	assert_string_equal(c.hosts[1], "example.org");
	assert_string_equal(c.hosts[2], "xn--bcher-kva.example");
	assert_int_equal(c.loglevel, LOG_LVL_DEBUG);
	assert_int_equal(c.workers, 7);
	assert_string_equal(c.data_dir, "/srv/xmpp/data");
	assert_string_equal(c.run_dir, "/run/xmppd/");
	assert_string_equal(c.control_socket, "/run/xmppd/xmppd.ctl");
	assert_string_equal(c.modules_dir, "/usr/lib/xmppd/modules");
	assert_int_equal(c.max_stanza_size, 65536);
	assert_int_equal(c.scram_iterations, 10000);
	assert_int_equal(c.ring_size, 1048576);
	assert_int_equal(c.nlisten, 2);
	assert_string_equal(c.listen[0].ip, "::1");
	assert_int_equal(c.listen[0].port, 5222);
	assert_int_equal(c.listen[0].line, 14);
	assert_string_equal(c.listen[1].ip, "192.0.2.1");
	assert_int_equal(c.listen[1].port, 5223);
	assert_int_equal(c.listen[1].line, 15);
	assert_int_equal(c.nmodules, 0);
	assert_true(cfg_has_host(&c, "example.org"));
	assert_true(cfg_has_host(&c, "localhost"));
	assert_false(cfg_has_host(&c, "Example.org"));
	assert_false(cfg_has_host(&c, "other.example"));
	cfg_free(&c);

	load_ok(MINIMAL "control_socket: /tmp/ctl.sock\nrun_dir: /x\n", &c);
	assert_string_equal(c.control_socket, "/tmp/ctl.sock");
	cfg_free(&c);
}

static void test_bounds_accepted(void **state)
{
	(void)state;
	struct cfg c;
	load_ok("hosts: [a]\n"
	        "listen: [{port: 1, module: c2s}, {port: 65535, module: c2s}]\n"
	        "workers: 64\n"
	        "max_stanza_size: 16777216\n"
	        "scram_iterations: 1000000\n"
	        "ring_size: 1073741824\n",
	        &c);
	assert_int_equal(c.listen[0].port, 1);
	assert_int_equal(c.listen[1].port, 65535);
	assert_int_equal(c.workers, 64);
	assert_int_equal(c.max_stanza_size, 16777216);
	assert_int_equal(c.scram_iterations, 1000000);
	assert_int_equal(c.ring_size, 1073741824);
	cfg_free(&c);

	load_ok(MINIMAL "workers: 1\nmax_stanza_size: 1024\nscram_iterations: 4096\n"
	        "ring_size: 65536\n", &c);
	assert_int_equal(c.workers, 1);
	assert_int_equal(c.max_stanza_size, 1024);
	assert_int_equal(c.ring_size, 65536);
	cfg_free(&c);
}

static void test_module_options_tree(void **state)
{
	(void)state;
	struct cfg c;
	load_ok(MINIMAL
	        "modules: {foo: {a: 1, b: [x, y]}}\n"   /* line 3 */
	        "modules_dir: ./m\n",
	        &c);
	assert_int_equal(c.nmodules, 1);
	const struct cfg_module *m = &c.modules[0];
	assert_string_equal(m->name, "foo");
	assert_int_equal(m->line, 3);
	assert_int_equal(m->opts.kind, CFG_MAP);
	assert_int_equal(m->opts.line, 3);
	assert_int_equal(m->opts.col, 16);
	assert_int_equal(m->opts.nchildren, 2);

	const struct cfg_node *a = cfg_node_get(&m->opts, "a");
	assert_non_null(a);
	assert_int_equal(a->kind, CFG_SCALAR);
	assert_string_equal(a->value, "1");
	assert_string_equal(a->key, "a");
	assert_int_equal(a->line, 3);
	assert_int_equal(a->col, 20);
	assert_int_equal(a->key_line, 3);
	assert_int_equal(a->key_col, 17);

	const struct cfg_node *b = cfg_node_get(&m->opts, "b");
	assert_non_null(b);
	assert_int_equal(b->kind, CFG_SEQ);
	assert_int_equal(b->col, 26);
	assert_int_equal(b->nchildren, 2);
	assert_string_equal(b->children[0].value, "x");
	assert_null(b->children[0].key);
	assert_int_equal(b->children[0].col, 27);
	assert_string_equal(b->children[1].value, "y");
	assert_int_equal(b->children[1].col, 30);

	assert_null(cfg_node_get(&m->opts, "c"));
	assert_null(cfg_node_get(b, "x")); /* not a map */
	assert_null(cfg_node_get(NULL, "a"));
	cfg_free(&c);

	/* Block style, a null value as an empty map, nested maps, nulls as "". */
	load_ok(MINIMAL
	        "modules:\n"             /* 3 */
	        "  ping:\n"              /* 4 */
	        "  disco: ~\n"           /* 5 */
	        "  muc_room:\n"          /* 6 */
	        "    limits:\n"          /* 7 */
	        "      users: 200\n"     /* 8 */
	        "      nick: \"\"\n"     /* 9 */
	        "    default: null\n",   /* 10 */
	        &c);
	assert_int_equal(c.nmodules, 3);
	assert_string_equal(c.modules[0].name, "ping");
	assert_int_equal(c.modules[0].line, 4);
	assert_int_equal(c.modules[0].opts.kind, CFG_MAP);
	assert_int_equal(c.modules[0].opts.nchildren, 0);
	assert_string_equal(c.modules[1].name, "disco");
	assert_int_equal(c.modules[1].opts.kind, CFG_MAP);
	assert_int_equal(c.modules[1].opts.nchildren, 0);
	const struct cfg_node *limits = cfg_node_get(&c.modules[2].opts, "limits");
	assert_non_null(limits);
	assert_int_equal(limits->kind, CFG_MAP);
	assert_int_equal(limits->line, 8);
	assert_int_equal(limits->key_line, 7);
	const struct cfg_node *users = cfg_node_get(limits, "users");
	assert_string_equal(users->value, "200");
	assert_int_equal(users->line, 8);
	assert_int_equal(users->col, 14);
	assert_string_equal(cfg_node_get(limits, "nick")->value, "");
	assert_string_equal(cfg_node_get(&c.modules[2].opts, "default")->value, "");
	cfg_free(&c);
}

static void test_cfg_free_twice(void **state)
{
	(void)state;
	struct cfg c = { 0 };
	cfg_free(&c); /* a zeroed config is fine to free */
	load_ok(MINIMAL, &c);
	cfg_free(&c);
	cfg_free(&c); /* cfg_free leaves it zeroed */
	cfg_free(NULL);
}

/* ---- errors, each with its exact position and key ---------------------------- */

static void test_unknown_key(void **state)
{
	(void)state;
	EXPECT_ERRORS(MINIMAL "foo: 1\n", "3:1: key 'foo': unknown key");
	EXPECT_ERRORS(MINIMAL "  # indented comment\nLogLevel: info\n",
	              "4:1: key 'LogLevel': unknown key");
}

static void test_wrong_type(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts: {a: b}\nlisten: [{port: 5222, module: c2s}]\n",
	              "1:8: key 'hosts': expected a list of host names, found a map");
	EXPECT_ERRORS("hosts: localhost\nlisten: [{port: 5222, module: c2s}]\n",
	              "1:8: key 'hosts': expected a list of host names, found a scalar");
	EXPECT_ERRORS("hosts: [localhost]\nlisten:\n  port: 5222\n  module: c2s\n",
	              "3:3: key 'listen': expected a list of listeners, found a map");
	EXPECT_ERRORS("hosts: [localhost]\nlisten: [5222]\n",
	              "2:10: key 'listen[0]': expected a map with port, ip and module, "
	              "found a scalar");
	EXPECT_ERRORS(MINIMAL "loglevel: [info]\n",
	              "3:11: key 'loglevel': expected a log level, found a list");
	EXPECT_ERRORS(MINIMAL "data_dir:\n",
	              "3:10: key 'data_dir': expected a path, found an empty value");
	EXPECT_ERRORS(MINIMAL "modules: [ping]\n",
	              "3:10: key 'modules': expected a map of module names to options, "
	              "found a list");
	EXPECT_ERRORS(MINIMAL "modules:\n  ping: yes\n",
	              "4:9: key 'modules.ping': expected a map of options, found a scalar");
	EXPECT_ERRORS("[a, b]\n",
	              "1:1: expected a map of settings at the top level, found a list");
	EXPECT_ERRORS(MINIMAL "hosts: [[a]]\n",
	              "3:1: key 'hosts': duplicate key (first at line 1, column 1)");
	EXPECT_ERRORS("hosts: [{a: b}]\nlisten: [{port: 5222, module: c2s}]\n",
	              "1:9: key 'hosts[0]': expected a host name, found a map");
}

static void test_bad_loglevel(void **state)
{
	(void)state;
	EXPECT_ERRORS(MINIMAL "loglevel: verbose\n",
	              "3:11: key 'loglevel': expected error, warning, info or debug, "
	              "found 'verbose'");
	EXPECT_ERRORS(MINIMAL "loglevel: INFO\n",
	              "3:11: key 'loglevel': expected error, warning, info or debug, "
	              "found 'INFO'");
}

static void test_port_out_of_range(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts: [localhost]\nlisten:\n  - port: 70000\n    module: c2s\n",
	              "3:11: key 'listen[0].port': must be between 1 and 65535");
	EXPECT_ERRORS("hosts: [localhost]\nlisten:\n  - {port: 0, module: c2s}\n",
	              "3:12: key 'listen[0].port': must be between 1 and 65535");
	EXPECT_ERRORS("hosts: [localhost]\nlisten:\n  - {port: 1, module: c2s}\n"
	              "  - {port: 65536, module: c2s}\n",
	              "4:12: key 'listen[1].port': must be between 1 and 65535");
}

static void test_missing_hosts(void **state)
{
	(void)state;
	EXPECT_ERRORS("listen: [{port: 5222, module: c2s}]\n",
	              "1:1: key 'hosts': required key is missing");
	EXPECT_ERRORS("\n\n  listen: [{port: 5222, module: c2s}]\n",
	              "3:3: key 'hosts': required key is missing");
	EXPECT_ERRORS("hosts: []\nlisten: [{port: 5222, module: c2s}]\n",
	              "1:8: key 'hosts': at least one host is required");
	EXPECT_ERRORS("hosts: [localhost]\nlisten: []\n",
	              "2:9: key 'listen': at least one listener is required");
	/* An empty file (or one with only comments) lacks both required keys. */
	EXPECT_ERRORS("", "1:1: key 'hosts': required key is missing",
	              "1:1: key 'listen': required key is missing");
	EXPECT_ERRORS("# nothing\n---\n", "1:1: key 'hosts': required key is missing",
	              "1:1: key 'listen': required key is missing");
}

static void test_bad_host_names(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts:\n  - localhost\n  - \"bad host\"\n"
	              "listen: [{port: 5222, module: c2s}]\n",
	              "3:5: key 'hosts[1]': bad host name 'bad host': only letters, digits, "
	              "hyphens and dots are allowed");
	EXPECT_ERRORS("hosts: [a..b, -a.org, a-.org, b\xc3\xa9.org, \"\", .]\n"
	              "listen: [{port: 5222, module: c2s}]\n",
	              "1:9: key 'hosts[0]': bad host name 'a..b': empty label",
	              "1:15: key 'hosts[1]': bad host name '-a.org': label starts or ends "
	              "with a hyphen",
	              "1:23: key 'hosts[2]': bad host name 'a-.org': label starts or ends "
	              "with a hyphen",
	              "1:31: key 'hosts[3]': bad host name 'b\xc3\xa9.org': only letters, "
	              "digits, hyphens and dots are allowed",
	              "1:39: key 'hosts[4]': expected a host name, found an empty value",
	              "1:43: key 'hosts[5]': bad host name '.': empty label");
	EXPECT_ERRORS("hosts: [Example.org, example.org.]\n"
	              "listen: [{port: 5222, module: c2s}]\n",
	              "1:22: key 'hosts[1]': duplicate host 'example.org'");

	/* 63 is the longest label, 253 the longest name. */
	char yaml[1024], label64[65];
	memset(label64, 'a', 64);
	label64[64] = '\0';
	snprintf(yaml, sizeof(yaml), "hosts: [%.63s.org]\n"
	         "listen: [{port: 5222, module: c2s}]\n", label64);
	struct cfg c;
	load_ok(yaml, &c);
	cfg_free(&c);
	snprintf(yaml, sizeof(yaml), "hosts: [%s.org]\nlisten: [{port: 5222, module: c2s}]\n",
	         label64);
	char want[256];
	snprintf(want, sizeof(want), "1:9: key 'hosts[0]': bad host name '%s': label longer "
	         "than 63 characters", label64);
	const char *const w1[] = { want };
	expect_errors_(yaml, strlen(yaml), w1, 1);

	char name[300];
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	snprintf(name, sizeof(name), "%.63s.%.63s.%.63s.%.61s", label64, label64, label64,
	         label64);
	assert_int_equal(strlen(name), 253);
	snprintf(yaml, sizeof(yaml), "hosts: [%s]\nlisten: [{port: 5222, module: c2s}]\n", name);
	load_ok(yaml, &c);
	assert_string_equal(c.hosts[0], name);
	cfg_free(&c);
	snprintf(yaml, sizeof(yaml), "hosts: [%sa]\nlisten: [{port: 5222, module: c2s}]\n",
	         name);
	snprintf(want, sizeof(want), "1:9: key 'hosts[0]': bad host name '%.64s': longer "
	         "than 253 characters", name);
	const char *const w2[] = { want };
	expect_errors_(yaml, strlen(yaml), w2, 1);
}

static void test_bad_ip(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts: [localhost]\nlisten:\n  - port: 5222\n    ip: 300.1.2.3\n"
	              "    module: c2s\n",
	              "4:9: key 'listen[0].ip': bad IP address '300.1.2.3'");
	EXPECT_ERRORS("hosts: [localhost]\n"
	              "listen:\n"
	              "  - {port: 5222, module: c2s, ip: localhost}\n"
	              "  - {port: 5222, module: c2s, ip: \"[::1]\"}\n"
	              "  - {port: 5222, module: c2s, ip: }\n",
	              "3:35: key 'listen[0].ip': bad IP address 'localhost'",
	              "4:35: key 'listen[1].ip': bad IP address '[::1]'",
	              "5:35: key 'listen[2].ip': expected an IP address, found an empty value");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts: [localhost]\nworkers: 2\nlisten: [{port: 5222, module: c2s}]\n"
	              "workers: 3\n",
	              "4:1: key 'workers': duplicate key (first at line 2, column 1)");
	EXPECT_ERRORS("hosts: [localhost]\nlisten: [{port: 5222, module: c2s, port: 5223}]\n",
	              "2:36: key 'listen[0].port': duplicate key (first at line 2, column 11)");
	EXPECT_ERRORS(MINIMAL "modules:\n  foo: {a: 1, a: 2}\n  foo: {}\n",
	              "4:15: key 'modules.foo.a': duplicate key (first at line 4, column 9)",
	              "5:3: key 'modules.foo': duplicate key (first at line 4, column 3)");
}

static void test_alias_anchor(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts: &h [localhost]\nlisten: [{port: 5222, module: c2s}]\n",
	              "1:8: key 'hosts': anchors and aliases are not allowed");
	EXPECT_ERRORS(MINIMAL "modules:\n  a: &o {x: 1}\n  b: *o\n",
	              "4:6: key 'modules.a': anchors and aliases are not allowed",
	              "5:6: key 'modules.b': anchors and aliases are not allowed");
	/* An alias leaves no cascade of "required key is missing". */
	EXPECT_ERRORS("x: &h [localhost]\nhosts: *h\nlisten: [{port: 5222, module: c2s}]\n",
	              "1:1: key 'x': unknown key",
	              "1:4: key 'x': anchors and aliases are not allowed",
	              "2:8: key 'hosts': anchors and aliases are not allowed");
	EXPECT_ERRORS(MINIMAL "&k workers: 2\n",
	              "3:1: key 'workers': anchors and aliases are not allowed");
	/* libyaml's parser does not resolve aliases, so even an undefined one
	 * reaches us; an alias as a key has no name to report. */
	EXPECT_ERRORS(MINIMAL "*k : 2\n", "3:1: anchors and aliases are not allowed");
	EXPECT_ERRORS("&r\n" MINIMAL, "1:1: anchors and aliases are not allowed");
}

static void test_syntax_error(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts: [localhost]\nlisten: [{port: 5222, module: c2s}\nworkers: 2\n",
	              "3:1: syntax error: did not find expected ',' or ']' (while parsing "
	              "a flow sequence at line 2, column 9)");
	EXPECT_ERRORS(MINIMAL "workers:\t2\n\tfoo: 1\n",
	              "4:1: syntax error: found a tab character that violates indentation "
	              "(while scanning a plain scalar at line 3, column 10)");
	EXPECT_ERRORS(MINIMAL "workers: 2\n  loglevel: info\n",
	              "4:11: syntax error: mapping values are not allowed in this context");
	/* The reader only reports a byte offset; it is turned into a position. */
	EXPECT_ERRORS(MINIMAL "modules: {x: \"ab\xff\"}\n",
	              "3:17: syntax error: invalid leading UTF-8 octet");
	/* Counted in characters like libyaml's marks: \xc3\xa9 is one column. */
	EXPECT_ERRORS(MINIMAL "modules: {x: \"\xc3\xa9\xff\"}\n",
	              "3:16: syntax error: invalid leading UTF-8 octet");
	/* Errors found before the syntax error are still reported. */
	EXPECT_ERRORS("hosts: &a [localhost]\n: :\n",
	              "1:8: key 'hosts': anchors and aliases are not allowed",
	              "2:1: syntax error: did not find expected key (while parsing a block "
	              "mapping at line 1, column 1)");
}

static void test_bad_ring_size(void **state)
{
	(void)state;
	EXPECT_ERRORS(MINIMAL "ring_size: 100000\n",
	              "3:12: key 'ring_size': must be a power of two between 65536 and "
	              "1073741824");
	EXPECT_ERRORS(MINIMAL "ring_size: 32768\n",
	              "3:12: key 'ring_size': must be a power of two between 65536 and "
	              "1073741824");
	EXPECT_ERRORS(MINIMAL "ring_size: 2147483648\n",
	              "3:12: key 'ring_size': must be a power of two between 65536 and "
	              "1073741824");
	EXPECT_ERRORS(MINIMAL "ring_size: 4M\n",
	              "3:12: key 'ring_size': must be a power of two between 65536 and "
	              "1073741824");
}

/* Keys of operations and the IM core: log, pidfile, user/group, trace,
 * registration (top level and per host), and the ring/stanza bound. */
static void test_operation_keys(void **state)
{
	(void)state;
	struct cfg c;
	load_ok(MINIMAL "log: ./x.log\npidfile: /run/x.pid\nuser: root\ngroup: root\n"
	                "trace: [Alice@LocalHost, bob@localhost]\nregistration: open\n"
	                "host_config: {localhost: {registration: closed}}\n", &c);
	assert_int_equal(c.log_target, LOG_TO_FILE);
	assert_string_equal(c.log_file, "./x.log");
	assert_string_equal(c.pidfile, "/run/x.pid");
	assert_string_equal(c.user, "root");
	assert_string_equal(c.group, "root");
	assert_int_equal(c.ntrace, 2);
	assert_string_equal(c.trace[0], "alice@localhost"); /* prepared */
	assert_true(c.registration_open);
	assert_false(cfg_registration_open(&c, "localhost"));
	assert_true(cfg_registration_open(&c, "elsewhere"));
	assert_int_equal(c.max_encoded, 4194304 / 4 - 256); /* the default ring bounds it */
	cfg_free(&c);
	load_ok(MINIMAL "log: syslog\n", &c);
	assert_int_equal(c.log_target, LOG_TO_SYSLOG);
	assert_false(cfg_registration_open(&c, "localhost"));
	cfg_free(&c);
	/* A small ring bounds encodings below 4 x max_stanza_size. */
	load_ok(MINIMAL "ring_size: 131072\nmax_stanza_size: 8192\n", &c);
	assert_int_equal(c.max_encoded, 131072 / 4 - 256);
	cfg_free(&c);
	EXPECT_ERRORS(MINIMAL "log: somewhere\n",
	              "3:6: key 'log': expected stderr, syslog or a path (starting with / or .), "
	              "found 'somewhere'");
	EXPECT_ERRORS(MINIMAL "user: no-such-user-xmppd\n",
	              "3:7: key 'user': no such user 'no-such-user-xmppd'");
	EXPECT_ERRORS(MINIMAL "trace: [localhost]\n",
	              "3:9: key 'trace[0]': 'localhost' is not a bare JID (user@host)");
	EXPECT_ERRORS(MINIMAL "registration: maybe\n",
	              "3:15: key 'registration': expected open or closed, found 'maybe'");
	EXPECT_ERRORS(MINIMAL "ring_size: 65536\n",
	              "1:1: key 'ring_size': 65536 bytes is too small for max_stanza_size 262144: a "
	              "ring record holds a quarter of the ring");
}

static void test_integers(void **state)
{
	(void)state;
	EXPECT_ERRORS(MINIMAL
	              "workers: -1\n"
	              "scram_iterations: \"+5000\"\n"
	              "max_stanza_size: 0x1000\n"
	              "ring_size: 1_048_576\n",
	              "3:10: key 'workers': expected a number or 'auto', found '-1'",
	              "4:19: key 'scram_iterations': expected a number, found '+5000'",
	              "5:18: key 'max_stanza_size': expected a number, found '0x1000'",
	              "6:12: key 'ring_size': must be a power of two between 65536 and "
	              "1073741824");
	EXPECT_ERRORS(MINIMAL
	              "workers: 010\n"
	              "scram_iterations: 99999999999999999999999\n"
	              "max_stanza_size: 18446744073709551616\n"
	              "ring_size: 18446744073709551615\n",
	              "3:10: key 'workers': leading zeros are not allowed in '010'",
	              "4:19: key 'scram_iterations': must be between 4096 and 1000000",
	              "5:18: key 'max_stanza_size': must be between 1024 and 16777216",
	              "6:12: key 'ring_size': must be a power of two between 65536 and "
	              "1073741824");
	EXPECT_ERRORS(MINIMAL "workers: 65\nmax_stanza_size: 1023\nscram_iterations: 4095\n",
	              "3:10: key 'workers': must be between 1 and 64",
	              "4:18: key 'max_stanza_size': must be between 1024 and 16777216",
	              "5:19: key 'scram_iterations': must be between 4096 and 1000000");
	EXPECT_ERRORS(MINIMAL "workers: 0\nmax_stanza_size: \" 2048\"\n",
	              "3:10: key 'workers': must be between 1 and 64",
	              "4:18: key 'max_stanza_size': expected a number, found ' 2048'");
}

static void test_listen_entries(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts: [localhost]\n"
	              "listen:\n"
	              "  - port: 5222\n"          /* 3 */
	              "    module: s2s\n"         /* 4 */
	              "    tls: maybe\n"          /* 5 */
	              "  - ip: 127.0.0.1\n"       /* 6 */
	              "  - {port: 5269, module: c2s}\n"
	              "  - {port: 5269, module: c2s}\n",
	              "4:13: key 'listen[0].module': unknown listener module 's2s' "
	              "(expected c2s)",
	              "5:10: key 'listen[0].tls': expected true or false, found 'maybe'",
	              "6:5: key 'listen[1].port': required key is missing",
	              "6:5: key 'listen[1].module': required key is missing",
	              "8:5: key 'listen[3]': same address and port as the listener at line 7");
}

/* TLS settings: per listener, certificates, priorities, per-host options. */
static void test_tls_keys(void **state)
{
	(void)state;
	struct cfg c;
	load_ok("hosts: [a.example, b.example]\n"
	        "certfiles: [/etc/x.pem, y.pem]\n"
	        "tls_priority: NORMAL\n"
	        "host_config: {b.example: {anonymous: true}, a.example: {anonymous: no}}\n"
	        "listen:\n"
	        "  - {port: 5222, module: c2s, starttls: optional, allow_plaintext_auth: yes}\n"
	        "  - {port: 5223, module: c2s, tls: true}\n"
	        "  - {port: 5224, module: c2s, starttls: off}\n", &c);
	assert_int_equal(c.ncertfiles, 2);
	assert_string_equal(c.certfiles[1], "y.pem");
	assert_string_equal(c.tls_priority, "NORMAL");
	assert_false(c.host_anonymous[0]);
	assert_true(c.host_anonymous[1]);
	assert_int_equal(c.listen[0].starttls, CFG_STARTTLS_OPTIONAL);
	assert_true(c.listen[0].allow_plaintext_auth);
	assert_false(c.listen[0].tls);
	assert_true(c.listen[1].tls);
	assert_int_equal(c.listen[1].starttls, CFG_STARTTLS_REQUIRED); /* the default */
	assert_false(c.listen[1].allow_plaintext_auth);
	assert_int_equal(c.listen[2].starttls, CFG_STARTTLS_OFF);
	cfg_free(&c);
	load_ok(MINIMAL, &c);
	assert_string_equal(c.tls_priority, CFG_DEFAULT_TLS_PRIORITY);
	assert_int_equal(c.ncertfiles, 0);
	cfg_free(&c);

	EXPECT_ERRORS("hosts: [localhost]\n"
	              "listen: [{port: 5222, module: c2s, starttls: sometimes}]\n"
	              "certfiles: x.pem\n"
	              "host_config: {other.example: {anonymous: true}, localhost: {guests: 1}}\n",
	              "2:46: key 'listen[0].starttls': expected required, optional or off, "
	              "found 'sometimes'",
	              "3:12: key 'certfiles': expected a list of PEM files, found a scalar",
	              "4:15: key 'host_config.other.example': not one of hosts",
	              "4:61: key 'host_config.localhost.guests': unknown key");
}

static void test_several_errors(void **state)
{
	(void)state;
	EXPECT_ERRORS("hosts: [localhost, \"a b\"]\n"  /* 1 */
	              "loglevel: loud\n"              /* 2 */
	              "workers: many\n"               /* 3 */
	              "bogus: 1\n"                    /* 4 */
	              "listen:\n"                     /* 5 */
	              "  - port: 99999\n"             /* 6 */
	              "    ip: 1.2.3\n"               /* 7 */
	              "    module: c2s\n"             /* 8 */
	              "modules:\n"                    /* 9 */
	              "  Bad-Name: {}\n"              /* 10 */
	              "  x: [1]\n"                    /* 11 */
	              "ring_size: 3\n",               /* 12 */
	              "1:20: key 'hosts[1]': bad host name 'a b': only letters, digits, "
	              "hyphens and dots are allowed",
	              "2:11: key 'loglevel': expected error, warning, info or debug, "
	              "found 'loud'",
	              "3:10: key 'workers': expected a number or 'auto', found 'many'",
	              "4:1: key 'bogus': unknown key",
	              "6:11: key 'listen[0].port': must be between 1 and 65535",
	              "7:9: key 'listen[0].ip': bad IP address '1.2.3'",
	              "10:3: key 'modules.Bad-Name': bad module name: only a-z, 0-9 and _ "
	              "are allowed",
	              "11:6: key 'modules.x': expected a map of options, found a list",
	              "12:12: key 'ring_size': must be a power of two between 65536 and "
	              "1073741824");
}

static void test_bad_module_names(void **state)
{
	(void)state;
	EXPECT_ERRORS(MINIMAL "modules:\n  ../evil: {}\n  mod-x: {}\n  \"\": {}\n  ok_1: {}\n",
	              "4:3: key 'modules.../evil': bad module name: only a-z, 0-9 and _ are "
	              "allowed",
	              "5:3: key 'modules.mod-x': bad module name: only a-z, 0-9 and _ are "
	              "allowed",
	              "6:3: key 'modules.': bad module name: only a-z, 0-9 and _ are allowed");
}

static void test_multiple_documents(void **state)
{
	(void)state;
	EXPECT_ERRORS(MINIMAL "---\nhosts: [b]\n", "3:1: only one YAML document is allowed");
	/* The first document is still checked. */
	EXPECT_ERRORS("hosts: [localhost]\n...\n---\nx: 1\n",
	              "1:1: key 'listen': required key is missing",
	              "3:1: only one YAML document is allowed");
}

static void test_depth_limit(void **state)
{
	(void)state;
	/* root map, modules, x: three levels; then n sequences. */
	char yaml[512], open[64], close[64];
	memset(open, '[', 29);
	open[29] = '\0';
	memset(close, ']', 29);
	close[29] = '\0';
	snprintf(yaml, sizeof(yaml), MINIMAL "modules:\n  x: {a: %s%s}\n", open, close);
	struct cfg c;
	load_ok(yaml, &c); /* exactly 32 levels */
	cfg_free(&c);
	snprintf(yaml, sizeof(yaml), MINIMAL "modules:\n  x: {a: [%s%s]}\n", open, close);
	EXPECT_ERRORS(yaml,
	              "4:39: key 'modules.x.a[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
	              "[0][0][0][0][0][0][0][0][0][0][0][0][0][0]': nested deeper than 32 "
	              "levels");
}

static void test_node_limit(void **state)
{
	(void)state;
	/* MINIMAL holds 11 nodes (the root map included); "modules", its map,
	 * "x", its map, "a" and the list make 17. */
	size_t items = 100000 - 17;
	size_t cap = 128 + 2 * (items + 1);
	char *yaml = malloc(cap);
	assert_non_null(yaml);
	size_t len = (size_t)snprintf(yaml, cap, MINIMAL "modules:\n  x: {a: [");
	for (size_t i = 0; i < items; i++) {
		yaml[len++] = '1';
		yaml[len++] = ',';
	}
	memcpy(yaml + len - 1, "]}\n", 4);
	struct cfg c;
	load_ok(yaml, &c);
	assert_int_equal(c.nmodules, 1);
	assert_int_equal(cfg_node_get(&c.modules[0].opts, "a")->nchildren, items);
	cfg_free(&c);
	free(yaml);
}

static void test_node_limit_exceeded(void **state)
{
	(void)state;
	size_t items = 100000 - 17 + 1; /* one too many */
	size_t cap = 128 + 2 * (items + 1);
	char *yaml = malloc(cap);
	assert_non_null(yaml);
	size_t len = (size_t)snprintf(yaml, cap, MINIMAL "modules:\n  x: {a: [");
	for (size_t i = 0; i < items; i++) {
		yaml[len++] = '1';
		yaml[len++] = ',';
	}
	memcpy(yaml + len - 1, "]}\n", 4);
	char want[64];
	/* The 100001st node is the last item: column 11 + 2 * (items - 1). */
	snprintf(want, sizeof(want), "4:%zu: more than 100000 nodes", 11 + 2 * (items - 1));
	const char *const w[] = { want };
	expect_errors_(yaml, strlen(yaml), w, 1);
	free(yaml);
}

static void test_file_size(void **state)
{
	(void)state;
	size_t max = 1u << 20;
	char *yaml = malloc(max + 2);
	assert_non_null(yaml);
	size_t len = (size_t)snprintf(yaml, max, MINIMAL "#");
	memset(yaml + len, 'x', max - len - 1);
	yaml[max - 1] = '\n';
	yaml[max] = '\0';
	char *path = write_tmp_len(yaml, max);
	struct cfg c;
	struct cap cap = { 0 };
	assert_int_equal(cfg_load(path, &c, cap_fn, &cap), XS_OK);
	cfg_free(&c);
	drop_tmp(path);

	yaml[max] = '\n';
	EXPECT_ERRORS_LEN(yaml, max + 1, " file is larger than 1048576 bytes");
	free(yaml);
}

static void test_nul_in_scalar(void **state)
{
	(void)state;
	EXPECT_ERRORS(MINIMAL "data_dir: \"a\\0b\"\n\"wor\\0kers\": 1\n",
	              "3:11: key 'data_dir': NUL characters are not allowed",
	              "4:1: key 'wor?kers': NUL characters are not allowed");
}

static void test_control_socket_too_long(void **state)
{
	(void)state;
	char dir[200], yaml[512], want[512];
	memset(dir, 'r', 100);
	dir[0] = '/';
	dir[100] = '\0';
	snprintf(yaml, sizeof(yaml), MINIMAL "run_dir: %s\n", dir);
	snprintf(want, sizeof(want), "3:10: key 'run_dir': control socket path '%s/xmppd.ctl' "
	         "is longer than 107 bytes", dir);
	const char *const w1[] = { want };
	expect_errors_(yaml, strlen(yaml), w1, 1);

	memset(dir, 's', 108);
	dir[0] = '/';
	dir[108] = '\0';
	snprintf(yaml, sizeof(yaml), MINIMAL "control_socket: %s\n", dir);
	snprintf(want, sizeof(want), "3:17: key 'control_socket': control socket path '%s' is "
	         "longer than 107 bytes", dir);
	const char *const w2[] = { want };
	expect_errors_(yaml, strlen(yaml), w2, 1);

	dir[107] = '\0'; /* 107 bytes and the NUL fit sun_path */
	snprintf(yaml, sizeof(yaml), MINIMAL "control_socket: %s\n", dir);
	struct cfg c;
	load_ok(yaml, &c);
	cfg_free(&c);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct cfg c;
	struct cap cap = { 0 };
	assert_int_equal(cfg_load("/nonexistent/xmppd.yml", &c, cap_fn, &cap), XS_ERROR);
	assert_int_equal(cap.n, 1);
	assert_string_equal(cap.msg[0],
	                    "/nonexistent/xmppd.yml: cannot open: No such file or directory");
	cap_free(&cap);

	assert_int_equal(cfg_load("/tmp", &c, cap_fn, &cap), XS_ERROR);
	assert_int_equal(cap.n, 1);
	assert_string_equal(cap.msg[0], "/tmp: cannot read: Is a directory");
	cap_free(&cap);
}

/* Without a callback the messages go to the log (stderr). */
static void test_errors_to_log(void **state)
{
	(void)state;
	char *path = write_tmp(MINIMAL "foo: 1\nbar: 2\n");
	char *logpath = write_tmp("");
	FILE *log = fopen(logpath, "w+");
	assert_non_null(log);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(log), STDERR_FILENO) >= 0);
	struct cfg c;
	int rc = cfg_load(path, &c, NULL, NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(rc, XS_ERROR);

	char text[4096];
	rewind(log);
	size_t n = fread(text, 1, sizeof(text) - 1, log);
	text[n] = '\0';
	fclose(log);
	char want1[512], want2[512];
	snprintf(want1, sizeof(want1), "%s:3:1: key 'foo': unknown key\n", path);
	snprintf(want2, sizeof(want2), "%s:4:1: key 'bar': unknown key\n", path);
	char *p1 = strstr(text, want1), *p2 = strstr(text, want2);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_true(p1 < p2);
	assert_non_null(strstr(text, " error "));
	drop_tmp(logpath);
	drop_tmp(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_operation_keys),
		cmocka_unit_test(test_workers_auto),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_bounds_accepted),
		cmocka_unit_test(test_module_options_tree),
		cmocka_unit_test(test_cfg_free_twice),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_bad_loglevel),
		cmocka_unit_test(test_port_out_of_range),
		cmocka_unit_test(test_missing_hosts),
		cmocka_unit_test(test_bad_host_names),
		cmocka_unit_test(test_bad_ip),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_alias_anchor),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_bad_ring_size),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_listen_entries),
		cmocka_unit_test(test_tls_keys),
		cmocka_unit_test(test_several_errors),
		cmocka_unit_test(test_bad_module_names),
		cmocka_unit_test(test_multiple_documents),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_node_limit_exceeded),
		cmocka_unit_test(test_file_size),
		cmocka_unit_test(test_nul_in_scalar),
		cmocka_unit_test(test_control_socket_too_long),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_errors_to_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* fuzz_cfg.c — the YAML configuration loader on any file.
 *
 * The config is written by an operator, not an attacker, but `xmppd -t` and
 * SIGHUP must survive whatever is in the file (jabberd2's config loader is
 * the cautionary tale), and a reload that leaks leaks in the master.  The
 * input goes into a memfd, loaded through /proc/self/fd/N as a path like any
 * other; libFuzzer's leak check covers both the success and the error path.
 * Properties: every error is one line naming the file; a loaded config has
 * what cfg.h promises (hosts, listeners, paths). */
#include "lib/cfg.h"
#include "lib/xs.h"
#include "test/fuzz/fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("xmppd.yml", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void on_error(void *arg, const char *line)
{
	(void)arg;
	FUZZ_CHECK(strncmp(line, path, strlen(path)) == 0);
	FUZZ_CHECK(strchr(line, '\n') == NULL);
}

static void check_loaded(const struct cfg *c)
{
	FUZZ_CHECK(c->nhosts > 0 && c->nlisten > 0 && c->workers > 0);
	for (size_t i = 0; i < c->nhosts; i++)
		FUZZ_CHECK(c->hosts[i][0] != '\0' && cfg_has_host(c, c->hosts[i]));
	for (size_t i = 0; i < c->nlisten; i++)
		FUZZ_CHECK(c->listen[i].port != 0 && c->listen[i].module == CFG_LISTEN_C2S);
	FUZZ_CHECK(c->data_dir && c->run_dir && c->control_socket && c->modules_dir &&
	           c->tls_priority);
	for (size_t i = 0; i < c->nmodules; i++) {
		FUZZ_CHECK(c->modules[i].name[0] != '\0');
		FUZZ_CHECK(c->modules[i].opts.kind == CFG_MAP);
		(void)cfg_node_get(&c->modules[i].opts, "x");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	struct cfg c;
	if (cfg_load(path, &c, on_error, NULL) == XS_OK) {
		check_loaded(&c);
		cfg_free(&c);
	}
	return 0;
}

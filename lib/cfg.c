/* cfg.c — the entry points of the configuration loader (lib/cfg.h): read the
 * file, build its tree (cfg_tree.c), check it setting by setting against the
 * table (cfg_settings.c); re-read it on a reload; keep replaced configurations
 * until exit. */
#include "lib/cfg_int.h"
#include "lib/xs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CFG_MAX_FILE (1u << 20)

/* Reads the whole file, refusing more than the bound before parsing starts. */
static char *read_file(struct cfg_errs *e, const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		cfg_err_at(e, 0, 0, NULL, "cannot open: %s", strerror(errno));
		return NULL;
	}
	char *buf = malloc(CFG_MAX_FILE + 1);
	if (!buf) {
		close(fd);
		cfg_err_at(e, 0, 0, NULL, "out of memory");
		return NULL;
	}
	size_t got = 0;
	while (got <= CFG_MAX_FILE) {
		ssize_t r = read(fd, buf + got, CFG_MAX_FILE + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cfg_err_at(e, 0, 0, NULL, "cannot read: %s", strerror(errno));
			close(fd);
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got > CFG_MAX_FILE) {
		cfg_err_at(e, 0, 0, NULL, "file is larger than %u bytes", CFG_MAX_FILE);
		free(buf);
		return NULL;
	}
	*len = got;
	return buf;
}

int cfg_load(const char *path, struct cfg *out, cfg_err_fn *err, void *arg)
{
	struct cfg_errs e = { .file = path, .fn = err, .arg = arg };
	size_t len = 0;
	char *buf = read_file(&e, path, &len);
	if (!buf) {
		cfg_errs_flush(&e);
		return XS_ERROR;
	}

	struct cfg_node root;
	bool whole = cfg_tree_build(&e, buf, len, &root);
	free(buf);

	struct cfg c = { 0 };
	if (whole) {
		c.path = strdup(path);
		if (!c.path)
			cfg_err_at(&e, 0, 0, NULL, "out of memory");
		struct cfg_loader L = { .e = &e, .c = &c };
		cfg_settings_load(&L, &root);
	}
	cfg_node_free(&root);

	if (e.n || e.unsorted) {
		cfg_free(&c);
		cfg_errs_flush(&e);
		return XS_ERROR;
	}
	cfg_errs_flush(&e);
	*out = c;
	return XS_OK;
}

void cfg_free(struct cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	cfg_settings_free(cfg);
	*cfg = (struct cfg){ 0 };
}

struct cfg *cfg_reread(const struct cfg *running)
{
	struct cfg *n = calloc(1, sizeof(*n));
	if (n == NULL || cfg_load(running->path, n, NULL, NULL) != XS_OK) {
		free(n);
		log_error("reload: the configuration did not load again; nothing changed here");
		return NULL;
	}
	cfg_keep_running(n, (struct cfg *)running, false);
	if (!cfg_setting_same(cfg_setting("log"), n, running))
		log_open(n->log_target, n->log_file);
	log_set_level(n->loglevel);
	return n;
}

static struct cfg **retired;
static size_t nretired;

void cfg_retire(struct cfg *cfg)
{
	struct cfg **n = realloc(retired, (nretired + 1) * sizeof(*n));
	if (n == NULL) {
		log_error("no memory to keep a replaced configuration; leaking it");
		return;
	}
	retired = n;
	retired[nretired++] = cfg;
}

void cfg_retired_free(void)
{
	for (size_t i = 0; i < nretired; i++) {
		cfg_free(retired[i]);
		free(retired[i]);
	}
	free(retired);
	retired = NULL;
	nretired = 0;
}

int cfg_has_host(const struct cfg *cfg, const char *host)
{
	for (size_t i = 0; i < cfg->nhosts; i++)
		if (strcmp(cfg->hosts[i], host) == 0)
			return 1;
	return 0;
}

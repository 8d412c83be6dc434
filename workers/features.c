/* features.c — the stream-feature registry. */
#include "workers/features.h"
#include "workers/ctx.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <string.h>

int features_register(struct feature_set *fs, const struct feature *f)
{
	if (fs->n == FEATURES_MAX) {
		log_error("stream feature %s: no room (FEATURES_MAX %d)", f->name, FEATURES_MAX);
		return XS_ERROR;
	}
	fs->list[fs->n++] = f;
	return XS_OK;
}

static bool module_loaded(const char *name)
{
	for (size_t i = 0; i < worker.cfg->nmodules; i++)
		if (strcmp(worker.cfg->modules[i].name, name) == 0)
			return true;
	return false;
}

bool features_module_ready(const struct feature *f)
{
	return f->module == NULL || module_loaded(f->module);
}

void features_write(const struct feature_set *fs, struct conn *c, unsigned stages)
{
	conn_writez(c, "<stream:features>");
	for (unsigned i = 0; i < fs->n; i++) {
		const struct feature *f = fs->list[i];
		if ((f->stages & stages) == 0 || !features_module_ready(f) ||
		    (f->offered && !f->offered(c)))
			continue;
		f->append(c);
	}
	conn_writez(c, "</stream:features>");
}

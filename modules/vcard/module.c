/* module.c — the vcard module: vcard-temp (XEP-0054) and the user directory
 * (XEP-0055, jabber:iq:search, with XEP-0004 data forms) over the stored
 * vCards, one plugin built from the files of this folder:
 *   options.c   the module's options (options.h)
 *   state.c     what the parts share: tables, options (state.h)
 *   fields.c    the searchable fields (fields.h)
 *   text.c      element text and UTF-8 cuts (text.h)
 *   summary.c   the searchable values of a vCard (summary.h)
 *   index.c     the search index (index.h)
 *   store.c     a vCard, its summary and index entries together (store.h)
 *   iq.c        vcard-temp (iq.h)
 *   query.c     the search engine (query.h)
 *   search.c    jabber:iq:search: the form and the results (search.h)
 *   vjud.c      the directory service domains (vjud.h)
 * Case folding is lib/casefold.h.  This file opens the tables, registers
 * vcard-temp and starts the directories.  Calls go down that list, never
 * back up. */
#include "modules/vcard/fields.h"
#include "modules/vcard/iq.h"
#include "modules/vcard/options.h"
#include "modules/vcard/state.h"
#include "modules/vcard/vjud.h"
#include "lib/db.h"
#include "lib/log.h"
#include "router/module.h"

#include <lmdb.h>
#include <string.h>

static void vcard_stop(struct mod_ctx *ctx)
{
	(void)ctx;
	vjud_stop();
	vcard_iq_free();
}

static int vcard_init(struct mod_ctx *ctx)
{
	vcard_iq_limit(vcard_state.opts.max_size);
	struct db *db = mod_data_db();
	int maxkey = db && db->env ? mdb_env_get_maxkeysize(db->env) : KEY_MAX;
	if (maxkey < KEY_MAX) {
		log_error("module vcard: LMDB keys are limited to %d bytes, %d needed", maxkey, KEY_MAX);
		return XS_ERROR;
	}
	if (mod_db_table(ctx, "vcard", MDB_CREATE, &vcard_state.vcard) != XS_OK ||
	    mod_db_table(ctx, "vcard_sum", MDB_CREATE, &vcard_state.sum) != XS_OK ||
	    mod_db_table(ctx, "vcard_idx", MDB_CREATE | MDB_DUPSORT, &vcard_state.idx) != XS_OK)
		return XS_ERROR;
	if (mod_iq_add(ctx, NULL, NS_VCARD, vcard_iq, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_VCARD) != XS_OK ||
	    mod_hook_add(ctx, HOOK_USER_REMOVED, NULL, 50, vcard_on_user_removed, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_DISCO_INFO, NULL, 50, vcard_on_disco_info, NULL) != XS_OK)
		return XS_ERROR;
	if (!vcard_state.opts.search)
		return XS_OK;
	const char *const *hosts;
	size_t nhosts = mod_hosts(&hosts);
	return vjud_start(ctx, hosts, nhosts);
}

static int vcard_reload(struct mod_ctx *ctx, const void *old_conf)
{
	(void)ctx;
	const struct vcard_opts *old = old_conf;
	if (vcard_state.opts.max_size != old->max_size)
		vcard_iq_limit(vcard_state.opts.max_size);
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "vcard",
	.init = vcard_init,
	.reload = vcard_reload,
	.stop = vcard_stop,
	.opts = vcard_opts_table,
	.conf = &vcard_state.opts,
	.conf_size = sizeof(vcard_state.opts),
};

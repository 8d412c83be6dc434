/* module.c — the roster module: the roster (RFC 6121 §2), presence
 * subscriptions (§3) and presence to contacts (§4), one plugin built from
 * the files of this folder, each with one job:
 *   options.c       the module's options (options.h)
 *   state.c         what the parts share: context, table, options (state.h)
 *   store.c         roster records in the data env (store.h)
 *   push.c          the <item/> element and roster pushes (push.h)
 *   outbound.c      presence stanzas sent for an account (outbound.h)
 *   iq.c            jabber:iq:roster (iq.h)
 *   subscription.c  the subscription state machine (subscription.h)
 *   directed.c      directed presence (directed.h)
 *   broadcast.c     presence broadcast and probe answers (broadcast.h)
 * This file registers their hooks and handler, and answers other modules'
 * HOOK_ROSTER_GET with the subscription between two bare JIDs.  Calls go
 * down that list, never back up. */
#include "modules/roster/broadcast.h"
#include "modules/roster/directed.h"
#include "modules/roster/iq.h"
#include "modules/roster/options.h"
#include "modules/roster/push.h"
#include "modules/roster/state.h"
#include "modules/roster/store.h"
#include "modules/roster/subscription.h"
#include "router/module.h"

#include <string.h>

static int on_roster_get(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid == NULL || a->peer == NULL)
		return XS_PASS;
	uint8_t sub = roster_lookup_sub(mod_db_read(), a->jid, strlen(a->jid), a->peer,
	                                strlen(a->peer));
	a->result = (sub & SUB_TO ? MOD_SUB_TO : 0) | (sub & SUB_FROM ? MOD_SUB_FROM : 0);
	return XS_DONE;
}

static int roster_init(struct mod_ctx *ctx)
{
	/* Everything but the options, which the router filled. */
	struct roster_opts o = roster_state.opts;
	memset(&roster_state, 0, sizeof(roster_state));
	roster_state.opts = o;
	roster_state.ctx = ctx;
	if (mod_db_table(ctx, "roster", 0, &roster_state.dbi) != XS_OK)
		return XS_ERROR;
	struct {
		enum hook_id id;
		hook_fn *fn;
	} hooks[] = {
		{ HOOK_PRESENCE_BROADCAST, broadcast_on_presence },
		{ HOOK_SUBSCRIPTION_OUT, subscription_on_out },
		{ HOOK_SUBSCRIPTION_IN, subscription_on_in },
		{ HOOK_PRESENCE_PROBE, broadcast_on_probe },
		{ HOOK_ROSTER_GET, on_roster_get },
		{ HOOK_USER_REMOVED, subscription_on_user_removed },
		{ HOOK_USER_SEND_PACKET, directed_on_send },
		{ HOOK_SESSION_CLOSED, directed_on_closed },
	};
	for (size_t i = 0; i < XS_ARRAY_LEN(hooks); i++)
		if (mod_hook_add(ctx, hooks[i].id, NULL, 50, hooks[i].fn, NULL) != XS_OK)
			return XS_ERROR;
	return mod_iq_add(ctx, NULL, NS_ROSTER, roster_iq, NULL);
}

static void roster_stop(struct mod_ctx *ctx)
{
	(void)ctx;
	directed_clear();
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "roster",
	.init = roster_init,
	.stop = roster_stop,
	.opts = roster_opts_table,
	.conf = &roster_state.opts,
	.conf_size = sizeof(roster_state.opts),
};

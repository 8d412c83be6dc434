/* state.h — what every part of the roster module shares: the router context
 * it was started with, its table in the data env and its live options.
 * Set by module.c in init (and the options again on reload); read by the
 * other parts, which never change it. */
#ifndef XMPPD_MODULES_ROSTER_STATE_H
#define XMPPD_MODULES_ROSTER_STATE_H

#include "modules/roster/options.h"
#include "router/module.h"

#include <lmdb.h>

struct roster_state {
	struct mod_ctx *ctx;     /* for mod_builder and registrations */
	MDB_dbi dbi;             /* table "roster" (layout in store.h) */
	struct roster_opts opts; /* the options in force */
};

extern struct roster_state roster_state;

#endif

/* state.h — what the parts of the vcard module share: its three tables in
 * the data env and the options in force.  Set by module.c (init, reload);
 * the other parts only read it.
 *
 * Storage (data env):
 *   "vcard"     bare JID -> the stz encoding of the <vCard/> element as sent
 *   "vcard_sum" bare JID -> summary record (summary.h)
 *   "vcard_idx" (MDB_DUPSORT) the directory's search index (index.h)
 * Bare JIDs of accounts are at most KEY_MAX (511) bytes (the accounts table
 * is keyed by them). */
#ifndef XMPPD_MODULES_VCARD_STATE_H
#define XMPPD_MODULES_VCARD_STATE_H

#include "modules/vcard/options.h"

#include <lmdb.h>

struct vcard_state {
	MDB_dbi vcard, sum, idx;
	struct vcard_opts opts;
};

extern struct vcard_state vcard_state;

#endif

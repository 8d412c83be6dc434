/* index.h — the directory's search index (table "vcard_idx", MDB_DUPSORT).
 *
 * key = u8 field id, host, NUL, folded value (lib/casefold.h; cut at a
 * UTF-8 boundary to fit LMDB's 511-byte keys); data = bare JID.  One entry
 * per summary value plus one for "user" (the node of the JID).  Entries are
 * hints: a search checks each candidate against its summary. */
#ifndef XMPPD_MODULES_VCARD_INDEX_H
#define XMPPD_MODULES_VCARD_INDEX_H

#include "modules/vcard/summary.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOST_KEY_MAX (KEY_MAX - 2 - 64) /* leaves >= 64 bytes of value in a key */

/* The key (or key prefix) of field fid, host and an already folded value,
 * cut to fit, into k (KEY_MAX bytes).  Returns its length. */
size_t index_key(unsigned char *k, uint8_t fid, const char *host, size_t hlen,
                 const char *folded, size_t flen);

/* Adds (add) or removes every index entry of bare for summary sm and its
 * "user" entry.  XS_OK or XS_ERROR (logged). */
int index_update(MDB_txn *t, bool add, const char *bare, const struct summary *sm);

#endif

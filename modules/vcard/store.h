/* store.h — a vCard, its summary and its index entries, written together in
 * one child transaction so that they never disagree on disk. */
#ifndef XMPPD_MODULES_VCARD_STORE_H
#define XMPPD_MODULES_VCARD_STORE_H

#include "modules/vcard/summary.h"

#include <lmdb.h>
#include <stddef.h>

/* Removes the vCard of bare, its summary and its index entries (none is
 * fine).  XS_OK or XS_ERROR (logged). */
int vcard_remove(MDB_txn *t, const char *bare);

/* Stores blob (len bytes, the stz encoding of <vCard/>) as the vCard of
 * bare with summary sm, replacing what was there.  XS_OK or XS_ERROR. */
int vcard_store(MDB_txn *t, const char *bare, const void *blob, size_t len,
                const struct summary *sm);

#endif

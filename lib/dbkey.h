/* dbkey.h — the key layout of module tables that keep data per account
 * (roster, offline, private, blocking, last).
 *
 * LMDB keys hold at most 511 bytes (Debian's liblmdb) while a bare JID may
 * take 2047, so an account is named by O = SHA-256(its bare JID), 32 bytes.
 * Each module has a table of its own; in it one account's entries form one
 * ordered range:
 *   O                          the account's own record (a count, a version),
 *                              which sorts first
 *   O + item                   an entry, when the item is 1..DBKEY_INLINE_MAX
 *                              (479) bytes
 *   O + 0x00 + SHA-256(item)   an entry whose item is empty or longer
 * Items are text without a NUL byte (a JID, a namespace), so the two entry
 * forms never meet; an item of fixed binary size (offline's sequence number)
 * is always inline.  A module whose item may be hashed keeps the item in the
 * entry's value when it needs it back (and checks it there: a collision of
 * SHA-256 is not expected, but costs only a refusal).  No JID contains the
 * byte 0xff (UTF-8 never does), so O + 0xff is past every entry of O. */
#ifndef XMPPD_LIB_DBKEY_H
#define XMPPD_LIB_DBKEY_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DBKEY_MAX        511  /* MDB_MAXKEYSIZE of Debian's liblmdb */
#define DBKEY_OWNER_LEN  32   /* SHA-256 */
#define DBKEY_INLINE_MAX (DBKEY_MAX - DBKEY_OWNER_LEN)
#define DBKEY_HASHED     0x00 /* after O: the item is hashed */

struct dbkey {
	uint8_t b[DBKEY_MAX];
	size_t len;
};

/* SHA-256 of data.  XS_OK or XS_ERROR (logged). */
int dbkey_sha256(const void *data, size_t len, uint8_t out[32]);
/* k = O, the account record's key and the prefix of its entries.
 * XS_OK or XS_ERROR (logged). */
int dbkey_owner(struct dbkey *k, const char *bare, size_t len);
/* k = the entry key of item for the account whose key is owner (from
 * dbkey_owner).  XS_OK or XS_ERROR (logged). */
int dbkey_item(struct dbkey *k, const struct dbkey *owner, const void *item, size_t len);

/* The key as LMDB takes it (pointing into k). */
static inline MDB_val dbkey_val(const struct dbkey *k)
{
	return (MDB_val){ k->len, (void *)k->b };
}

/* Whether key is in the owner's range: the account record or one of its entries. */
bool dbkey_in_range(const MDB_val *key, const struct dbkey *owner);
/* Whether key is one of the owner's entries (its range without the account record). */
bool dbkey_is_entry(const MDB_val *key, const struct dbkey *owner);

/* Called with each entry (not the account record) before it is deleted. */
typedef void dbkey_entry_fn(const MDB_val *key, const MDB_val *val, void *arg);

/* Deletes the owner's whole range from table dbi inside t (a write
 * transaction), calling fn (when not NULL) with each entry first; *deleted
 * (when not NULL) gets the number of records deleted, the account record
 * included.  XS_OK or XS_ERROR (logged; what was deleted stays deleted in t). */
int dbkey_range_delete(MDB_txn *t, MDB_dbi dbi, const struct dbkey *owner, dbkey_entry_fn *fn,
                       void *arg, size_t *deleted);

#endif

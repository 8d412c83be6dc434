/* dbkey.c — per-account key ranges of module tables (layout in dbkey.h). */
#include "lib/dbkey.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <gnutls/crypto.h>
#include <string.h>

int dbkey_sha256(const void *data, size_t len, uint8_t out[32])
{
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) != 0) {
		log_error("SHA-256 of a database key failed");
		return XS_ERROR;
	}
	return XS_OK;
}

int dbkey_owner(struct dbkey *k, const char *bare, size_t len)
{
	k->len = DBKEY_OWNER_LEN;
	return dbkey_sha256(bare, len, k->b);
}

int dbkey_item(struct dbkey *k, const struct dbkey *owner, const void *item, size_t len)
{
	memcpy(k->b, owner->b, DBKEY_OWNER_LEN);
	if (len >= 1 && len <= DBKEY_INLINE_MAX) {
		memcpy(k->b + DBKEY_OWNER_LEN, item, len);
		k->len = DBKEY_OWNER_LEN + len;
		return XS_OK;
	}
	k->b[DBKEY_OWNER_LEN] = DBKEY_HASHED;
	k->len = DBKEY_OWNER_LEN + 1 + 32;
	return dbkey_sha256(item, len, k->b + DBKEY_OWNER_LEN + 1);
}

bool dbkey_in_range(const MDB_val *key, const struct dbkey *owner)
{
	return key->mv_size >= DBKEY_OWNER_LEN && memcmp(key->mv_data, owner->b, DBKEY_OWNER_LEN) == 0;
}

bool dbkey_is_entry(const MDB_val *key, const struct dbkey *owner)
{
	return key->mv_size > DBKEY_OWNER_LEN && dbkey_in_range(key, owner);
}

int dbkey_range_delete(MDB_txn *t, MDB_dbi dbi, const struct dbkey *owner, dbkey_entry_fn *fn,
                       void *arg, size_t *deleted)
{
	size_t n = 0;
	if (deleted)
		*deleted = 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t, dbi, &cur);
	if (rc != 0) {
		log_error("deleting an account's records: mdb_cursor_open: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	MDB_val k = { DBKEY_OWNER_LEN, (void *)owner->b }, v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	/* After a delete, MDB_NEXT yields the record that followed the deleted one. */
	while (rc == 0 && dbkey_in_range(&k, owner)) {
		if (fn && k.mv_size > DBKEY_OWNER_LEN)
			fn(&k, &v, arg);
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		n++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (deleted)
		*deleted = n;
	if (rc != 0 && rc != MDB_NOTFOUND) {
		log_error("deleting an account's records: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

/* store.c — a vCard with its summary and index entries (store.h). */
#include "modules/vcard/store.h"
#include "modules/vcard/index.h"
#include "modules/vcard/state.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <string.h>

int vcard_remove(MDB_txn *t, const char *bare)
{
	struct summary old;
	int rc = summary_get(t, bare, &old, true);
	if (rc == XS_ERROR)
		return XS_ERROR;
	if (rc == XS_OK && index_update(t, false, bare, &old) != XS_OK)
		return XS_ERROR;
	MDB_val k = { strlen(bare), (void *)bare };
	int r1 = mdb_del(t, vcard_state.sum, &k, NULL), r2 = mdb_del(t, vcard_state.vcard, &k, NULL);
	if ((r1 && r1 != MDB_NOTFOUND) || (r2 && r2 != MDB_NOTFOUND)) {
		log_error("vcard: removing the vCard of %s: %s", bare, mdb_strerror(r1 ? r1 : r2));
		return XS_ERROR;
	}
	return XS_OK;
}

int vcard_store(MDB_txn *t, const char *bare, const void *blob, size_t len,
                const struct summary *sm)
{
	if (vcard_remove(t, bare) != XS_OK)
		return XS_ERROR;
	static unsigned char rec[SUM_BYTES_MAX];
	MDB_val k = { strlen(bare), (void *)bare };
	MDB_val vv = { len, (void *)blob }, sv = { summary_encode(sm, rec), rec };
	int rc = mdb_put(t, vcard_state.vcard, &k, &vv, 0);
	if (rc == 0)
		rc = mdb_put(t, vcard_state.sum, &k, &sv, 0);
	if (rc != 0) {
		log_error("vcard: storing the vCard of %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	return index_update(t, true, bare, sm);
}

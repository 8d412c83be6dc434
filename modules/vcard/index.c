/* index.c — entries of the directory's search index (index.h). */
#include "modules/vcard/index.h"
#include "modules/vcard/state.h"
#include "modules/vcard/text.h"
#include "lib/casefold.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <string.h>

size_t index_key(unsigned char *k, uint8_t fid, const char *host, size_t hlen,
                 const char *folded, size_t flen)
{
	k[0] = fid;
	memcpy(k + 1, host, hlen);
	k[1 + hlen] = 0;
	size_t head = hlen + 2, room = KEY_MAX - head;
	if (flen > room)
		flen = vcard_utf8_cut(folded, room);
	memcpy(k + head, folded, flen);
	return head + flen;
}

/* Adds (add) or removes one index entry of bare.  XS_OK or XS_ERROR. */
static int idx_entry(MDB_txn *t, bool add, const char *bare, const char *host, uint8_t fid,
                     const char *value, size_t vlen)
{
	char folded[KEY_MAX];
	unsigned char key[KEY_MAX];
	if (vlen > sizeof(folded))
		vlen = vcard_utf8_cut(value, sizeof(folded));
	casefold_utf8(value, vlen, folded);
	size_t klen = index_key(key, fid, host, strlen(host), folded, vlen);
	MDB_val k = { klen, key }, d = { strlen(bare), (void *)bare };
	int rc = add ? mdb_put(t, vcard_state.idx, &k, &d, 0) : mdb_del(t, vcard_state.idx, &k, &d);
	if (rc == 0 || (!add && rc == MDB_NOTFOUND))
		return XS_OK;
	log_error("vcard: %s index entry of %s: %s", add ? "adding" : "removing", bare,
	          mdb_strerror(rc));
	return XS_ERROR;
}

int index_update(MDB_txn *t, bool add, const char *bare, const struct summary *sm)
{
	const char *at = strchr(bare, '@');
	if (at == NULL)
		return XS_ERROR;
	const char *host = at + 1;
	if (strlen(host) > HOST_KEY_MAX)
		return XS_ERROR;
	if (idx_entry(t, add, bare, host, F_USER, bare, (size_t)(at - bare)) != XS_OK)
		return XS_ERROR;
	for (size_t i = 0; i < sm->n; i++)
		if (idx_entry(t, add, bare, host, sm->v[i].fid, sm->v[i].p, sm->v[i].len) != XS_OK)
			return XS_ERROR;
	return XS_OK;
}

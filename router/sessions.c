/* sessions.c — the session/route table in the LMDB sessions env.
 *
 *   sess: full JID -> struct sess_rec
 *   res:  bare JID -> resource (MDB_DUPSORT): the resources of one account
 *
 * The router is the only writer.  All work of one drain batch happens in one
 * write transaction (the env is MDB_NOSYNC on tmpfs: committing costs no
 * fsync), which readers of the batch also use, so they see its writes. */
#include "router/router.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	struct db db;
	MDB_txn *txn;
	char *pres_buf;          /* aligned copy of a stored presence */
	size_t pres_cap;
} T;

int sess_open(const struct cfg *cfg)
{
	return db_open_sessions(&T.db, cfg->run_dir, true);
}

void sess_close(void)
{
	if (T.txn)
		mdb_txn_abort(T.txn);
	T.txn = NULL;
	db_close(&T.db);
	free(T.pres_buf);
	T.pres_buf = NULL;
	T.pres_cap = 0;
}

static MDB_txn *txn(void)
{
	if (T.txn)
		return T.txn;
	int rc = mdb_txn_begin(T.db.env, NULL, 0, &T.txn);
	if (rc != 0) {
		log_error("sessions txn: %s", mdb_strerror(rc));
		T.txn = NULL;
	}
	return T.txn;
}

int sess_commit(void)
{
	if (T.txn == NULL)
		return XS_OK;
	int rc = mdb_txn_commit(T.txn);
	T.txn = NULL;
	if (rc != 0) {
		log_error("sessions commit: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

static MDB_val val(const char *s)
{
	return (MDB_val){ strlen(s), (void *)s };
}

int sess_get(const char *full, struct sess_rec *out)
{
	MDB_txn *t = txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_val k = val(full), v;
	int rc = mdb_get(t, T.db.sess, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0 || v.mv_size != sizeof(*out)) {
		log_error("sess_get %s: %s", full, rc ? mdb_strerror(rc) : "bad record size");
		return XS_ERROR;
	}
	memcpy(out, v.mv_data, sizeof(*out));
	return XS_OK;
}

static int put(const char *full, const struct sess_rec *r)
{
	MDB_val k = val(full), v = { sizeof(*r), (void *)r };
	int rc = mdb_put(txn(), T.db.sess, &k, &v, 0);
	if (rc != 0) {
		log_error("sess put %s: %s", full, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int sess_bind(const char *bare, const char *res, uint64_t conn, char *full_out, size_t cap)
{
	MDB_txn *t = txn();
	if (t == NULL)
		return XS_ERROR;
	char made[32];
	if (*res == '\0') {
		uint8_t rnd[6];
		gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
		snprintf(made, sizeof(made), "xmppd-%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
		         rnd[3], rnd[4], rnd[5]);
		res = made;
	}
	if ((size_t)snprintf(full_out, cap, "%s/%s", bare, res) >= cap)
		return XS_ERROR;
	struct sess_rec r = { .conn = conn, .since = (int64_t)time(NULL) };
	if (put(full_out, &r) != XS_OK)
		return XS_ERROR;
	MDB_val k = val(bare), v = val(res);
	int rc = mdb_put(t, T.db.res, &k, &v, MDB_NODUPDATA);
	if (rc != 0 && rc != MDB_KEYEXIST) {
		log_error("sess res put %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int sess_unbind(const char *full, uint64_t conn)
{
	struct sess_rec r;
	int rc = sess_get(full, &r);
	if (rc != XS_OK)
		return rc == XS_PASS ? XS_PASS : XS_ERROR;
	if (r.conn != conn)
		return XS_PASS; /* already replaced by a newer session */
	MDB_txn *t = txn();
	MDB_val k = val(full);
	if ((rc = mdb_del(t, T.db.sess, &k, NULL)) != 0) {
		log_error("sess del %s: %s", full, mdb_strerror(rc));
		return XS_ERROR;
	}
	sess_presence_del(full);
	const char *slash = strchr(full, '/');
	if (slash) {
		MDB_val bk = { (size_t)(slash - full), (void *)full }, rv = val(slash + 1);
		rc = mdb_del(t, T.db.res, &bk, &rv);
		if (rc != 0 && rc != MDB_NOTFOUND)
			log_error("sess res del %s: %s", full, mdb_strerror(rc));
	}
	return XS_OK;
}

int sess_set_presence(const char *full, bool available, int32_t priority)
{
	struct sess_rec r;
	int rc = sess_get(full, &r);
	if (rc != XS_OK)
		return rc;
	r.available = available;
	r.priority = priority;
	return put(full, &r);
}

int sess_set_flags(const char *full, uint8_t set, uint8_t clear)
{
	struct sess_rec r;
	int rc = sess_get(full, &r);
	if (rc != XS_OK)
		return rc;
	uint8_t f = (uint8_t)((r.flags | set) & ~clear);
	if (f == r.flags)
		return XS_OK;
	r.flags = f;
	return put(full, &r);
}

int sess_presence_put(const char *full, const struct stz *s)
{
	MDB_txn *t = txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_val k = val(full), v = { s->h->size, NULL };
	/* Reserved and copied, without its trace id: a later delivery of this
	 * presence is not part of the stanza that set it. */
	int rc = mdb_put(t, T.db.pres, &k, &v, MDB_RESERVE);
	if (rc == 0) {
		memcpy(v.mv_data, s->h, s->h->size);
		struct stz_hdr h;
		memcpy(&h, v.mv_data, sizeof(h));
		h.trace = 0;
		memcpy(v.mv_data, &h, sizeof(h));
	}
	if (rc != 0) {
		log_error("presence put %s: %s", full, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int sess_presence_get(const char *full, struct stz *out)
{
	MDB_txn *t = txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_val k = val(full), v;
	int rc = mdb_get(t, T.db.pres, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc == 0 && v.mv_size > T.pres_cap) {
		size_t cap = (v.mv_size + 4095) & ~(size_t)4095;
		char *p = aligned_alloc(8, cap);
		if (p == NULL)
			return XS_ERROR;
		free(T.pres_buf);
		T.pres_buf = p;
		T.pres_cap = cap;
	}
	/* LMDB values are only 2-byte aligned: view an aligned copy. */
	if (rc == 0)
		memcpy(T.pres_buf, v.mv_data, v.mv_size);
	if (rc != 0 || stz_view(out, T.pres_buf, v.mv_size) != XS_OK) {
		log_error("presence get %s: %s", full, rc ? mdb_strerror(rc) : "bad record");
		return XS_ERROR;
	}
	return XS_OK;
}

int sess_presence_del(const char *full)
{
	MDB_txn *t = txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_val k = val(full);
	int rc = mdb_del(t, T.db.pres, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		log_error("presence del %s: %s", full, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int sess_foreach(const char *bare, sess_visit_fn *fn, void *arg)
{
	MDB_txn *t = txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_cursor *cur;
	if (mdb_cursor_open(t, T.db.res, &cur) != 0)
		return XS_ERROR;
	size_t blen = strlen(bare);
	MDB_val k = { blen, (void *)bare }, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	char full[JID_MAX + 2];
	while (rc == 0) {
		if (blen + 1 + v.mv_size < sizeof(full)) {
			memcpy(full, bare, blen);
			full[blen] = '/';
			memcpy(full + blen + 1, v.mv_data, v.mv_size);
			full[blen + 1 + v.mv_size] = '\0';
			struct sess_rec r;
			if (sess_get(full, &r) == XS_OK && !fn(full, &r, arg))
				break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
	}
	mdb_cursor_close(cur);
	return XS_OK;
}

int sess_foreach_all(sess_visit_fn *fn, void *arg)
{
	MDB_txn *t = txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_cursor *cur;
	if (mdb_cursor_open(t, T.db.sess, &cur) != 0)
		return XS_ERROR;
	MDB_val k, v;
	char full[JID_MAX + 2];
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size < sizeof(full) && v.mv_size == sizeof(struct sess_rec)) {
			memcpy(full, k.mv_data, k.mv_size);
			full[k.mv_size] = '\0';
			struct sess_rec r;
			memcpy(&r, v.mv_data, sizeof(r));
			if (!fn(full, &r, arg))
				break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return XS_OK;
}

/* sessions.c — the session table in the LMDB sessions env.
 *
 *   sess: session key -> struct sess_rec [+ full JID]
 *   res:  bare JID -> resource or session key (MDB_DUPSORT): the sessions
 *         of one account
 *   pres: session key -> the session's last available presence
 *
 * A session key is the full JID, or a key derived from a full JID too long
 * for LMDB (lib/db.h db_sess_key).
 * (The env's "routes" table is router/routes.c's.)
 * The router is the only writer.  All work of one drain batch happens in one
 * write transaction (the env is MDB_NOSYNC on tmpfs: committing costs no
 * fsync), which readers of the batch also use, so they see its writes. */
#include "router/sessions.h"
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
} sessions;

int sess_open(const struct cfg *cfg)
{
	return db_open_sessions(&sessions.db, cfg->run_dir, true);
}

void sess_close(void)
{
	if (sessions.txn)
		mdb_txn_abort(sessions.txn);
	sessions.txn = NULL;
	db_close(&sessions.db);
	free(sessions.pres_buf);
	sessions.pres_buf = NULL;
	sessions.pres_cap = 0;
}

struct db *sess_db(void)
{
	return &sessions.db;
}

MDB_txn *sess_txn(void)
{
	if (sessions.txn)
		return sessions.txn;
	int rc = mdb_txn_begin(sessions.db.env, NULL, 0, &sessions.txn);
	if (rc != 0) {
		log_error("sessions txn: %s", mdb_strerror(rc));
		sessions.txn = NULL;
	}
	return sessions.txn;
}

int sess_commit(void)
{
	if (sessions.txn == NULL)
		return XS_OK;
	int rc = mdb_txn_commit(sessions.txn);
	sessions.txn = NULL;
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

/* A full JID's session key; buf holds a derived one. */
struct skey {
	uint8_t buf[SESS_KEY_HASHED_LEN];
	MDB_val k;
};

static int skey_of(const char *full, size_t len, struct skey *sk)
{
	return db_sess_key(full, len, sk->buf, &sk->k);
}

/* The record under full's key.  XS_OK, XS_PASS (none, or one that carries
 * another JID), XS_ERROR (logged). */
static int rec_get(MDB_txn *t, const char *full, size_t len, const MDB_val *key,
                   struct sess_rec *out)
{
	MDB_val k = *key, v;
	int rc = mdb_get(t, sessions.db.sess, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0) {
		log_error("sess_get %s: %s", full, mdb_strerror(rc));
		return XS_ERROR;
	}
	rc = db_sess_rec(&k, &v, full, len, out);
	if (rc == XS_ERROR)
		log_error("sess_get %s: bad record", full);
	else if (rc == XS_PASS)
		log_warn("sess_get %s: its derived key holds another JID's session", full);
	return rc;
}

/* full's key and record.  XS_OK, XS_PASS (none), XS_ERROR. */
static int lookup(const char *full, size_t len, struct skey *sk, struct sess_rec *r)
{
	MDB_txn *t = sess_txn();
	if (t == NULL || skey_of(full, len, sk) != XS_OK)
		return XS_ERROR;
	return rec_get(t, full, len, &sk->k, r);
}

int sess_get(const char *full, struct sess_rec *out)
{
	struct skey sk;
	return lookup(full, strlen(full), &sk, out);
}

static int put(const char *full, size_t len, const MDB_val *key, const struct sess_rec *r)
{
	MDB_txn *t = sess_txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_val k = *key, v = { db_sess_val_size(key, len), NULL };
	int rc = mdb_put(t, sessions.db.sess, &k, &v, MDB_RESERVE);
	if (rc != 0) {
		log_error("sess put %s: %s", full, mdb_strerror(rc));
		return XS_ERROR;
	}
	db_sess_val_fill(v.mv_data, key, r, full, len);
	return XS_OK;
}

/* full's key, when no record under it belongs to another JID (a derived key
 * is checked: SHA-256 collisions are not expected, but cost only a refusal).
 * XS_OK, XS_PASS (taken), XS_ERROR. */
static int own_key(const char *full, size_t len, struct skey *sk)
{
	if (skey_of(full, len, sk) != XS_OK)
		return XS_ERROR;
	if (!db_sess_key_hashed(&sk->k))
		return XS_OK; /* the JID itself: no lookup on the common path */
	struct sess_rec r;
	int rc = lookup(full, len, sk, &r);
	if (rc != XS_PASS)
		return rc == XS_ERROR ? XS_ERROR : XS_OK;
	/* XS_PASS: no record (the key is free), or another JID's. */
	MDB_val k = sk->k, v;
	return mdb_get(sess_txn(), sessions.db.sess, &k, &v) == MDB_NOTFOUND ? XS_OK : XS_PASS;
}

/* The "res" value of a session: its resource, or its derived key. */
static MDB_val res_val(const char *full, const MDB_val *key)
{
	if (db_sess_key_hashed(key))
		return *key;
	const char *slash = strchr(full, '/');
	return slash ? val(slash + 1) : (MDB_val){ 0, NULL };
}

int sess_bind(const char *bare, const char *res, uint64_t conn, uint8_t flags, char *full_out,
              size_t cap)
{
	MDB_txn *t = sess_txn();
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
	int n = snprintf(full_out, cap, "%s/%s", bare, res);
	if (n < 0 || (size_t)n >= cap)
		return XS_ERROR;
	struct skey sk;
	int rc = own_key(full_out, (size_t)n, &sk);
	if (rc == XS_PASS)
		log_error("bind %s: its derived session key is taken by another JID", full_out);
	if (rc != XS_OK)
		return XS_ERROR;
	struct sess_rec r = { .conn = conn, .since = (int64_t)time(NULL), .flags = flags };
	if (put(full_out, (size_t)n, &sk.k, &r) != XS_OK)
		return XS_ERROR;
	MDB_val k = val(bare), v = res_val(full_out, &sk.k);
	rc = mdb_put(t, sessions.db.res, &k, &v, MDB_NODUPDATA);
	if (rc != 0 && rc != MDB_KEYEXIST) {
		log_error("sess res put %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int sess_unbind(const char *full, uint64_t conn)
{
	struct skey sk;
	struct sess_rec r;
	int rc = lookup(full, strlen(full), &sk, &r);
	if (rc != XS_OK)
		return rc;
	if (r.conn != conn)
		return XS_PASS; /* already replaced by a newer session */
	MDB_txn *t = sess_txn();
	MDB_val k = sk.k;
	if ((rc = mdb_del(t, sessions.db.sess, &k, NULL)) != 0) {
		log_error("sess del %s: %s", full, mdb_strerror(rc));
		return XS_ERROR;
	}
	k = sk.k;
	rc = mdb_del(t, sessions.db.pres, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		log_error("presence del %s: %s", full, mdb_strerror(rc));
	const char *slash = strchr(full, '/');
	if (slash) {
		MDB_val bk = { (size_t)(slash - full), (void *)full }, rv = res_val(full, &sk.k);
		rc = mdb_del(t, sessions.db.res, &bk, &rv);
		if (rc != 0 && rc != MDB_NOTFOUND)
			log_error("sess res del %s: %s", full, mdb_strerror(rc));
	}
	return XS_OK;
}

int sess_set_presence(const char *full, bool available, int32_t priority)
{
	struct skey sk;
	struct sess_rec r;
	size_t len = strlen(full);
	int rc = lookup(full, len, &sk, &r);
	if (rc != XS_OK)
		return rc;
	r.available = available;
	r.priority = priority;
	return put(full, len, &sk.k, &r);
}

int sess_set_flags(const char *full, uint8_t set, uint8_t clear)
{
	struct skey sk;
	struct sess_rec r;
	size_t len = strlen(full);
	int rc = lookup(full, len, &sk, &r);
	if (rc != XS_OK)
		return rc;
	uint8_t f = (uint8_t)((r.flags | set) & ~clear);
	if (f == r.flags)
		return XS_OK;
	r.flags = f;
	return put(full, len, &sk.k, &r);
}

int sess_presence_put(const char *full, const struct stz *s)
{
	MDB_txn *t = sess_txn();
	struct skey sk;
	if (t == NULL || own_key(full, strlen(full), &sk) != XS_OK)
		return XS_ERROR;
	MDB_val k = sk.k, v = { s->h->size, NULL };
	/* Reserved and copied, without its trace id: a later delivery of this
	 * presence is not part of the stanza that set it. */
	int rc = mdb_put(t, sessions.db.pres, &k, &v, MDB_RESERVE);
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
	MDB_txn *t = sess_txn();
	struct skey sk;
	if (t == NULL)
		return XS_ERROR;
	int rc = own_key(full, strlen(full), &sk);
	if (rc != XS_OK)
		return rc;
	MDB_val k = sk.k, v;
	rc = mdb_get(t, sessions.db.pres, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc == 0 && v.mv_size > sessions.pres_cap) {
		size_t cap = (v.mv_size + 4095) & ~(size_t)4095;
		char *p = aligned_alloc(8, cap);
		if (p == NULL)
			return XS_ERROR;
		free(sessions.pres_buf);
		sessions.pres_buf = p;
		sessions.pres_cap = cap;
	}
	/* LMDB values are only 2-byte aligned: view an aligned copy. */
	if (rc == 0)
		memcpy(sessions.pres_buf, v.mv_data, v.mv_size);
	if (rc != 0 || stz_view(out, sessions.pres_buf, v.mv_size) != XS_OK) {
		log_error("presence get %s: %s", full, rc ? mdb_strerror(rc) : "bad record");
		return XS_ERROR;
	}
	return XS_OK;
}

int sess_presence_del(const char *full)
{
	MDB_txn *t = sess_txn();
	struct skey sk;
	if (t == NULL)
		return XS_ERROR;
	int rc = own_key(full, strlen(full), &sk);
	if (rc != XS_OK)
		return rc == XS_PASS ? XS_OK : XS_ERROR;
	MDB_val k = sk.k;
	rc = mdb_del(t, sessions.db.pres, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		log_error("presence del %s: %s", full, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

/* The session a "res" value of bare names: its full JID (into full, cap
 * bytes) and record.  XS_OK, or XS_PASS (gone, or not readable). */
static int res_session(MDB_txn *t, const char *bare, size_t blen, const MDB_val *rv, char *full,
                       size_t cap, struct sess_rec *r)
{
	if (db_sess_key_hashed(rv)) {
		MDB_val k = *rv, v;
		/* The record carries the JID; it must be one of bare's. */
		if (mdb_get(t, sessions.db.sess, &k, &v) != 0 || db_sess_read(&k, &v, r, full, cap) != XS_OK ||
		    strncmp(full, bare, blen) != 0 || full[blen] != '/')
			return XS_PASS;
		return XS_OK;
	}
	if (blen + 1 + rv->mv_size >= cap)
		return XS_PASS;
	memcpy(full, bare, blen);
	full[blen] = '/';
	memcpy(full + blen + 1, rv->mv_data, rv->mv_size);
	full[blen + 1 + rv->mv_size] = '\0';
	return sess_get(full, r) == XS_OK ? XS_OK : XS_PASS;
}

int sess_foreach(const char *bare, sess_visit_fn *fn, void *arg)
{
	MDB_txn *t = sess_txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_cursor *cur;
	if (mdb_cursor_open(t, sessions.db.res, &cur) != 0)
		return XS_ERROR;
	size_t blen = strlen(bare);
	MDB_val k = { blen, (void *)bare }, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	char full[JID_MAX + 2];
	while (rc == 0) {
		struct sess_rec r;
		if (res_session(t, bare, blen, &v, full, sizeof(full), &r) == XS_OK && !fn(full, &r, arg))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
	}
	mdb_cursor_close(cur);
	return XS_OK;
}

int sess_foreach_all(sess_visit_fn *fn, void *arg)
{
	MDB_txn *t = sess_txn();
	if (t == NULL)
		return XS_ERROR;
	MDB_cursor *cur;
	if (mdb_cursor_open(t, sessions.db.sess, &cur) != 0)
		return XS_ERROR;
	MDB_val k, v;
	char full[JID_MAX + 2];
	int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		struct sess_rec r;
		if (db_sess_read(&k, &v, &r, full, sizeof(full)) == XS_OK && !fn(full, &r, arg))
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return XS_OK;
}

/* db.c — LMDB environments of xmppd. */
#include "lib/db.h"
#include "lib/dbkey.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <assert.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Generous sizes: the map is sparse, pages are only used when written.  Every
 * worker connection does not hold a reader slot, but each process and thread
 * does; 1024 leaves room for restarts before stale slots are reclaimed. */
#define DATA_MAP_SIZE     (8ULL << 30)
#define SESSIONS_MAP_SIZE (2ULL << 30)
#define MAX_READERS       1024

static int mkdir_p(const char *path)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return XS_ERROR;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) == -1 && errno != EEXIST)
			return XS_ERROR;
		*p = '/';
	}
	if (mkdir(tmp, 0750) == -1 && errno != EEXIST)
		return XS_ERROR;
	return XS_OK;
}

static int env_open(struct db *db, const char *dir, unsigned flags, size_t map, unsigned maxdbs,
                    bool writer)
{
	if (writer && mkdir_p(dir) != XS_OK) {
		log_error("cannot create %s: %s", dir, strerror(errno));
		return XS_ERROR;
	}
	int rc = mdb_env_create(&db->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(db->env, map);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(db->env, maxdbs);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(db->env, MAX_READERS);
	if (rc == 0)
		rc = mdb_env_open(db->env, dir, flags | MDB_NOTLS | (writer ? 0 : MDB_RDONLY), 0640);
	if (rc != 0) {
		log_error("lmdb open %s: %s", dir, mdb_strerror(rc));
		if (db->env)
			mdb_env_close(db->env);
		db->env = NULL;
		return XS_ERROR;
	}
	int dead = 0;
	mdb_reader_check(db->env, &dead);
	return XS_OK;
}

/* Opens the n tables; a reader may miss those from nreq on (an env made by
 * an older writer): *missing[i - nreq] says so. */
static int open_tables(struct db *db, const char *const *names, const unsigned *flags,
                       MDB_dbi *const *out, size_t n, size_t nreq, bool *const *missing,
                       bool writer)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(db->env, NULL, writer ? 0 : MDB_RDONLY, &txn);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = mdb_dbi_open(txn, names[i], flags[i] | (writer ? MDB_CREATE : 0), out[i]);
		if (i >= nreq) {
			*missing[i - nreq] = rc == MDB_NOTFOUND;
			if (rc == MDB_NOTFOUND)
				rc = 0;
		}
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0) {
		log_error("lmdb tables: %s", mdb_strerror(rc));
		mdb_env_close(db->env);
		db->env = NULL;
		return XS_ERROR;
	}
	return XS_OK;
}

int db_open_data(struct db *db, const char *data_dir, bool writer)
{
	if (env_open(db, data_dir, 0, DATA_MAP_SIZE, 128, writer) != XS_OK)
		return XS_ERROR;
	static const char *const names[] = { "users", "meta" };
	static const unsigned flags[] = { 0, 0 };
	MDB_dbi *const out[] = { &db->users, &db->meta };
	return open_tables(db, names, flags, out, 2, 2, NULL, writer);
}

int db_open_sessions(struct db *db, const char *run_dir, bool writer)
{
	char dir[4096];
	if (snprintf(dir, sizeof(dir), "%s/sessions", run_dir) >= (int)sizeof(dir))
		return XS_ERROR;
	if (env_open(db, dir, MDB_NOSYNC | MDB_NOMETASYNC, SESSIONS_MAP_SIZE, 8, writer) != XS_OK)
		return XS_ERROR;
	static const char *const names[] = { "sess", "res", "pres", "routes" };
	static const unsigned flags[] = { 0, MDB_DUPSORT, 0, 0 };
	MDB_dbi *const out[] = { &db->sess, &db->res, &db->pres, &db->routes };
	/* "routes" came later than the others: a tool newer than the router
	 * that made the env reads the rest. */
	bool *const missing[] = { &db->no_routes };
	return open_tables(db, names, flags, out, 4, 3, missing, writer);
}

void db_close(struct db *db)
{
	if (db->env)
		mdb_env_close(db->env);
	db->env = NULL;
}

int db_clear_sessions(const char *run_dir)
{
	static const char *const files[] = { "data.mdb", "lock.mdb" };
	for (size_t i = 0; i < XS_ARRAY_LEN(files); i++) {
		char path[4096];
		if (snprintf(path, sizeof(path), "%s/sessions/%s", run_dir, files[i]) >= (int)sizeof(path))
			return XS_ERROR;
		if (unlink(path) == -1 && errno != ENOENT) {
			log_error("unlink %s: %s", path, strerror(errno));
			return XS_ERROR;
		}
	}
	return XS_OK;
}

int db_server_secret(struct db *db, uint8_t out[32])
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
	if (rc != 0) {
		log_error("lmdb txn: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	MDB_val k = { 12, "scram_secret" }, v;
	rc = mdb_get(txn, db->meta, &k, &v);
	if (rc == 0 && v.mv_size == 32) {
		memcpy(out, v.mv_data, 32);
		mdb_txn_abort(txn);
		return XS_OK;
	}
	if (gnutls_rnd(GNUTLS_RND_KEY, out, 32) != 0) {
		mdb_txn_abort(txn);
		return XS_ERROR;
	}
	v = (MDB_val){ 32, out };
	rc = mdb_put(txn, db->meta, &k, &v, 0);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0) {
		log_error("storing the server secret: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

void db_reader_check(struct db *db)
{
	int dead = 0;
	if (db->env && mdb_reader_check(db->env, &dead) == 0 && dead > 0)
		log_info("lmdb: cleared %d stale reader slot(s)", dead);
}

/* ---------------------------------------------------------------- session keys */

static_assert(SESS_KEY_MAX == DBKEY_MAX, "one LMDB key limit");

int db_sess_key(const char *full, size_t len, uint8_t buf[SESS_KEY_HASHED_LEN], MDB_val *key)
{
	if (len <= SESS_KEY_MAX) {
		*key = (MDB_val){ len, (void *)full };
		return XS_OK;
	}
	buf[0] = SESS_KEY_HASHED;
	*key = (MDB_val){ SESS_KEY_HASHED_LEN, buf };
	return dbkey_sha256(full, len, buf + 1);
}

bool db_sess_key_hashed(const MDB_val *key)
{
	return key->mv_size == SESS_KEY_HASHED_LEN &&
	       ((const uint8_t *)key->mv_data)[0] == SESS_KEY_HASHED;
}

size_t db_sess_val_size(const MDB_val *key, size_t len)
{
	return sizeof(struct sess_rec) + (db_sess_key_hashed(key) ? len : 0);
}

void db_sess_val_fill(void *dst, const MDB_val *key, const struct sess_rec *r, const char *full,
                      size_t len)
{
	memcpy(dst, r, sizeof(*r));
	if (db_sess_key_hashed(key))
		memcpy((char *)dst + sizeof(*r), full, len);
}

/* The full JID a derived key's record carries (after its struct sess_rec);
 * a JID short enough to be its own key would never have been hashed. */
static int carried(const MDB_val *val, const char **jid, size_t *len)
{
	if (val->mv_size <= sizeof(struct sess_rec) + SESS_KEY_MAX)
		return XS_ERROR;
	*jid = (const char *)val->mv_data + sizeof(struct sess_rec);
	*len = val->mv_size - sizeof(struct sess_rec);
	return XS_OK;
}

int db_sess_rec(const MDB_val *key, const MDB_val *val, const char *full, size_t len,
                struct sess_rec *r)
{
	if (!db_sess_key_hashed(key)) {
		if (val->mv_size != sizeof(*r))
			return XS_ERROR;
	} else {
		const char *jid;
		size_t jlen;
		if (carried(val, &jid, &jlen) != XS_OK)
			return XS_ERROR;
		if (jlen != len || memcmp(jid, full, len) != 0)
			return XS_PASS;
	}
	memcpy(r, val->mv_data, sizeof(*r));
	return XS_OK;
}

int db_sess_read(const MDB_val *key, const MDB_val *val, struct sess_rec *r, char *full,
                 size_t cap)
{
	const char *jid = key->mv_data;
	size_t jlen = key->mv_size;
	if (db_sess_key_hashed(key)) {
		uint8_t buf[SESS_KEY_HASHED_LEN];
		MDB_val k;
		if (carried(val, &jid, &jlen) != XS_OK || db_sess_key(jid, jlen, buf, &k) != XS_OK ||
		    memcmp(k.mv_data, key->mv_data, SESS_KEY_HASHED_LEN) != 0)
			return XS_ERROR;
	} else if (val->mv_size != sizeof(*r)) {
		return XS_ERROR;
	}
	if (jlen >= cap)
		return XS_ERROR;
	memcpy(r, val->mv_data, sizeof(*r));
	memcpy(full, jid, jlen);
	full[jlen] = '\0';
	return XS_OK;
}

/* ---------------------------------------------------------------- the domain table */

static_assert(DB_ROUTE_DOMAIN_MAX <= SESS_KEY_MAX, "a domain is a whole key");
static_assert(DB_ROUTE_DOMAIN_MAX == MSG_ROUTE_DOMAIN_MAX, "one domain limit on rings and keys");

int db_route_put(struct db *db, MDB_txn *txn, const char *domain, size_t len,
                 const struct route_rec *r, const char *module)
{
	size_t ml = module ? strlen(module) : 0;
	if (db->no_routes)
		return XS_ERROR;
	if (len == 0 || len > DB_ROUTE_DOMAIN_MAX || ml > DB_ROUTE_MODULE_MAX) {
		log_error("route %.*s: domain or module name too long", (int)(len > 64 ? 64 : len),
		          domain);
		return XS_ERROR;
	}
	MDB_val k = { len, (void *)domain }, v = { sizeof(*r) + ml, NULL };
	int rc = mdb_put(txn, db->routes, &k, &v, MDB_RESERVE);
	if (rc != 0) {
		log_error("route put %.*s: %s", (int)len, domain, mdb_strerror(rc));
		return XS_ERROR;
	}
	memcpy(v.mv_data, r, sizeof(*r));
	if (ml)
		memcpy((char *)v.mv_data + sizeof(*r), module, ml);
	return XS_OK;
}

/* A stored value as a record and a module name.  XS_OK or XS_ERROR. */
static int route_read(const MDB_val *v, struct route_rec *r, char *module, size_t cap)
{
	if (v->mv_size < sizeof(*r) || v->mv_size > sizeof(*r) + DB_ROUTE_MODULE_MAX)
		return XS_ERROR;
	memcpy(r, v->mv_data, sizeof(*r)); /* LMDB values are not aligned */
	if (module && cap) {
		size_t ml = v->mv_size - sizeof(*r);
		if (ml >= cap)
			ml = cap - 1;
		memcpy(module, (const char *)v->mv_data + sizeof(*r), ml);
		module[ml] = '\0';
	}
	return XS_OK;
}

int db_route_get(struct db *db, MDB_txn *txn, const char *domain, size_t len,
                 struct route_rec *r, char *module, size_t cap)
{
	if (db->no_routes || len == 0 || len > DB_ROUTE_DOMAIN_MAX)
		return XS_PASS;
	MDB_val k = { len, (void *)domain }, v;
	int rc = mdb_get(txn, db->routes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0 || route_read(&v, r, module, cap) != XS_OK) {
		log_error("route get %.*s: %s", (int)len, domain, rc ? mdb_strerror(rc) : "bad record");
		return XS_ERROR;
	}
	return XS_OK;
}

int db_route_del(struct db *db, MDB_txn *txn, const char *domain, size_t len)
{
	if (db->no_routes || len == 0 || len > DB_ROUTE_DOMAIN_MAX)
		return XS_PASS;
	MDB_val k = { len, (void *)domain };
	int rc = mdb_del(txn, db->routes, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0) {
		log_error("route del %.*s: %s", (int)len, domain, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int db_route_foreach(struct db *db, MDB_txn *txn, db_route_visit_fn *fn, void *arg)
{
	if (db->no_routes)
		return XS_PASS;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, db->routes, &cur);
	if (rc != 0) {
		log_error("routes cursor: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	MDB_val k, v;
	char domain[DB_ROUTE_DOMAIN_MAX + 1], module[DB_ROUTE_MODULE_MAX + 1];
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct route_rec r;
		if (k.mv_size == 0 || k.mv_size > DB_ROUTE_DOMAIN_MAX ||
		    route_read(&v, &r, module, sizeof(module)) != XS_OK)
			continue;
		memcpy(domain, k.mv_data, k.mv_size);
		domain[k.mv_size] = '\0';
		if (!fn(domain, &r, module, arg))
			break;
	}
	mdb_cursor_close(cur);
	return XS_OK;
}

const char *db_route_kind_name(const struct route_rec *r)
{
	switch (r->kind) {
	case ROUTE_LOCAL:
		return "local";
	case ROUTE_SERVICE:
		return "service";
	case ROUTE_COMPONENT:
		return "component";
	case ROUTE_REMOTE:
		return r->conn ? "remote" : "connecting";
	default:
		return "unknown";
	}
}

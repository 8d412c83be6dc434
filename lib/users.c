/* users.c — accounts table of the data env. */
#include "lib/users.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <string.h>
#include <time.h>

int users_get(struct db *db, MDB_txn *txn, const char *bare, struct scram_creds *out)
{
	MDB_val k = { strlen(bare), (void *)bare }, v;
	int rc = mdb_get(txn, db->users, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0) {
		log_error("users_get %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	struct user_rec rec;
	if (v.mv_size != sizeof(rec)) {
		log_error("users_get %s: record of %zu bytes, expected %zu", bare, v.mv_size, sizeof(rec));
		return XS_ERROR;
	}
	memcpy(&rec, v.mv_data, sizeof(rec));
	if (rec.version != USER_REC_VERSION) {
		log_error("users_get %s: record version %u", bare, rec.version);
		return XS_ERROR;
	}
	*out = rec.creds;
	return XS_OK;
}

int users_add(struct db *db, MDB_txn *txn, const char *bare, const struct scram_creds *c)
{
	struct user_rec rec = { .version = USER_REC_VERSION, .created = (int64_t)time(NULL),
	                        .creds = *c };
	if (strlen(bare) > USERS_JID_MAX) {
		log_warn("users_add: %.64s...: a JID longer than %d bytes cannot be an account", bare,
		         USERS_JID_MAX);
		return XS_ERROR;
	}
	MDB_val k = { strlen(bare), (void *)bare }, v = { sizeof(rec), &rec };
	int rc = mdb_put(txn, db->users, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return XS_PASS;
	if (rc != 0) {
		log_error("users_add %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int users_del(struct db *db, MDB_txn *txn, const char *bare)
{
	MDB_val k = { strlen(bare), (void *)bare };
	int rc = mdb_del(txn, db->users, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0) {
		log_error("users_del %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

int users_replace(struct db *db, MDB_txn *txn, const char *bare, const struct scram_creds *c)
{
	MDB_val k = { strlen(bare), (void *)bare }, v;
	int rc = mdb_get(txn, db->users, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	struct user_rec rec;
	if (rc != 0 || v.mv_size != sizeof(rec)) {
		log_error("users_replace %s: %s", bare, rc ? mdb_strerror(rc) : "bad record");
		return XS_ERROR;
	}
	memcpy(&rec, v.mv_data, sizeof(rec));
	rec.creds = *c; /* the account keeps its creation time */
	v = (MDB_val){ sizeof(rec), &rec };
	rc = mdb_put(txn, db->users, &k, &v, 0);
	explicit_bzero(&rec, sizeof(rec));
	if (rc != 0) {
		log_error("users_replace %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

/* users.h — accounts in the data env: bare JID -> SCRAM credentials.
 * Never a plaintext password. */
#ifndef XMPPD_LIB_USERS_H
#define XMPPD_LIB_USERS_H

#include "lib/db.h"
#include "lib/scram.h"

#include <stddef.h>

#define USER_REC_VERSION 1
/* Bare JIDs are the key: LMDB keys hold at most 511 bytes (SESS_KEY_MAX in
 * lib/db.h).  A session's full JID may be longer: the session table derives
 * a key for it (db_sess_key). */
#define USERS_JID_MAX 511

struct user_rec {
	uint32_t version;
	uint32_t pad;
	int64_t created;        /* unix time */
	struct scram_creds creds;
};

/* Reads a user's credentials (bare JID already prepared).  XS_OK, XS_PASS when
 * there is no such user, XS_ERROR on a database failure (logged). */
int users_get(struct db *db, MDB_txn *txn, const char *bare, struct scram_creds *out);
/* Adds a user; XS_OK, XS_PASS when it exists, XS_ERROR (logged). */
int users_add(struct db *db, MDB_txn *txn, const char *bare, const struct scram_creds *c);
/* New credentials for an existing user (a password change); XS_OK, XS_PASS
 * when there is no such user, XS_ERROR (logged). */
int users_replace(struct db *db, MDB_txn *txn, const char *bare, const struct scram_creds *c);
/* XS_OK, XS_PASS when there was no such user, XS_ERROR. */
int users_del(struct db *db, MDB_txn *txn, const char *bare);

#endif

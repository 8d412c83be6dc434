/* db.h — opening xmppd's two LMDB environments and the tables in them.
 *
 * data env (cfg data_dir, durable): "users" (bare JID -> struct user_rec),
 * "meta" (server-wide values, e.g. the secret behind fake SCRAM salts), and
 * the tables modules open (roster, offline, vcard, ...: see each module).
 * sessions env (cfg run_dir/sessions, MDB_NOSYNC|MDB_NOMETASYNC, cleared by
 * the master at start): "sess" (full JID -> struct sess_rec), "res"
 * (bare JID -> resource, MDB_DUPSORT) and "pres" (full JID -> the stz
 * encoding of the session's last available presence).
 *
 * Every process opens an environment at most once, after fork, with
 * MDB_NOTLS; the router is the only writer of both. */
#ifndef XMPPD_LIB_DB_H
#define XMPPD_LIB_DB_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

/* Full JIDs are keys of the session tables: LMDB keys hold at most 511 bytes. */
#define SESS_JID_MAX 511

/* A value of the "sess" table. */
struct sess_rec {
	uint64_t conn;           /* connection id (lib/msg.h: worker, generation, slot) */
	int64_t since;           /* unix time of binding */
	int32_t priority;
	uint8_t available;       /* sent available presence and not unavailable */
	uint8_t flags;           /* set by modules (router/module.h enum mod_sess_flag) */
	uint8_t pad[2];
};

struct db {
	MDB_env *env;
	MDB_dbi users, meta;   /* data env */
	MDB_dbi sess, res, pres; /* sessions env */
};

/* Opens (creating the directory and tables when `writer`) the data env.
 * XS_OK or XS_ERROR (logged). */
int db_open_data(struct db *db, const char *data_dir, bool writer);
int db_open_sessions(struct db *db, const char *run_dir, bool writer);
void db_close(struct db *db);
/* Reads the server secret of the data env, creating it on first use (the
 * caller holds a writable env).  XS_OK or XS_ERROR. */
int db_server_secret(struct db *db, uint8_t out[32]);
/* Removes the sessions env files (master, at start). */
int db_clear_sessions(const char *run_dir);
/* Clears reader slots of dead processes; logs how many. */
void db_reader_check(struct db *db);

#endif

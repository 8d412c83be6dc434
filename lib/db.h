/* db.h — opening xmppd's two LMDB environments and the tables in them.
 *
 * data env (cfg data_dir, durable): "users" (bare JID -> struct user_rec),
 * "meta" (server-wide values, e.g. the secret behind fake SCRAM salts), and
 * the tables modules open (roster, offline, vcard, ...: see each module).
 * sessions env (cfg run_dir/sessions, MDB_NOSYNC|MDB_NOMETASYNC, cleared by
 * the master at start): "sess" (session key -> struct sess_rec [+ full JID]),
 * "res" (bare JID -> resource or session key, MDB_DUPSORT) and "pres"
 * (session key -> the stz encoding of the session's last available
 * presence), and "routes" (domain -> struct route_rec [+ module name]: where
 * the domain's stanzas go).  Session keys are laid out below (db_sess_key).
 *
 * Every process opens an environment at most once, after fork, with
 * MDB_NOTLS; the router is the only writer of both. */
#ifndef XMPPD_LIB_DB_H
#define XMPPD_LIB_DB_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

/* LMDB keys, and the values of an MDB_DUPSORT table, hold at most 511 bytes
 * (MDB_MAXKEYSIZE of Debian's liblmdb). */
#define SESS_KEY_MAX 511

/* A value of the "sess" table. */
struct sess_rec {
	uint64_t conn;           /* connection id (lib/msg.h: worker, generation, slot) */
	int64_t since;           /* unix time of binding */
	int32_t priority;
	uint8_t available;       /* sent available presence and not unavailable */
	uint8_t flags;           /* router/module.h enum mod_sess_flag: set by modules, but
	                          * SESS_F_ANONYMOUS, set by the core at binding */
	uint8_t pad[2];
};

/* Session keys.  A full JID may take 511 (lib/users.h USERS_JID_MAX) + 1 +
 * 1023 bytes, more than an LMDB key holds, so:
 *   - a full JID of at most SESS_KEY_MAX bytes (nearly all of them) is its
 *     own key in "sess" and "pres", its "res" value is its resource, and its
 *     "sess" value is a struct sess_rec alone;
 *   - a longer one is keyed by SESS_KEY_HASHED (a NUL byte) + SHA-256(full
 *     JID), SESS_KEY_HASHED_LEN bytes; its "res" value is that key, and its
 *     "sess" value is the struct sess_rec followed by the full JID (without
 *     a NUL), which readers check: the key alone cannot give the JID back.
 * No JID contains U+0000, so a derived key never equals a JID's own key and
 * a "res" value that starts with NUL is a key, never a resource. */
#define SESS_KEY_HASHED     0x00
#define SESS_KEY_HASHED_LEN 33

/* *key = the session key of full (len bytes, a prepared full JID): full
 * itself, or the derived key written to buf.  key points into full or buf.
 * XS_OK or XS_ERROR (hashing failed, logged). */
int db_sess_key(const char *full, size_t len, uint8_t buf[SESS_KEY_HASHED_LEN], MDB_val *key);
/* Whether key (of "sess" or "pres", or a "res" value) is a derived key. */
bool db_sess_key_hashed(const MDB_val *key);
/* The size of the "sess" value of full (len bytes) under key. */
size_t db_sess_val_size(const MDB_val *key, size_t len);
/* Writes the "sess" value (r, and the full JID when key is derived) to dst,
 * db_sess_val_size() bytes (LMDB values are not aligned: it copies bytes). */
void db_sess_val_fill(void *dst, const MDB_val *key, const struct sess_rec *r, const char *full,
                      size_t len);
/* A lookup: the record (key, val) that mdb_get found under full's key, as
 * *r.  XS_OK; XS_PASS when it carries another full JID (SHA-256 collided:
 * not full's session); XS_ERROR when it is malformed. */
int db_sess_rec(const MDB_val *key, const MDB_val *val, const char *full, size_t len,
                struct sess_rec *r);
/* A listing: the record (key, val) as *r and its full JID, NUL-terminated,
 * in full (cap bytes).  XS_OK, or XS_ERROR when the record is malformed (its
 * size, a carried JID that is not the one hashed into the key) or its JID
 * does not fit cap. */
int db_sess_read(const MDB_val *key, const MDB_val *val, struct sess_rec *r, char *full,
                 size_t cap);

/* A session of SASL ANONYMOUS (RFC 4505): its bare JID is an account only
 * while it lasts (router/module.h MOD_SESS_ANONYMOUS, the same bit). */
#define SESS_F_ANONYMOUS 0x80

struct db {
	MDB_env *env;
	MDB_dbi users, meta;   /* data env */
	MDB_dbi sess, res, pres, routes; /* sessions env */
	bool no_routes;        /* a reader of a sessions env made before "routes" was
	                        * (an older router): the route functions find nothing */
};

/* ---- the domain table ("routes" of the sessions env).
 *
 * Key: a prepared domain (1 to DB_ROUTE_DOMAIN_MAX bytes).  Value: a struct
 * route_rec, followed for a ROUTE_SERVICE by the name of the module that
 * serves it (no NUL; at most DB_ROUTE_MODULE_MAX bytes).  The router writes
 * it (local hosts and services at start, connections' routes as workers add
 * and remove them); xmppd-shm-dump reads it. */
#define DB_ROUTE_DOMAIN_MAX 511
#define DB_ROUTE_MODULE_MAX 63

struct route_rec {
	uint64_t conn;           /* ROUTE_COMPONENT, ROUTE_REMOTE: the connection (lib/msg.h
	                          * conn id); 0 for a remote server being connected to */
	int64_t since;           /* unix time the route was set */
	uint8_t kind;            /* enum route_kind (lib/msg.h) */
	uint8_t pad[7];
};

/* Sets domain's route (replacing any); module: the serving module of a
 * ROUTE_SERVICE, else NULL.  XS_OK, or XS_ERROR (a domain or name too long,
 * an LMDB error: logged). */
int db_route_put(struct db *db, MDB_txn *txn, const char *domain, size_t len,
                 const struct route_rec *r, const char *module);
/* domain's route into *r, and the module's name (NUL-terminated) into module
 * (cap bytes, may be NULL).  XS_OK, XS_PASS (none), XS_ERROR. */
int db_route_get(struct db *db, MDB_txn *txn, const char *domain, size_t len,
                 struct route_rec *r, char *module, size_t cap);
/* Removes domain's route.  XS_OK, XS_PASS (none), XS_ERROR.  Without the
 * table (db->no_routes): get and del give XS_PASS, put XS_ERROR, foreach
 * XS_PASS without a visit. */
int db_route_del(struct db *db, MDB_txn *txn, const char *domain, size_t len);
/* Visits every route in domain order; fn returns false to stop.  fn must not
 * write the table (collect what to change, change it after). */
typedef bool db_route_visit_fn(const char *domain, const struct route_rec *r,
                               const char *module, void *arg);
int db_route_foreach(struct db *db, MDB_txn *txn, db_route_visit_fn *fn, void *arg);
/* The name a kind is listed under: "local", "service", "component",
 * "remote", "connecting" (a remote route without its connection yet). */
const char *db_route_kind_name(const struct route_rec *r);

/* Opens (creating the directory and tables when `writer`) the data env.
 * XS_OK or XS_ERROR (logged).  A reader of the sessions env opens one that
 * lacks "routes" too (db->no_routes). */
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

/* sessions.h — the session table in the LMDB sessions env (router/sessions.c).
 *
 * The router is the env's single writer; all work of one drain batch happens
 * in one write transaction, begun by the first call that needs it and
 * committed by sess_commit (the env is MDB_NOSYNC on tmpfs: no fsync).
 * Readers within the batch use that transaction and see its writes.  A leaf:
 * it calls nothing else of router/. */
#ifndef XMPPD_ROUTER_SESSIONS_H
#define XMPPD_ROUTER_SESSIONS_H

#include "lib/cfg.h"
#include "lib/db.h"
#include "lib/stz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Visits each session of a bare JID; return false from fn to stop. */
typedef bool sess_visit_fn(const char *full, const struct sess_rec *r, void *arg);

int sess_open(const struct cfg *cfg);
void sess_close(void);
/* The env and the batch's transaction (begun lazily; NULL on failure,
 * logged), for the other tables of the env (router/routes.c). */
struct db *sess_db(void);
MDB_txn *sess_txn(void);
/* Commits the batch's transaction, if one was begun.  XS_OK or XS_ERROR. */
int sess_commit(void);
/* Binds: res may be "" (one is made); an existing session of that full JID
 * is overwritten (the caller ends it first); flags start its record's flags
 * (SESS_F_ANONYMOUS).  Writes the full JID to full_out.  XS_OK or XS_ERROR. */
int sess_bind(const char *bare, const char *res, uint64_t conn, uint8_t flags, char *full_out,
              size_t cap);
/* Removes a session if it still belongs to conn.  XS_OK, XS_PASS (not there). */
int sess_unbind(const char *full, uint64_t conn);
int sess_get(const char *full, struct sess_rec *out);
int sess_set_presence(const char *full, bool available, int32_t priority);
int sess_set_flags(const char *full, uint8_t set, uint8_t clear);
/* The session's last available presence (stored encoded; XS_PASS: none).
 * The view stays valid until the next sess_presence_get. */
int sess_presence_put(const char *full, const struct stz *s);
int sess_presence_get(const char *full, struct stz *out);
int sess_presence_del(const char *full);
int sess_foreach(const char *bare, sess_visit_fn *fn, void *arg);
/* Visits every session (ctl `sessions`, dropping a dead worker's). */
int sess_foreach_all(sess_visit_fn *fn, void *arg);

#endif

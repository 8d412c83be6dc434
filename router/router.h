/* router.h — the router process's internal interfaces (not for modules).
 *
 * The router drains every worker's up ring in batches, keeps the session /
 * route table (LMDB sessions env) as its single writer, runs the hook chains
 * and IQ handlers of the loaded modules, and writes deliveries to the down
 * rings (queueing per worker, bounded, when one is full). */
#ifndef XMPPD_ROUTER_ROUTER_H
#define XMPPD_ROUTER_ROUTER_H

#include "lib/cfg.h"
#include "lib/db.h"
#include "lib/stz.h"
#include "router/module.h"
#include "shm/shm.h"

#include <stdbool.h>
#include <stdint.h>

struct router_args {
	const struct cfg *cfg;
	struct shm_segment *seg;
	int sock;                /* SOCK_SEQPACKET to the master */
	const int *up_efd;       /* [nworkers]: the router sleeps on these */
	const int *down_efd;     /* [nworkers]: wakes each worker */
};

int router_main(const struct router_args *a);

/* ---- sessions.c: the session table (sessions env), one write txn a batch. */

/* Visits each session of a bare JID; return false from fn to stop. */
typedef bool sess_visit_fn(const char *full, const struct sess_rec *r, void *arg);

int sess_open(const struct cfg *cfg);
void sess_close(void);
/* Begins / commits the batch's transaction (lazily begun by the calls). */
int sess_commit(void);
/* Binds: res may be "" (one is made); an existing session of that full JID
 * is overwritten (the caller ends it first).  Writes the full JID to
 * full_out.  XS_OK or XS_ERROR. */
int sess_bind(const char *bare, const char *res, uint64_t conn, char *full_out, size_t cap);
/* Removes a session if it still belongs to conn.  XS_OK, XS_PASS (not there). */
int sess_unbind(const char *full, uint64_t conn);
int sess_get(const char *full, struct sess_rec *out);
int sess_set_presence(const char *full, bool available, int32_t priority);
/* The session's last available presence (stored encoded; XS_PASS: none).
 * The view stays valid until the next sess_presence_get. */
int sess_presence_put(const char *full, const struct stz *s);
int sess_presence_get(const char *full, struct stz *out);
int sess_presence_del(const char *full);
int sess_foreach(const char *bare, sess_visit_fn *fn, void *arg);
/* Visits every session (ctl `sessions`, dropping a dead worker's). */
int sess_foreach_all(sess_visit_fn *fn, void *arg);
/* Data env for the users table (ctl commands). */
struct db *router_data_db(void);

/* ---- route.c */

/* Routes a stanza that entered the router (from a user, or made here). */
void route_stanza(const struct stz *s);
/* Encodes and routes a stanza built by the router or a module. */
int route_built(struct stz_builder *b);
/* Sends a stanza to connections (grouped per worker). */
void route_deliver(const uint64_t *conns, uint32_t n, const struct stz *s);
/* Bounces an error for s (when RFC 6120 allows one). */
void route_error(const struct stz *s, const char *condition);
/* A session ended (close, kick, worker death): table, hooks, presence. */
void route_session_gone(const char *full, uint64_t conn);
bool route_is_local(const char *domain, size_t len);

/* ---- router.c: down rings */

/* Writes a record to a worker's down ring, or queues it behind earlier ones. */
int router_down(unsigned worker, uint16_t type, const void *head, uint32_t hlen,
                const void *body, uint32_t blen);
const struct cfg *router_cfg(void);
/* The router's event loop: fds watched with a tag whose first int is not a
 * router tag (1, 2) are given to ctl_event. */
int router_watch(int fd, void *tag, uint32_t events);
int router_rewatch(int fd, void *tag, uint32_t events);
void router_unwatch(int fd);

/* ---- plugins.c */

int plugins_load(const struct cfg *cfg);
void plugins_stop(void);
int hooks_run(enum hook_id hook, struct hook_args *args);
bool hooks_any(enum hook_id hook);
/* XS_DONE when a handler answered, XS_PASS when none did. */
int iq_dispatch(const struct stz *s, const char *host);

/* ---- ctl.c: control-socket clients handed over by the master */

void ctl_client_add(int fd);
void ctl_event(void *tag, uint32_t events);

#endif

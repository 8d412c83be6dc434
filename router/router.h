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
 * is overwritten (the caller ends it first); flags start its record's flags
 * (SESS_F_ANONYMOUS).  Writes the full JID to full_out.  XS_OK or XS_ERROR. */
int sess_bind(const char *bare, const char *res, uint64_t conn, uint8_t flags, char *full_out,
              size_t cap);
/* Removes a session if it still belongs to conn.  XS_OK, XS_PASS (not there). */
int sess_unbind(const char *full, uint64_t conn);
int sess_get(const char *full, struct sess_rec *out);
int sess_set_presence(const char *full, bool available, int32_t priority);
/* The session's last available presence (stored encoded; XS_PASS: none).
 * The view stays valid until the next sess_presence_get. */
int sess_set_flags(const char *full, uint8_t set, uint8_t clear);
int sess_presence_put(const char *full, const struct stz *s);
int sess_presence_get(const char *full, struct stz *out);
int sess_presence_del(const char *full);
int sess_foreach(const char *bare, sess_visit_fn *fn, void *arg);
/* Visits every session (ctl `sessions`, dropping a dead worker's). */
int sess_foreach_all(sess_visit_fn *fn, void *arg);

/* ---- data.c: the durable data env, one write transaction a batch. */

int data_open(const struct cfg *cfg);
void data_close(void);
struct db *router_data_db(void);
/* The batch transaction (begun lazily); NULL on failure (logged). */
MDB_txn *data_txn(void);
/* A child of the batch transaction (one at a time); XS_OK or XS_ERROR. */
int data_begin(MDB_txn **child);
/* Commits the child into the batch (ok) or aborts it.  XS_OK when committed. */
int data_end(MDB_txn *child, bool ok);
/* For reads: the open child, else the batch transaction. */
MDB_txn *data_read(void);
/* A child committed since the last data_commit: deliveries must wait for it. */
bool data_dirty(void);
/* Ends the batch: commits (fsync) when something was written.  XS_OK/XS_ERROR. */
int data_commit(void);
void data_reader_check(void);
/* Batches committed so far (xmppctl stats). */
uint64_t data_commits(void);
/* Opens (creating) a named table, outside any batch (module init).  XS_OK/XS_ERROR. */
int data_table(const char *name, unsigned flags, MDB_dbi *out);

/* ---- route.c */

/* Routes a stanza that entered the router (from a user, or made here).
 * Called while another stanza is being routed (from a hook or a handler),
 * the stanza is copied and queued: it is routed after the current one, so
 * module code is never re-entered. */
void route_stanza(const struct stz *s);
/* Routes s at once, inside route_enter/route_leave (a user's stanza after
 * its send hooks): no copy. */
void route_now(const struct stz *s);
/* Encodes and routes a stanza built by the router or a module. */
int route_built(struct stz_builder *b);
/* Encodes and hands a built stanza to connections (route_deliver). */
int route_deliver_built(const uint64_t *conns, uint32_t n, struct stz_builder *b);
/* Sends a stanza to connections (grouped per worker); queued behind routed
 * stanzas in the same way. */
void route_deliver(const uint64_t *conns, uint32_t n, const struct stz *s);
/* Ends a connection with a stream error, after what is queued for it. */
void route_kick(uint64_t conn, uint32_t reason);
/* A stanza from a connection that has not authenticated (jabber:iq:register). */
void route_preauth(const struct stz *s, const char *host, const struct msg_ip *ip);
/* Bounces an error for s (when RFC 6120 allows one); to the connection when
 * s came from one that has not authenticated. */
void route_error(const struct stz *s, const char *condition);
/* The same with another type (NULL: usual), an application condition and a
 * text (NULL: none).  XS_OK, XS_PASS (no error allowed), XS_ERROR. */
int route_error_ext(const struct stz *s, const char *condition, const char *type,
                    const char *app, const char *app_ns, const char *text);
/* route_error_ext without a copy of s's children (they may hold a password). */
int route_error_private(const struct stz *s, const char *condition, const char *text);
/* Routes a built stanza, or hands it to preauth_conn when that is not 0. */
int route_send(struct stz_builder *b, uint64_t preauth_conn);
/* Work done outside route_stanza that may run hooks (a stanza's user_send
 * hooks, ctl commands) is bracketed by these: what hooks route meanwhile is
 * queued and runs at route_leave. */
void route_enter(void);
void route_leave(void);
/* An account was deleted: HOOK_USER_REMOVED. */
void route_user_removed(const char *bare);
/* A session ended (close, kick, worker death): table, hooks, presence. */
void route_session_gone(const char *full, uint64_t conn);
bool route_is_local(const char *domain, size_t len);
/* The trace id of the stanza being routed, 0 when it is not traced. */
uint64_t route_trace(void);
/* Starts (s) or ends (NULL) the tracing context of a stanza from a user. */
void route_trace_begin(const struct stz *s);
/* Unix time the router started (mod_uptime). */
int64_t router_started(void);

/* ---- router.c: down rings */

/* Writes a record to a worker's down ring, or queues it behind earlier ones. */
int router_down(unsigned worker, uint16_t type, const void *head, uint32_t hlen,
                const void *body, uint32_t blen);
const struct cfg *router_cfg(void);
/* Ends a batch: commits the session table and the data env; when the data
 * commit fails, drops the deliveries that waited for it. */
void router_end_batch(void);
/* Counters of the router's work since it started (xmppctl stats). */
struct router_stats {
	uint64_t stanzas;        /* routed from the up rings */
	uint64_t deliveries;     /* records written to down rings */
	uint64_t batches;        /* drain rounds that did work */
	uint64_t data_commits;   /* data env commits (fsyncs), filled in by router_stats() */
};
const struct router_stats *router_stats(void);
struct shm_segment *router_segment(void);
/* Sends a struct msg_ctl to the master.  XS_OK or XS_ERROR (logged). */
int router_tell_master(uint32_t type, int32_t status);
/* The router's event loop: fds watched with a tag whose first int is not a
 * router tag (1, 2) are given to ctl_event. */
int router_watch(int fd, void *tag, uint32_t events);
int router_rewatch(int fd, void *tag, uint32_t events);
void router_unwatch(int fd);

/* ---- plugins.c */

int plugins_load(const struct cfg *cfg);
/* Opens every configured module and runs its option check (xmppd -t, the
 * master at start, a reload), then closes it.  XS_OK or XS_ERROR (logged). */
int plugins_check(const struct cfg *cfg);
/* A reloaded config: each module with a reload function gets its new
 * options (the list of modules itself needs a restart). */
void plugins_reload(const struct cfg *cfg);
void plugins_stop(void);
int hooks_run(enum hook_id hook, struct hook_args *args);
bool hooks_any(enum hook_id hook);
/* XS_DONE when a handler answered, XS_PASS when none did.  preauth_conn and
 * ip: a request from a connection that has not authenticated. */
int iq_dispatch(const struct stz *s, const char *host, uint64_t preauth_conn,
                const struct msg_ip *ip);
/* Service domains (mod_domain_add): XS_DONE when the domain's handler took
 * the stanza, XS_PASS when it declined, XS_ERROR when no such domain. */
int domain_dispatch(const struct stz *s, const char *domain, size_t len);
bool domain_exists(const char *domain, size_t len);

/* ---- ctl.c: control-socket clients handed over by the master */

void ctl_client_add(int fd);
/* The master's answer to a reload a ctl client asked for. */
void ctl_reload_result(int32_t status, const char *text);
void ctl_event(void *tag, uint32_t events);

#endif

/* routes.h — the domain table: where each domain's stanzas go (router/routes.c).
 *
 * The truth is the "routes" table of the LMDB sessions env (lib/db.h), which
 * other processes read (xmppd-shm-dump); the router is its single writer.
 * Every write here goes to the table (in the batch's sessions transaction)
 * and to an in-memory index of the same records, which answers the
 * per-stanza lookups with one hash probe instead of an LMDB search.  Nothing
 * else writes the table, but a batch's transaction may fail to commit (LMDB
 * then loses its writes, the index has them): routes_commit commits the
 * batch and, when that fails, indexes the table again, so the two agree
 * after every batch.
 *
 * Kinds (lib/msg.h enum route_kind): the configured hosts (written at
 * start), service domains of modules (mod_domain_add, at module init), and
 * connections' routes (components, remote servers: MSG_UP_ROUTE_ADD/DEL,
 * removed when the connection closes or its worker dies).  A router that
 * restarts finds the table of the one before: it rewrites hosts and
 * services (the modules register theirs again) and keeps connections'
 * routes whose connections outlived it in the workers: those of a worker
 * that runs the generation the route names (shm/shm.h
 * shm_worker_current); the others are removed (a worker that died while no
 * router ran was reported to none). */
#ifndef XMPPD_ROUTER_ROUTES_H
#define XMPPD_ROUTER_ROUTES_H

#include "lib/cfg.h"
#include "lib/db.h"
#include "shm/shm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct route {
	char *domain;            /* NUL-terminated */
	size_t len;
	struct route_rec rec;
	char module[DB_ROUTE_MODULE_MAX + 1]; /* ROUTE_SERVICE: who serves it */
};

/* After sess_open: rebuilds the table (see above) with cfg's hosts; seg
 * tells which workers' generations run (kept for routes_up_record).
 * XS_OK or XS_ERROR (logged). */
int routes_open(const struct cfg *cfg, struct shm_segment *seg);
void routes_close(void);
/* Ends a batch: sess_commit, and when it fails (XS_ERROR, logged) the
 * index is rebuilt from the table, which lost the batch's writes.  The
 * router commits its sessions transaction through this alone. */
int routes_commit(void);
/* The route of a domain (len bytes, not NUL-terminated), NULL when none.
 * Valid until the next write. */
const struct route *routes_find(const char *domain, size_t len);
bool routes_is_local(const char *domain, size_t len);
/* A service domain of module.  XS_OK, XS_PASS (the domain has a route
 * already: logged), XS_ERROR. */
int routes_add_service(const char *domain, const char *module);
/* Removes domain's route if it is a service of module.  XS_OK, XS_PASS (it
 * is not), XS_ERROR. */
int routes_del_service(const char *domain, const char *module);
/* MSG_UP_ROUTE_ADD and MSG_UP_ROUTE_DEL from worker w: checked (sizes, a
 * connection of w (not 0), the kind a connection may take, a prepared
 * domain: nameprep gives the same bytes back), then applied.  XS_OK,
 * XS_PASS (refused: e.g. a local host's domain, a connection of a
 * generation of w that no longer runs; logged), XS_ERROR (a bad record:
 * logged). */
int routes_up_record(unsigned w, uint16_t type, const void *data, uint32_t len);
/* Removes the routes of a connection that closed (one hash probe when it
 * holds none), of a worker (generation gen) that died.  Return how many
 * went. */
size_t routes_drop_conn(uint64_t conn);
size_t routes_drop_worker(unsigned w, unsigned gen);
/* Visits the table itself (xmppctl routes), in domain order. */
int routes_foreach(db_route_visit_fn *fn, void *arg);
/* Routes in the index. */
size_t routes_count(void);

#endif

/* routes.h — the domain table: where each domain's stanzas go (router/routes.c).
 *
 * The truth is the "routes" table of the LMDB sessions env (lib/db.h), which
 * other processes read (xmppd-shm-dump); the router is its single writer.
 * Every write here goes to the table (in the batch's sessions transaction)
 * and to an in-memory index of the same records, which answers the
 * per-stanza lookups with one hash probe instead of an LMDB search: the two
 * cannot drift, since nothing else writes the table.
 *
 * Kinds (lib/msg.h enum route_kind): the configured hosts (written at
 * start), service domains of modules (mod_domain_add, at module init), and
 * connections' routes (components, remote servers: MSG_UP_ROUTE_ADD/DEL,
 * removed when the connection closes or its worker dies).  A router that
 * restarts finds the table of the one before: it rewrites hosts and
 * services (the modules register theirs again) and keeps connections'
 * routes, whose connections outlived it in the workers. */
#ifndef XMPPD_ROUTER_ROUTES_H
#define XMPPD_ROUTER_ROUTES_H

#include "lib/cfg.h"
#include "lib/db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct route {
	char *domain;            /* NUL-terminated */
	size_t len;
	struct route_rec rec;
	char module[DB_ROUTE_MODULE_MAX + 1]; /* ROUTE_SERVICE: who serves it */
};

/* After sess_open: rebuilds the table (see above) with cfg's hosts.
 * XS_OK or XS_ERROR (logged). */
int routes_open(const struct cfg *cfg);
void routes_close(void);
/* The route of a domain (len bytes, not NUL-terminated), NULL when none.
 * Valid until the next write. */
const struct route *routes_find(const char *domain, size_t len);
bool routes_is_local(const char *domain, size_t len);
/* A service domain of module.  XS_OK, XS_PASS (the domain has a route
 * already: logged), XS_ERROR. */
int routes_add_service(const char *domain, const char *module);
/* MSG_UP_ROUTE_ADD and MSG_UP_ROUTE_DEL from worker w: checked (sizes, the
 * connection is w's, the kind a connection may take), then applied.  XS_OK,
 * XS_PASS (refused: e.g. a local host's domain; logged), XS_ERROR (a bad
 * record: logged). */
int routes_up_record(unsigned w, uint16_t type, const void *data, uint32_t len);
/* Removes the routes of a connection that closed, of a worker (generation
 * gen) that died.  Return how many went. */
size_t routes_drop_conn(uint64_t conn);
size_t routes_drop_worker(unsigned w, unsigned gen);
/* Visits the table itself (xmppctl routes), in domain order. */
int routes_foreach(db_route_visit_fn *fn, void *arg);
/* Routes in the index. */
size_t routes_count(void);

#endif

/* routes.c — the domain table and its in-memory index (router/routes.h).
 *
 * The index is an open-addressing hash table (linear probing, at most half
 * full, deletion by backward shift) of pointers to struct route.  Beside it,
 * a set of the connections that hold routes (same scheme, with a count of
 * routes each), so that a connection's close costs one probe when it holds
 * none: nearly every close is a client's. */
#include "router/routes.h"
#include "router/sessions.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct owner {
	uint64_t conn;           /* 0: an empty slot */
	size_t n;                /* routes naming conn */
};

static struct {
	struct route **slot;
	size_t cap;              /* a power of two, or 0 */
	size_t n;
	size_t nconn;            /* routes of connections */
	struct owner *owner;     /* the connections that hold routes */
	size_t ocap;             /* a power of two, or 0 */
	size_t on;
	struct shm_segment *seg; /* which workers' generations run now */
} routes;

static uint32_t hash_dom(const char *s, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static bool is_conn_kind(uint8_t kind)
{
	return kind == ROUTE_COMPONENT || kind == ROUTE_REMOTE;
}

/* Whether conn is a connection of a worker as it runs now: a route naming
 * any other goes nowhere. */
static bool conn_current(uint64_t conn)
{
	return conn != 0 && shm_worker_current(routes.seg, conn_id_worker(conn), conn_id_gen(conn));
}

/* ---- the set of connections that hold routes */

static size_t hash_conn(uint64_t c)
{
	c ^= c >> 33; /* a 64-bit finalizer: the slot bits of ids vary most */
	c *= 0xff51afd7ed558ccdULL;
	c ^= c >> 33;
	return (size_t)c;
}

static size_t owner_probe(uint64_t conn)
{
	size_t mask = routes.ocap - 1, i = hash_conn(conn) & mask;
	while (routes.owner[i].conn != 0 && routes.owner[i].conn != conn)
		i = (i + 1) & mask;
	return i;
}

/* Room for one more connection, so that owner_add cannot fail after the
 * table was written.  XS_OK or XS_ERROR. */
static int owner_reserve(void)
{
	if ((routes.on + 1) * 2 <= routes.ocap)
		return XS_OK;
	size_t cap = routes.ocap ? routes.ocap * 2 : 16;
	struct owner *no = calloc(cap, sizeof(*no));
	if (no == NULL)
		return XS_ERROR;
	struct owner *old = routes.owner;
	size_t ocap = routes.ocap;
	routes.owner = no;
	routes.ocap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].conn)
			routes.owner[owner_probe(old[i].conn)] = old[i];
	free(old);
	return XS_OK;
}

/* One route more of conn (after owner_reserve). */
static void owner_add(uint64_t conn)
{
	if (conn == 0)
		return;
	size_t i = owner_probe(conn);
	if (routes.owner[i].conn == 0) {
		routes.owner[i].conn = conn;
		routes.on++;
	}
	routes.owner[i].n++;
}

/* How many routes name conn. */
static size_t owner_count(uint64_t conn)
{
	if (conn == 0 || routes.on == 0)
		return 0;
	return routes.owner[owner_probe(conn)].n;
}

/* One route fewer of conn. */
static void owner_del(uint64_t conn)
{
	if (conn == 0 || routes.on == 0)
		return;
	size_t i = owner_probe(conn);
	if (routes.owner[i].conn == 0 || --routes.owner[i].n > 0)
		return;
	routes.owner[i].conn = 0;
	routes.on--;
	size_t mask = routes.ocap - 1, hole = i;
	for (size_t j = (i + 1) & mask; routes.owner[j].conn; j = (j + 1) & mask) {
		size_t home = hash_conn(routes.owner[j].conn) & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			routes.owner[hole] = routes.owner[j];
			routes.owner[j].conn = 0;
			hole = j;
		}
	}
}

/* The route's conn counts in the set (connections' kinds only). */
static void route_owned(const struct route_rec *rec, bool add)
{
	if (!is_conn_kind(rec->kind))
		return;
	routes.nconn += add ? 1 : (size_t)-1;
	if (add)
		owner_add(rec->conn);
	else
		owner_del(rec->conn);
}

/* ---- the index */

/* The slot that holds domain, or the empty slot where it would go. */
static size_t probe(const char *domain, size_t len)
{
	size_t mask = routes.cap - 1, i = hash_dom(domain, len) & mask;
	while (routes.slot[i] &&
	       (routes.slot[i]->len != len || memcmp(routes.slot[i]->domain, domain, len) != 0))
		i = (i + 1) & mask;
	return i;
}

const struct route *routes_find(const char *domain, size_t len)
{
	if (routes.n == 0)
		return NULL;
	return routes.slot[probe(domain, len)];
}

bool routes_is_local(const char *domain, size_t len)
{
	const struct route *r = routes_find(domain, len);
	return r && r->rec.kind == ROUTE_LOCAL;
}

size_t routes_count(void)
{
	return routes.n;
}

static int index_grow(void)
{
	size_t cap = routes.cap ? routes.cap * 2 : 64;
	struct route **ns = calloc(cap, sizeof(*ns));
	if (ns == NULL)
		return XS_ERROR;
	struct route **old = routes.slot;
	size_t ocap = routes.cap;
	routes.slot = ns;
	routes.cap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			routes.slot[probe(old[i]->domain, old[i]->len)] = old[i];
	free(old);
	return XS_OK;
}

static void index_remove_at(size_t i)
{
	struct route *r = routes.slot[i];
	route_owned(&r->rec, false);
	free(r->domain);
	free(r);
	routes.slot[i] = NULL;
	routes.n--;
	/* Backward shift: an entry after the hole that probing would no longer
	 * reach moves into it. */
	size_t mask = routes.cap - 1, hole = i;
	for (size_t j = (i + 1) & mask; routes.slot[j]; j = (j + 1) & mask) {
		size_t home = hash_dom(routes.slot[j]->domain, routes.slot[j]->len) & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			routes.slot[hole] = routes.slot[j];
			routes.slot[j] = NULL;
			hole = j;
		}
	}
}

/* Sets domain's route in the table, then in the index.  XS_OK or XS_ERROR. */
static int route_set(const char *domain, size_t len, uint8_t kind, uint64_t conn,
                     const char *module)
{
	MDB_txn *t = sess_txn();
	if (t == NULL)
		return XS_ERROR;
	struct route_rec rec = { .conn = conn, .since = (int64_t)time(NULL), .kind = kind };
	if (((routes.n + 1) * 2 > routes.cap && index_grow() != XS_OK) ||
	    (is_conn_kind(kind) && owner_reserve() != XS_OK))
		return XS_ERROR;
	size_t i = probe(domain, len);
	struct route *r = routes.slot[i];
	bool fresh = r == NULL;
	if (fresh) {
		r = calloc(1, sizeof(*r));
		char *d = r ? malloc(len + 1) : NULL;
		if (d == NULL) {
			free(r);
			return XS_ERROR;
		}
		memcpy(d, domain, len);
		d[len] = '\0';
		r->domain = d;
		r->len = len;
	}
	if (db_route_put(sess_db(), t, domain, len, &rec, module) != XS_OK) {
		if (fresh) {
			free(r->domain);
			free(r);
		}
		return XS_ERROR;
	}
	if (!fresh)
		route_owned(&r->rec, false);
	r->rec = rec;
	snprintf(r->module, sizeof(r->module), "%s", module ? module : "");
	route_owned(&r->rec, true);
	if (fresh) {
		routes.slot[i] = r;
		routes.n++;
	}
	return XS_OK;
}

/* Removes domain's route from the table and the index.  XS_OK, XS_PASS. */
static int route_del(const char *domain, size_t len)
{
	if (routes.n == 0)
		return XS_PASS;
	size_t i = probe(domain, len);
	if (routes.slot[i] == NULL)
		return XS_PASS;
	MDB_txn *t = sess_txn();
	if (t == NULL || db_route_del(sess_db(), t, domain, len) == XS_ERROR)
		return XS_ERROR;
	index_remove_at(i);
	return XS_OK;
}

/* ---- start */

struct rebuild {
	bool keep_own;           /* index hosts and services too, else drop them */
	char **drop;             /* routes to remove from the table */
	size_t ndrop, cap;
	size_t stale;            /* of them, connections' routes gone with their worker */
	bool failed;
};

/* Indexes a route read from the table (not in the index).  XS_OK, XS_ERROR. */
static int index_put(const char *domain, const struct route_rec *r, const char *module)
{
	if (((routes.n + 1) * 2 > routes.cap && index_grow() != XS_OK) ||
	    (is_conn_kind(r->kind) && owner_reserve() != XS_OK))
		return XS_ERROR;
	size_t len = strlen(domain), i = probe(domain, len);
	struct route *e = calloc(1, sizeof(*e));
	if (e == NULL || (e->domain = strdup(domain)) == NULL) {
		free(e);
		return XS_ERROR;
	}
	e->len = len;
	e->rec = *r;
	snprintf(e->module, sizeof(e->module), "%s", module);
	routes.slot[i] = e;
	routes.n++;
	route_owned(&e->rec, true);
	return XS_OK;
}

static bool rebuild_visit(const char *domain, const struct route_rec *r, const char *module,
                          void *arg)
{
	struct rebuild *b = arg;
	/* A connection's route outlives a router restart while its connection
	 * may: while its worker runs the generation it names.  A worker that
	 * died while no router ran was never reported to one. */
	bool keep = is_conn_kind(r->kind) ? conn_current(r->conn) : b->keep_own;
	if (keep) {
		if (index_put(domain, r, module) != XS_OK) {
			b->failed = true;
			return false;
		}
		return true;
	}
	if (is_conn_kind(r->kind)) {
		log_info("route %s (%s) removed: connection %016" PRIx64 " is of a worker gone",
		         domain, db_route_kind_name(r), r->conn);
		b->stale++;
	}
	if (b->ndrop == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 16;
		char **nd = realloc(b->drop, nc * sizeof(*nd));
		if (nd == NULL) {
			b->failed = true;
			return false;
		}
		b->drop = nd;
		b->cap = nc;
	}
	if ((b->drop[b->ndrop] = strdup(domain)) == NULL) {
		b->failed = true;
		return false;
	}
	b->ndrop++;
	return true;
}

/* Indexes the table (b says what), removing from it what is not indexed.
 * XS_OK or XS_ERROR. */
static int rebuild(struct rebuild *b)
{
	MDB_txn *t = sess_txn();
	if (t == NULL)
		return XS_ERROR;
	int rc = db_route_foreach(sess_db(), t, rebuild_visit, b);
	for (size_t i = 0; i < b->ndrop; i++) {
		if (db_route_del(sess_db(), t, b->drop[i], strlen(b->drop[i])) == XS_ERROR)
			rc = XS_ERROR;
		free(b->drop[i]);
	}
	free(b->drop);
	return rc != XS_OK || b->failed ? XS_ERROR : XS_OK;
}

/* Forgets the index (not the table). */
static void index_free(void)
{
	for (size_t i = 0; i < routes.cap; i++) {
		if (routes.slot[i] == NULL)
			continue;
		free(routes.slot[i]->domain);
		free(routes.slot[i]);
	}
	free(routes.slot);
	free(routes.owner);
	routes.slot = NULL;
	routes.owner = NULL;
	routes.cap = routes.n = routes.nconn = routes.ocap = routes.on = 0;
}

int routes_open(const struct cfg *cfg, struct shm_segment *seg)
{
	routes.seg = seg;
	struct rebuild b = { .keep_own = false };
	if (rebuild(&b) != XS_OK)
		return XS_ERROR;
	if (b.stale)
		log_info("routes: %zu route(s) of connections of workers gone removed", b.stale);
	if (routes.n)
		log_info("routes: %zu route(s) of connections kept from the router before", routes.n);
	for (size_t i = 0; i < cfg->nhosts; i++) {
		const char *h = cfg->hosts[i];
		const struct route *r = routes_find(h, strlen(h));
		if (r && r->rec.kind != ROUTE_LOCAL)
			log_warn("routes: %s was routed to a connection; it is a host of this server", h);
		if (route_set(h, strlen(h), ROUTE_LOCAL, 0, NULL) != XS_OK)
			return XS_ERROR;
	}
	return XS_OK;
}

void routes_close(void)
{
	index_free();
	routes.seg = NULL;
}

int routes_commit(void)
{
	if (sess_commit() == XS_OK)
		return XS_OK;
	/* LMDB dropped the batch's writes (a poisoned transaction: MDB_MAP_FULL,
	 * say) while the index holds them: index the table as it is again. */
	index_free();
	struct rebuild b = { .keep_own = true };
	if (rebuild(&b) != XS_OK)
		log_error("routes: the index could not be rebuilt; %zu route(s) in it", routes.n);
	else
		log_error("routes: the sessions commit failed: %zu route(s) indexed again from the "
		          "table", routes.n);
	return XS_ERROR;
}

int routes_add_service(const char *domain, const char *module)
{
	size_t len = strlen(domain);
	const struct route *r = routes_find(domain, len);
	if (r) {
		log_error("module %s: domain %s is already served (%s)", module, domain,
		          db_route_kind_name(&r->rec));
		return XS_PASS;
	}
	return route_set(domain, len, ROUTE_SERVICE, 0, module);
}

int routes_del_service(const char *domain, const char *module)
{
	size_t len = strlen(domain);
	const struct route *r = routes_find(domain, len);
	if (r == NULL || r->rec.kind != ROUTE_SERVICE || strcmp(r->module, module) != 0)
		return XS_PASS;
	return route_del(domain, len) == XS_ERROR ? XS_ERROR : XS_OK;
}

/* ---- connections' routes */

/* Whether domain (len bytes, NUL after) is a prepared domain: nameprep
 * gives the same bytes back. */
static bool domain_prepared(const char *domain, size_t len)
{
	char out[MSG_ROUTE_DOMAIN_MAX + 1];
	return memchr(domain, '\0', len) == NULL &&
	       jid_nameprep(domain, len, out, sizeof(out)) == XS_OK && strcmp(out, domain) == 0;
}

int routes_up_record(unsigned w, uint16_t type, const void *data, uint32_t len)
{
	const struct msg_route *m = data;
	if (len < sizeof(*m) + 1 || m->domain_len == 0 || m->domain_len > MSG_ROUTE_DOMAIN_MAX ||
	    len < sizeof(*m) + m->domain_len + 1 || m->domain[m->domain_len] != '\0' ||
	    m->conn == 0 || conn_id_worker(m->conn) != w ||
	    (m->kind != ROUTE_COMPONENT && m->kind != ROUTE_REMOTE) ||
	    (type != MSG_UP_ROUTE_ADD && type != MSG_UP_ROUTE_DEL) ||
	    !domain_prepared(m->domain, m->domain_len)) {
		log_error("up ring %u: bad route record (%u bytes)", w, len);
		return XS_ERROR;
	}
	if (!conn_current(m->conn)) {
		/* Published by a generation of w that has died since (its
		 * records are drained after its death): its routes went with it. */
		log_warn("route %s for connection %016" PRIx64 " refused: worker %u runs another "
		         "generation", m->domain, m->conn, w);
		return XS_PASS;
	}
	const struct route *r = routes_find(m->domain, m->domain_len);
	if (type == MSG_UP_ROUTE_DEL) {
		if (r == NULL || !is_conn_kind(r->rec.kind) || r->rec.conn != m->conn)
			return XS_PASS; /* replaced or gone already */
		log_info("route %s (%s) removed", m->domain, db_route_kind_name(&r->rec));
		return route_del(m->domain, m->domain_len) == XS_ERROR ? XS_ERROR : XS_OK;
	}
	if (r && !is_conn_kind(r->rec.kind)) {
		log_warn("route %s for connection %016" PRIx64 " refused: it is %s", m->domain, m->conn,
		         r->rec.kind == ROUTE_LOCAL ? "a host of this server" : "a service");
		return XS_PASS;
	}
	if (r && r->rec.conn != m->conn)
		log_info("route %s: connection %016" PRIx64 " replaces %016" PRIx64, m->domain, m->conn,
		         r->rec.conn);
	if (route_set(m->domain, m->domain_len, (uint8_t)m->kind, m->conn, NULL) != XS_OK)
		return XS_ERROR;
	log_info("route %s (%s) to connection %016" PRIx64, m->domain,
	         m->kind == ROUTE_COMPONENT ? "component" : "remote", m->conn);
	return XS_OK;
}

/* Removes every connection route for which gone(conn) holds, stopping
 * once max went. */
static size_t drop_where(bool (*gone)(uint64_t conn, uint64_t a, uint64_t b), uint64_t a,
                         uint64_t b, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; routes.nconn > 0 && n < max && i < routes.cap;) {
		struct route *r = routes.slot[i];
		if (r == NULL || !is_conn_kind(r->rec.kind) || !gone(r->rec.conn, a, b)) {
			i++;
			continue;
		}
		log_info("route %s (%s) removed: its connection ended", r->domain,
		         db_route_kind_name(&r->rec));
		if (route_del(r->domain, r->len) != XS_OK) {
			i++;
			continue;
		}
		n++; /* slot i may hold a shifted entry now: look at it again */
	}
	return n;
}

static bool same_conn(uint64_t conn, uint64_t a, uint64_t b)
{
	(void)b;
	return conn == a;
}

static bool of_worker(uint64_t conn, uint64_t w, uint64_t gen)
{
	return conn_id_worker(conn) == w && conn_id_gen(conn) == (gen & 0xffff);
}

size_t routes_drop_conn(uint64_t conn)
{
	/* One probe for a connection without routes; a scan only for one that
	 * holds some (a component, an s2s stream), ending at its last route. */
	size_t n = owner_count(conn);
	return n ? drop_where(same_conn, conn, 0, n) : 0;
}

size_t routes_drop_worker(unsigned w, unsigned gen)
{
	return routes.nconn ? drop_where(of_worker, w, gen, SIZE_MAX) : 0;
}

int routes_foreach(db_route_visit_fn *fn, void *arg)
{
	MDB_txn *t = sess_txn();
	return t ? db_route_foreach(sess_db(), t, fn, arg) : XS_ERROR;
}

/* routes.c — the domain table and its in-memory index (router/routes.h).
 *
 * The index is an open-addressing hash table (linear probing, at most half
 * full, deletion by backward shift) of pointers to struct route. */
#include "router/routes.h"
#include "router/sessions.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	struct route **slot;
	size_t cap;              /* a power of two, or 0 */
	size_t n;
	size_t nconn;            /* routes of connections: closes look only when > 0 */
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
	routes.nconn -= is_conn_kind(r->rec.kind);
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
	if ((routes.n + 1) * 2 > routes.cap && index_grow() != XS_OK)
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
		routes.nconn -= is_conn_kind(r->rec.kind);
	r->rec = rec;
	snprintf(r->module, sizeof(r->module), "%s", module ? module : "");
	routes.nconn += is_conn_kind(kind);
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
	char **drop;             /* hosts and services of the router before */
	size_t ndrop, cap;
	bool failed;
};

static bool rebuild_visit(const char *domain, const struct route_rec *r, const char *module,
                          void *arg)
{
	struct rebuild *b = arg;
	if (is_conn_kind(r->kind)) {
		/* A connection's route outlives a router restart: index it as it is. */
		if ((routes.n + 1) * 2 > routes.cap && index_grow() != XS_OK) {
			b->failed = true;
			return false;
		}
		size_t len = strlen(domain), i = probe(domain, len);
		struct route *e = calloc(1, sizeof(*e));
		if (e == NULL || (e->domain = strdup(domain)) == NULL) {
			free(e);
			b->failed = true;
			return false;
		}
		e->len = len;
		e->rec = *r;
		snprintf(e->module, sizeof(e->module), "%s", module);
		routes.slot[i] = e;
		routes.n++;
		routes.nconn++;
		return true;
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

int routes_open(const struct cfg *cfg)
{
	MDB_txn *t = sess_txn();
	if (t == NULL)
		return XS_ERROR;
	struct rebuild b = { 0 };
	int rc = db_route_foreach(sess_db(), t, rebuild_visit, &b);
	for (size_t i = 0; i < b.ndrop; i++) {
		if (db_route_del(sess_db(), t, b.drop[i], strlen(b.drop[i])) == XS_ERROR)
			rc = XS_ERROR;
		free(b.drop[i]);
	}
	free(b.drop);
	if (rc != XS_OK || b.failed)
		return XS_ERROR;
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
	for (size_t i = 0; i < routes.cap; i++) {
		if (routes.slot[i] == NULL)
			continue;
		free(routes.slot[i]->domain);
		free(routes.slot[i]);
	}
	free(routes.slot);
	memset(&routes, 0, sizeof(routes));
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

/* ---- connections' routes */

int routes_up_record(unsigned w, uint16_t type, const void *data, uint32_t len)
{
	const struct msg_route *m = data;
	if (len < sizeof(*m) + 1 || m->domain_len == 0 || m->domain_len > MSG_ROUTE_DOMAIN_MAX ||
	    len < sizeof(*m) + m->domain_len + 1 || m->domain[m->domain_len] != '\0' ||
	    memchr(m->domain, '\0', m->domain_len) != NULL || conn_id_worker(m->conn) != w ||
	    (m->kind != ROUTE_COMPONENT && m->kind != ROUTE_REMOTE) ||
	    (type != MSG_UP_ROUTE_ADD && type != MSG_UP_ROUTE_DEL)) {
		log_error("up ring %u: bad route record (%u bytes)", w, len);
		return XS_ERROR;
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

/* Removes every connection route for which gone(conn) holds. */
static size_t drop_where(bool (*gone)(uint64_t conn, uint64_t a, uint64_t b), uint64_t a,
                         uint64_t b)
{
	size_t n = 0;
	for (size_t i = 0; routes.nconn > 0 && i < routes.cap;) {
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
	return routes.nconn ? drop_where(same_conn, conn, 0) : 0;
}

size_t routes_drop_worker(unsigned w, unsigned gen)
{
	return routes.nconn ? drop_where(of_worker, w, gen) : 0;
}

int routes_foreach(db_route_visit_fn *fn, void *arg)
{
	MDB_txn *t = sess_txn();
	return t ? db_route_foreach(sess_db(), t, fn, arg) : XS_ERROR;
}

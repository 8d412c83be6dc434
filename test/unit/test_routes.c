/* test_routes.c — the domain table: lib/db.h db_route_* on an LMDB env, and
 * router/routes.c over it (hosts written at start, services, the ring
 * records MSG_UP_ROUTE_ADD / MSG_UP_ROUTE_DEL with their checks, routes of
 * closed connections and dead workers, a restarted router, a batch whose
 * commit failed, and an index of many routes that stays equal to the
 * table), and a reader of a sessions env made before the table was. */
#include "router/routes.h"
#include "router/sessions.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char run_dir[] = "/tmp/xmppd-test-routes-XXXXXX";
static char *hosts[] = { "localhost", "example.org" };
static struct cfg cfg;
static struct shm_segment seg;
static char seg_name[SHM_NAME_MAX];

/* Worker w runs generation gen (pid: this process), or none (gen 0). */
static void worker_runs(unsigned w, unsigned gen)
{
	struct shm_worker_stats *st = &shm_slot(&seg, w)->stats;
	atomic_store(&st->generation, gen);
	atomic_store(&st->pid, gen ? (int32_t)getpid() : 0);
}

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERROR); /* the info line of each route is noise here */
	if (mkdtemp(run_dir) == NULL)
		return -1;
	cfg.run_dir = run_dir;
	cfg.hosts = hosts;
	cfg.nhosts = 2;
	snprintf(seg_name, sizeof(seg_name), "/xmppd-test-routes-%d", (int)getpid());
	if (shm_create(&seg, seg_name, 2, 1u << 16) != XS_OK)
		return -1;
	worker_runs(0, 1);
	worker_runs(1, 4);
	if (sess_open(&cfg) != XS_OK || routes_open(&cfg, &seg) != XS_OK)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	routes_close();
	sess_close();
	shm_detach(&seg);
	shm_remove(seg_name);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", run_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A MSG_UP_ROUTE_ADD/DEL record; len: what it claims to be (0: its size). */
struct rec {
	struct msg_route m;
	char d[600];
};

static uint32_t make(struct rec *r, uint64_t conn, uint32_t kind, const char *domain)
{
	memset(r, 0, sizeof(*r));
	r->m.conn = conn;
	r->m.kind = kind;
	r->m.domain_len = (uint16_t)strlen(domain);
	memcpy(r->m.domain, domain, strlen(domain) + 1);
	return (uint32_t)((sizeof(r->m) + strlen(domain) + 1 + 7) & ~7u);
}

/* The route in the LMDB table itself (the truth other processes read). */
static int stored(const char *domain, struct route_rec *out, char *module)
{
	return db_route_get(sess_db(), sess_txn(), domain, strlen(domain), out, module, 64);
}

static void test_db_functions(void **state)
{
	(void)state;
	struct route_rec r = { .conn = 0, .since = 7, .kind = ROUTE_SERVICE }, got;
	char module[64];
	MDB_txn *t = sess_txn();
	assert_int_equal(db_route_put(sess_db(), t, "muc.x", 5, &r, "muc"), XS_OK);
	assert_int_equal(db_route_get(sess_db(), t, "muc.x", 5, &got, module, sizeof(module)), XS_OK);
	assert_int_equal(got.kind, ROUTE_SERVICE);
	assert_int_equal(got.since, 7);
	assert_string_equal(module, "muc");
	assert_string_equal(db_route_kind_name(&got), "service");
	struct route_rec remote = { .kind = ROUTE_REMOTE };
	assert_string_equal(db_route_kind_name(&remote), "connecting");
	remote.conn = 5;
	assert_string_equal(db_route_kind_name(&remote), "remote");
	char longd[DB_ROUTE_DOMAIN_MAX + 2];
	memset(longd, 'a', sizeof(longd));
	assert_int_equal(db_route_put(sess_db(), t, longd, sizeof(longd), &r, NULL), XS_ERROR);
	assert_int_equal(db_route_get(sess_db(), t, longd, sizeof(longd), &got, NULL, 0), XS_PASS);
	assert_int_equal(db_route_del(sess_db(), t, "muc.x", 5), XS_OK);
	assert_int_equal(db_route_del(sess_db(), t, "muc.x", 5), XS_PASS);
	assert_int_equal(db_route_get(sess_db(), t, "muc.x", 5, &got, NULL, 0), XS_PASS);
}

static void test_hosts_at_start(void **state)
{
	(void)state;
	assert_true(routes_is_local("localhost", 9));
	assert_true(routes_is_local("example.org", 11));
	assert_false(routes_is_local("example.com", 11));
	assert_false(routes_is_local("localhost.x", 9 + 2));
	assert_null(routes_find("nowhere", 7));
	struct route_rec r;
	assert_int_equal(stored("localhost", &r, NULL), XS_OK);
	assert_int_equal(r.kind, ROUTE_LOCAL);
}

static void test_services(void **state)
{
	(void)state;
	assert_int_equal(routes_add_service("vjud.localhost", "vcard"), XS_OK);
	const struct route *rt = routes_find("vjud.localhost", 14);
	assert_non_null(rt);
	assert_int_equal(rt->rec.kind, ROUTE_SERVICE);
	assert_string_equal(rt->module, "vcard");
	assert_false(routes_is_local("vjud.localhost", 14));
	assert_int_equal(routes_add_service("vjud.localhost", "other"), XS_PASS);
	assert_int_equal(routes_add_service("localhost", "other"), XS_PASS);
	char module[64];
	struct route_rec r;
	assert_int_equal(stored("vjud.localhost", &r, module), XS_OK);
	assert_string_equal(module, "vcard");
}

static void test_ring_records(void **state)
{
	(void)state;
	struct rec r;
	uint64_t conn = conn_id_make(1, 4, 10, 1), other = conn_id_make(1, 4, 11, 1);
	uint32_t len = make(&r, conn, ROUTE_COMPONENT, "gw.example.net");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_OK);
	const struct route *rt = routes_find("gw.example.net", 14);
	assert_non_null(rt);
	assert_int_equal(rt->rec.kind, ROUTE_COMPONENT);
	assert_int_equal(rt->rec.conn, conn);
	struct route_rec s;
	assert_int_equal(stored("gw.example.net", &s, NULL), XS_OK);
	assert_int_equal(s.conn, conn);

	/* Bad records change nothing. */
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r, len), XS_ERROR); /* w's? */
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, 8), XS_ERROR);
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, sizeof(r.m) + 5), XS_ERROR);
	make(&r, conn, ROUTE_LOCAL, "x.example.net");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_ERROR);
	make(&r, conn, ROUTE_SERVICE, "x.example.net");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_ERROR);
	make(&r, conn, ROUTE_COMPONENT, "x.example.net");
	r.m.domain[r.m.domain_len] = 'z'; /* no NUL after it */
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_ERROR);
	make(&r, conn, ROUTE_COMPONENT, "x.example.net");
	r.m.domain_len = 0;
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_ERROR);
	make(&r, conn, ROUTE_COMPONENT, "x.example.net");
	r.m.domain[3] = '\0'; /* a NUL inside the domain */
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_ERROR);
	assert_int_equal(routes_up_record(1, MSG_UP_STANZA, &r, len), XS_ERROR);
	assert_null(routes_find("x.example.net", 13));

	/* No connection 0 (worker 0's index, so only that check catches it). */
	len = make(&r, 0, ROUTE_REMOTE, "x.example.net");
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r, len), XS_ERROR);
	assert_null(routes_find("x.example.net", 13));
	/* Only prepared domains: no controls, no upper case, no trailing dot. */
	static const char *const unprepared[] = { "x.exa\tmple.net", "x.example.net\n",
		                                      "X.Example.net", "x.example.net.", "a b.net",
		                                      "x..net", "-x.net" };
	for (size_t i = 0; i < sizeof(unprepared) / sizeof(*unprepared); i++) {
		len = make(&r, conn, ROUTE_COMPONENT, unprepared[i]);
		assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_ERROR);
	}
	assert_null(routes_find("x.example.net", 13));
	len = make(&r, conn, ROUTE_COMPONENT, "b\xc3\xbc" "cher.example"); /* nameprep's own */
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_OK);
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_DEL, &r, len), XS_OK);
	/* A connection of a generation of worker 1 that no longer runs (3), or
	 * of one that does not run yet (5): refused, never added. */
	len = make(&r, conn_id_make(1, 3, 10, 1), ROUTE_COMPONENT, "x.example.net");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_PASS);
	len = make(&r, conn_id_make(1, 5, 10, 1), ROUTE_COMPONENT, "x.example.net");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_PASS);
	assert_null(routes_find("x.example.net", 13));
	struct route_rec none;
	assert_int_equal(stored("x.example.net", &none, NULL), XS_PASS);

	/* A connection never takes a host's or a service's domain. */
	len = make(&r, conn, ROUTE_COMPONENT, "localhost");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_PASS);
	assert_true(routes_is_local("localhost", 9));
	len = make(&r, conn, ROUTE_REMOTE, "vjud.localhost");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r, len), XS_PASS);
	assert_int_equal(routes_find("vjud.localhost", 14)->rec.kind, ROUTE_SERVICE);

	/* Only the connection that holds a route removes it. */
	len = make(&r, other, ROUTE_COMPONENT, "gw.example.net");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_DEL, &r, len), XS_PASS);
	assert_non_null(routes_find("gw.example.net", 14));
	len = make(&r, conn, ROUTE_COMPONENT, "gw.example.net");
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_DEL, &r, len), XS_OK);
	assert_null(routes_find("gw.example.net", 14));
	assert_int_equal(stored("gw.example.net", &s, NULL), XS_PASS);
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_DEL, &r, len), XS_PASS);
}

static void test_connection_ends(void **state)
{
	(void)state;
	struct rec r;
	uint64_t c1 = conn_id_make(0, 1, 1, 1), c2 = conn_id_make(0, 1, 2, 1);
	uint64_t c3 = conn_id_make(1, 4, 1, 1);
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, c1, ROUTE_REMOTE, "a.example")), XS_OK);
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, c1, ROUTE_REMOTE, "b.example")), XS_OK);
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, c2, ROUTE_COMPONENT, "c.example")), XS_OK);
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, c3, ROUTE_COMPONENT, "d.example")), XS_OK);
	/* A newer connection replaces a route. */
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, c2, ROUTE_REMOTE, "b.example")), XS_OK);
	assert_int_equal(routes_find("b.example", 9)->rec.conn, c2);
	assert_int_equal(routes_drop_conn(c1), 1);
	assert_null(routes_find("a.example", 9));
	assert_int_equal(routes_drop_conn(c1), 0);
	/* Worker 0 of another generation died: not these. */
	assert_int_equal(routes_drop_worker(0, 2), 0);
	assert_int_equal(routes_drop_worker(0, 1), 2);
	assert_null(routes_find("b.example", 9));
	assert_null(routes_find("c.example", 9));
	assert_non_null(routes_find("d.example", 9));
	struct route_rec s;
	assert_int_equal(stored("c.example", &s, NULL), XS_PASS);
	assert_int_equal(stored("d.example", &s, NULL), XS_OK);
	assert_true(routes_is_local("localhost", 9));
}

/* A service domain's route goes only for the module that serves it. */
static void test_del_service(void **state)
{
	(void)state;
	assert_int_equal(routes_add_service("tmp.localhost", "mod_a"), XS_OK);
	assert_int_equal(routes_del_service("tmp.localhost", "mod_b"), XS_PASS);
	assert_non_null(routes_find("tmp.localhost", 13));
	assert_int_equal(routes_del_service("localhost", "mod_a"), XS_PASS);
	assert_true(routes_is_local("localhost", 9));
	assert_int_equal(routes_del_service("tmp.localhost", "mod_a"), XS_OK);
	assert_null(routes_find("tmp.localhost", 13));
	struct route_rec s;
	assert_int_equal(stored("tmp.localhost", &s, NULL), XS_PASS);
	assert_int_equal(routes_del_service("tmp.localhost", "mod_a"), XS_PASS);
}

/* A batch whose commit fails (here: a write too large for the map poisons
 * the transaction with MDB_MAP_FULL) loses its writes in LMDB; the index
 * must lose them too, and keep what earlier batches committed. */
/* test_commit_fails makes a write spill and then fail with MDB_MAP_FULL;
 * mdb_txn_commit then refuses and aborts the transaction (sess_commit
 * keeps nothing of it), but LMDB 0.9.24 does not free the spill list it
 * allocated for that write.  Under LeakSanitizer (make check-asan) that
 * one allocation of the library is not ours to report. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:mdb_midl_alloc\n";
}

static void test_commit_fails(void **state)
{
	(void)state;
	struct rec r;
	uint64_t conn = conn_id_make(0, 1, 7, 1);
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, conn, ROUTE_COMPONENT, "kept.example")), XS_OK);
	assert_int_equal(routes_commit(), XS_OK);
	size_t before = routes_count();
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, conn, ROUTE_COMPONENT, "lost.example")), XS_OK);
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_DEL, &r,
	                                  make(&r, conn, ROUTE_COMPONENT, "kept.example")), XS_OK);
	assert_null(routes_find("kept.example", 12));
	MDB_val k = { 3, "big" }, v = { (size_t)3 << 30, NULL }; /* more than the 2 GiB map */
	assert_int_equal(mdb_put(sess_txn(), sess_db()->pres, &k, &v, MDB_RESERVE), MDB_MAP_FULL);
	assert_int_equal(routes_commit(), XS_ERROR);
	assert_null(routes_find("lost.example", 12));
	const struct route *rt = routes_find("kept.example", 12);
	assert_non_null(rt);
	assert_int_equal(rt->rec.conn, conn);
	assert_int_equal(routes_count(), before);
	assert_true(routes_is_local("localhost", 9));
	assert_int_equal(routes_find("vjud.localhost", 14)->rec.kind, ROUTE_SERVICE);
	/* The next batch works, and the rebuilt index still drops by connection. */
	assert_int_equal(routes_drop_conn(conn), 1);
	assert_int_equal(routes_commit(), XS_OK);
	struct route_rec s;
	assert_int_equal(stored("kept.example", &s, NULL), XS_PASS);
	assert_int_equal(stored("lost.example", &s, NULL), XS_PASS);
}

/* A restarted router: hosts and services are rewritten (the modules add
 * theirs again), connections' routes are kept. */
static void test_restart(void **state)
{
	(void)state;
	struct route_rec s;
	assert_int_equal(sess_commit(), XS_OK);
	routes_close();
	char *other_hosts[] = { "example.org" };
	struct cfg c2 = cfg;
	c2.hosts = other_hosts;
	c2.nhosts = 1;
	assert_int_equal(routes_open(&c2, &seg), XS_OK);
	assert_non_null(routes_find("d.example", 9));
	assert_int_equal(routes_find("d.example", 9)->rec.kind, ROUTE_COMPONENT);
	assert_null(routes_find("vjud.localhost", 14));
	assert_int_equal(stored("vjud.localhost", &s, NULL), XS_PASS);
	assert_false(routes_is_local("localhost", 9));
	assert_int_equal(stored("localhost", &s, NULL), XS_PASS);
	assert_true(routes_is_local("example.org", 11));
	assert_int_equal(routes_count(), 2);
}

/* Workers that died while no router ran (the master had no router to tell):
 * the restarted router drops the routes of generations that no longer run,
 * from the index and the table, and keeps the others. */
static void test_restart_stale(void **state)
{
	(void)state;
	struct rec r;
	uint64_t w0 = conn_id_make(0, 1, 3, 1), w1 = conn_id_make(1, 4, 3, 1);
	assert_int_equal(routes_up_record(0, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, w0, ROUTE_REMOTE, "w0.example")), XS_OK);
	assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r,
	                                  make(&r, w1, ROUTE_COMPONENT, "w1.example")), XS_OK);
	assert_int_equal(routes_commit(), XS_OK);
	struct route_rec s;
	/* Worker 1 restarted while no router ran: its routes go. */
	routes_close();
	worker_runs(1, 5);
	assert_int_equal(routes_open(&cfg, &seg), XS_OK);
	assert_null(routes_find("w1.example", 10));
	assert_null(routes_find("d.example", 9));
	assert_int_equal(stored("w1.example", &s, NULL), XS_PASS);
	assert_non_null(routes_find("w0.example", 10));
	assert_int_equal(routes_commit(), XS_OK);
	/* Worker 0 is dead and not restarted yet (no pid): its routes go too. */
	routes_close();
	worker_runs(0, 0);
	assert_int_equal(routes_open(&cfg, &seg), XS_OK);
	assert_null(routes_find("w0.example", 10));
	assert_int_equal(stored("w0.example", &s, NULL), XS_PASS);
	assert_int_equal(routes_count(), 2); /* the hosts */
	assert_int_equal(routes_commit(), XS_OK);
	worker_runs(0, 1);
	worker_runs(1, 4);
}

/* xmppd-shm-dump of a newer build reads the sessions env of an older
 * router, made before the "routes" table was: it opens, and lists none. */
static void test_env_without_routes(void **state)
{
	(void)state;
	char dir[] = "/tmp/xmppd-test-oldenv-XXXXXX", sub[64];
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/sessions", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, sub, MDB_NOTLS, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
	assert_int_equal(mdb_dbi_open(t, "sess", MDB_CREATE, &dbi), 0);
	assert_int_equal(mdb_dbi_open(t, "res", MDB_CREATE | MDB_DUPSORT, &dbi), 0);
	assert_int_equal(mdb_dbi_open(t, "pres", MDB_CREATE, &dbi), 0);
	assert_int_equal(mdb_txn_commit(t), 0);
	mdb_env_close(env);

	struct db db = { 0 };
	assert_int_equal(db_open_sessions(&db, dir, false), XS_OK);
	assert_true(db.no_routes);
	assert_int_equal(mdb_txn_begin(db.env, NULL, MDB_RDONLY, &t), 0);
	assert_int_equal(db_route_foreach(&db, t, NULL, NULL), XS_PASS); /* visits none */
	struct route_rec got;
	assert_int_equal(db_route_get(&db, t, "localhost", 9, &got, NULL, 0), XS_PASS);
	mdb_txn_abort(t);
	db_close(&db);
	/* A writer creates the table. */
	struct db w = { 0 };
	assert_int_equal(db_open_sessions(&w, dir, true), XS_OK);
	assert_false(w.no_routes);
	db_close(&w);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

struct count {
	size_t n;
};

static bool count_visit(const char *domain, const struct route_rec *r, const char *module,
                        void *arg)
{
	(void)domain;
	(void)r;
	(void)module;
	((struct count *)arg)->n++;
	return true;
}

/* Thousands of routes: the index grows and loses entries (backward shift)
 * and stays equal to the table. */
static void test_many(void **state)
{
	(void)state;
	enum { N = 3000 };
	struct rec r;
	size_t before = routes_count();
	char d[64];
	for (unsigned i = 0; i < N; i++) {
		snprintf(d, sizeof(d), "s%u.example", i);
		uint64_t conn = conn_id_make(1, 4, 100 + i % 50, 1);
		assert_int_equal(routes_up_record(1, MSG_UP_ROUTE_ADD, &r,
		                                  make(&r, conn, ROUTE_REMOTE, d)), XS_OK);
	}
	assert_int_equal(routes_count(), before + N);
	for (unsigned k = 0; k < 50; k += 2)
		assert_int_equal(routes_drop_conn(conn_id_make(1, 4, 100 + k, 1)), N / 50);
	/* A connection that holds no route (every client's close). */
	assert_int_equal(routes_drop_conn(conn_id_make(1, 4, 99, 1)), 0);
	assert_int_equal(routes_drop_conn(conn_id_make(1, 4, 100, 1)), 0);
	for (unsigned i = 0; i < N; i++) {
		snprintf(d, sizeof(d), "s%u.example", i);
		const struct route *rt = routes_find(d, strlen(d));
		if ((i % 50) % 2 == 0)
			assert_null(rt);
		else
			assert_true(rt && rt->rec.conn == conn_id_make(1, 4, 100 + i % 50, 1));
	}
	struct count c = { 0 };
	assert_int_equal(routes_foreach(count_visit, &c), XS_OK);
	assert_int_equal(c.n, routes_count());
	assert_int_equal(c.n, before + N / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_functions),
		cmocka_unit_test(test_hosts_at_start),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_ring_records),
		cmocka_unit_test(test_connection_ends),
		cmocka_unit_test(test_del_service),
		cmocka_unit_test(test_commit_fails),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_restart_stale),
		cmocka_unit_test(test_env_without_routes),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

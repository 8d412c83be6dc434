/* ctl.c — xmppctl requests, served by the router (the single writer of the
 * databases) on control-socket connections the master accepted and handed
 * over.  A request is its arguments separated by NUL bytes, ended by the
 * client's shutdown(SHUT_WR); the answer is "ok" or "error: REASON" on the
 * first line, then data lines, then the router closes. */
#include "router/ctl.h"
#include "router/data.h"
#include "router/down.h"
#include "router/loop.h"
#include "router/route.h"
#include "router/routes.h"
#include "router/sessions.h"
#include "router/state.h"
#include "lib/buf.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/users.h"
#include "lib/version.h"
#include "lib/xs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define CTL_REQ_MAX    65536
#define CTL_ARGS_MAX   16

struct ctl_client {
	struct loop_watch watch; /* first: the loop hands it back */
	int fd;
	struct buf in, out;
	bool answered;
	bool waiting;            /* for the master's answer (reload) */
	bool json;               /* --json: data as one JSON document */
};

static struct ctl_client *reload_waiter;

static void ctl_event(struct loop_watch *w, uint32_t events);

static void client_free(struct ctl_client *c)
{
	if (reload_waiter == c)
		reload_waiter = NULL;
	loop_unwatch(c->fd);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

void ctl_client_add(int fd)
{
	struct ctl_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->watch.fn = ctl_event;
	c->fd = fd;
	if (loop_watch(fd, &c->watch, EPOLLIN) != XS_OK) {
		close(fd);
		free(c);
	}
}

static void outf(struct ctl_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct ctl_client *c, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_append(&c->out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* A JSON string (RFC 8259) of s, quotes included. */
static void out_json_str(struct ctl_client *c, const char *s)
{
	buf_append(&c->out, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			char e[2] = { '\\', (char)ch };
			buf_append(&c->out, e, 2);
		} else if (ch < 0x20) {
			outf(c, "\\u%04x", ch);
		} else {
			buf_append(&c->out, s, 1);
		}
	}
	buf_append(&c->out, "\"", 1);
}

/* Prepares USER and HOST into a bare JID; answers the error itself. */
static int bare_of(struct ctl_client *c, const char *user, const char *host, char *out, size_t cap)
{
	char node[JID_PART_MAX + 1], dom[JID_PART_MAX + 1];
	if (jid_nodeprep(user, strlen(user), node, sizeof(node)) != XS_OK || node[0] == '\0') {
		outf(c, "error: invalid user name '%s'\n", user);
		return XS_ERROR;
	}
	if (jid_nameprep(host, strlen(host), dom, sizeof(dom)) != XS_OK ||
	    !routes_is_local(dom, strlen(dom))) {
		outf(c, "error: '%s' is not a host of this server\n", host);
		return XS_ERROR;
	}
	snprintf(out, cap, "%s@%s", node, dom);
	return XS_OK;
}

/* A child of the router's batch transaction (router/data.c): committed, and
 * on disk, before the answer is written. */
static int write_txn(struct ctl_client *c, MDB_txn **txn)
{
	if (data_begin(txn) != XS_OK) {
		outf(c, "error: database unavailable\n");
		return XS_ERROR;
	}
	return XS_OK;
}

static int write_done(struct ctl_client *c, MDB_txn *txn, bool ok)
{
	if (data_end(txn, ok) != XS_OK) {
		if (ok)
			outf(c, "error: database write failed\n");
		return XS_ERROR;
	}
	return XS_OK;
}

/* register (create) and passwd (replace): USER HOST PASSWORD -> SCRAM keys. */
static void set_password(struct ctl_client *c, char **argv, bool create)
{
	char bare[JID_MAX + 1];
	if (bare_of(c, argv[1], argv[2], bare, sizeof(bare)) != XS_OK)
		return;
	if (strlen(bare) > USERS_JID_MAX) {
		outf(c, "error: %s is longer than %d bytes\n", bare, USERS_JID_MAX);
		return;
	}
	size_t plen = strlen(argv[3]);
	if (plen == 0) {
		outf(c, "error: empty password\n");
		return;
	}
	struct scram_creds cr;
	if (scram_creds_make(argv[3], plen, router_cfg()->scram_iterations, &cr) != XS_OK) {
		outf(c, "error: cannot derive keys\n");
		return;
	}
	MDB_txn *txn;
	if (write_txn(c, &txn) != XS_OK) {
		explicit_bzero(&cr, sizeof(cr));
		return;
	}
	int rc = create ? users_add(router_data_db(), txn, bare, &cr)
	                : users_replace(router_data_db(), txn, bare, &cr);
	explicit_bzero(&cr, sizeof(cr));
	if (rc != XS_OK) {
		write_done(c, txn, false);
		if (rc == XS_PASS)
			outf(c, create ? "error: user %s already exists\n" : "error: no user %s\n", bare);
		else
			outf(c, "error: cannot %s %s\n", create ? "add" : "change", bare);
		return;
	}
	if (write_done(c, txn, true) != XS_OK)
		return;
	log_info(create ? "registered %s" : "password of %s changed", bare);
	outf(c, "ok\n");
}

static void cmd_register(struct ctl_client *c, char **argv)
{
	set_password(c, argv, true);
}

static void cmd_passwd(struct ctl_client *c, char **argv)
{
	set_password(c, argv, false);
}

/* What to do to each session of an account: end it with a reason, or
 * start / stop tracing it. */
struct each_session {
	enum { EACH_KICK, EACH_TRACE } what;
	uint32_t arg;            /* kick reason, or trace on */
	size_t n;
};

static void to_session(struct each_session *e, uint64_t conn)
{
	if (e->what == EACH_KICK) {
		route_kick(conn, e->arg);
	} else {
		struct msg_trace m = { .conn = conn, .on = e->arg };
		down_send(conn_id_worker(conn), MSG_DOWN_TRACE, &m, sizeof(m), NULL, 0);
	}
	e->n++;
}

static bool each_visit(const char *full, const struct sess_rec *r, void *arg)
{
	(void)full;
	to_session(arg, r->conn);
	return true;
}

static void cmd_unregister(struct ctl_client *c, char **argv)
{
	char bare[JID_MAX + 1];
	if (bare_of(c, argv[1], argv[2], bare, sizeof(bare)) != XS_OK)
		return;
	MDB_txn *txn;
	if (write_txn(c, &txn) != XS_OK)
		return;
	int rc = users_del(router_data_db(), txn, bare);
	if (rc != XS_OK) {
		write_done(c, txn, false);
		outf(c, rc == XS_PASS ? "error: no user %s\n" : "error: cannot remove %s\n", bare);
		return;
	}
	if (write_done(c, txn, true) != XS_OK)
		return;
	/* Its data goes with it (each module's), and its sessions end. */
	route_enter();
	route_user_removed(bare);
	struct each_session e = { .what = EACH_KICK, .arg = KICK_REMOVED };
	sess_foreach(bare, each_visit, &e);
	route_leave();
	log_info("unregistered %s", bare);
	outf(c, "ok\n");
}

static void cmd_users(struct ctl_client *c, char **argv)
{
	char dom[JID_PART_MAX + 1];
	if (jid_nameprep(argv[1], strlen(argv[1]), dom, sizeof(dom)) != XS_OK ||
	    !routes_is_local(dom, strlen(dom))) {
		outf(c, "error: '%s' is not a host of this server\n", argv[1]);
		return;
	}
	MDB_txn *txn = data_read();
	MDB_cursor *cur;
	if (txn == NULL || mdb_cursor_open(txn, router_data_db()->users, &cur) != 0) {
		outf(c, "error: database cursor\n");
		return;
	}
	outf(c, c->json ? "ok\n[" : "ok\n");
	MDB_val k, v;
	size_t dl = strlen(dom), n = 0;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *key = k.mv_data;
		const char *at = memchr(key, '@', k.mv_size);
		if (!at || (size_t)(key + k.mv_size - at - 1) != dl || memcmp(at + 1, dom, dl) != 0)
			continue;
		if (!c->json) {
			outf(c, "%.*s\n", (int)(at - key), key);
			continue;
		}
		char node[JID_PART_MAX + 1];
		size_t nl = (size_t)(at - key) < sizeof(node) ? (size_t)(at - key) : sizeof(node) - 1;
		memcpy(node, key, nl);
		node[nl] = '\0';
		outf(c, n++ ? "," : "");
		out_json_str(c, node);
	}
	mdb_cursor_close(cur);
	if (c->json)
		outf(c, "]\n");
}

struct sess_out {
	struct ctl_client *c;
	size_t n;
};

static bool print_session(const char *full, const struct sess_rec *r, void *arg)
{
	struct sess_out *o = arg;
	const char *pres = r->available ? "available" : "unavailable";
	if (!o->c->json) {
		outf(o->c, "%s\t%u\t%016" PRIx64 "\t%d\t%s\t%" PRId64 "\n", full,
		     conn_id_worker(r->conn), r->conn, r->priority, pres, r->since);
		return true;
	}
	outf(o->c, "%s{\"jid\":", o->n++ ? "," : "");
	out_json_str(o->c, full);
	outf(o->c, ",\"worker\":%u,\"connection\":\"%016" PRIx64 "\",\"priority\":%d,"
	     "\"presence\":\"%s\",\"since\":%" PRId64 "}", conn_id_worker(r->conn), r->conn,
	     r->priority, pres, r->since);
	return true;
}

static void cmd_sessions(struct ctl_client *c, char **argv)
{
	(void)argv;
	struct sess_out o = { .c = c };
	outf(c, c->json ? "ok\n[" : "ok\n");
	sess_foreach_all(print_session, &o);
	if (c->json)
		outf(c, "]\n");
}

/* kick JID: a full JID ends that session, a bare JID every session of the
 * account (stream error policy-violation, "Ended by an administrator"). */
static void cmd_kick(struct ctl_client *c, char **argv)
{
	char jid[JID_MAX + 1];
	struct jid j;
	if (jid_parse(argv[1], strlen(argv[1]), &j) != XS_OK || jid_full(&j, jid, sizeof(jid)) < 0) {
		outf(c, "error: '%s' is not a valid JID\n", argv[1]);
		return;
	}
	struct each_session e = { .what = EACH_KICK, .arg = KICK_ADMIN };
	route_enter();
	struct sess_rec r;
	if (strchr(jid, '/')) {
		if (sess_get(jid, &r) == XS_OK)
			to_session(&e, r.conn);
	} else {
		sess_foreach(jid, each_visit, &e);
	}
	route_leave();
	if (e.n == 0) {
		outf(c, "error: no session of %s\n", jid);
		return;
	}
	log_info("kicked %zu session(s) of %s", e.n, jid);
	outf(c, c->json ? "ok\n{\"kicked\":%zu}\n" : "ok\n%zu session(s) ended\n", e.n);
}

/* trace JID on|off: every process logs each stage of that account's
 * stanzas under one id per stanza (lines "trace ID STAGE ..."). */
static void cmd_trace(struct ctl_client *c, char **argv)
{
	bool on = strcmp(argv[2], "on") == 0;
	if (!on && strcmp(argv[2], "off") != 0) {
		outf(c, "error: say on or off, not '%s'\n", argv[2]);
		return;
	}
	struct jid j;
	char bare[JID_MAX + 1];
	if (jid_parse(argv[1], strlen(argv[1]), &j) != XS_OK || !j.node[0] ||
	    jid_bare(&j, bare, sizeof(bare)) < 0) {
		outf(c, "error: '%s' is not a user's JID\n", argv[1]);
		return;
	}
	int rc = shm_trace_set(router_segment(), bare, on);
	if (rc == XS_ERROR) {
		outf(c, "error: cannot trace %s: %u JIDs are traced already, or it is longer than "
		     "%u bytes\n", bare, SHM_TRACE_MAX, SHM_TRACE_JID - 1);
		return;
	}
	/* Sessions already open start or stop at once. */
	struct each_session e = { .what = EACH_TRACE, .arg = on };
	sess_foreach(bare, each_visit, &e);
	log_info("tracing of %s %s (%zu session(s))", bare, on ? "on" : "off", e.n);
	outf(c, "ok\n");
}

static bool count_session(const char *full, const struct sess_rec *r, void *arg)
{
	(void)full;
	size_t *n = arg;
	n[0]++;
	n[1] += r->available;
	return true;
}

static void cmd_status(struct ctl_client *c, char **argv)
{
	(void)argv;
	const struct cfg *cfg = router_cfg();
	struct shm_segment *seg = router_segment();
	size_t sessions[2] = { 0, 0 };
	sess_foreach_all(count_session, sessions);
	unsigned alive = 0;
	uint64_t conns = 0;
	for (unsigned w = 0; w < cfg->workers; w++) {
		struct shm_worker_stats *st = &shm_slot(seg, w)->stats;
		alive += atomic_load(&st->pid) > 0;
		conns += atomic_load(&st->connections);
	}
	long up = (long)(time(NULL) - router_started());
	int mpid = atomic_load(&seg->hdr->master_pid);
	if (c->json) {
		outf(c, "ok\n{\"version\":\"%s\",\"master_pid\":%d,\"uptime\":%ld,\"workers\":%u,"
		     "\"workers_running\":%u,\"connections\":%" PRIu64 ",\"sessions\":%zu,"
		     "\"available\":%zu,\"hosts\":%zu,\"loglevel\":\"%s\"}\n", XMPPD_VERSION, mpid,
		     up, cfg->workers, alive, conns, sessions[0], sessions[1], cfg->nhosts,
		     log_level_name(log_get_level()));
		return;
	}
	outf(c, "ok\nxmppd %s is running (master pid %d), router up %ld s\n"
	     "workers: %u of %u running\nconnections: %" PRIu64 "\n"
	     "sessions: %zu (%zu available)\nhosts: %zu\nloglevel: %s\n", XMPPD_VERSION, mpid, up,
	     alive, cfg->workers, conns, sessions[0], sessions[1], cfg->nhosts,
	     log_level_name(log_get_level()));
}

static void cmd_stats(struct ctl_client *c, char **argv)
{
	(void)argv;
	const struct cfg *cfg = router_cfg();
	struct shm_segment *seg = router_segment();
	const struct router_stats *rs = router_stats();
	uint64_t commits = data_commits();
	if (c->json)
		outf(c, "ok\n{\"router\":{\"stanzas\":%" PRIu64 ",\"deliveries\":%" PRIu64
		     ",\"batches\":%" PRIu64 ",\"data_commits\":%" PRIu64 "},\"workers\":[",
		     rs->stanzas, rs->deliveries, rs->batches, commits);
	else
		outf(c, "ok\nrouter: %" PRIu64 " stanzas routed, %" PRIu64 " delivery records, %" PRIu64
		     " batches, %" PRIu64 " data commits\n", rs->stanzas, rs->deliveries, rs->batches,
		     commits);
	for (unsigned w = 0; w < cfg->workers; w++) {
		struct shm_worker_stats *st = &shm_slot(seg, w)->stats;
		uint64_t v[7] = { atomic_load(&st->connections), atomic_load(&st->sessions),
		                  atomic_load(&st->accepted), atomic_load(&st->stanzas_in),
		                  atomic_load(&st->stanzas_out), atomic_load(&st->bytes_in),
		                  atomic_load(&st->bytes_out) };
		struct ring *up = shm_up_ring(seg, w), *down = shm_down_ring(seg, w);
		uint64_t hu = atomic_load(&up->high_water), hd = atomic_load(&down->high_water);
		if (c->json)
			outf(c, "%s{\"worker\":%u,\"pid\":%d,\"connections\":%" PRIu64 ",\"sessions\":%"
			     PRIu64 ",\"accepted\":%" PRIu64 ",\"stanzas_in\":%" PRIu64 ",\"stanzas_out\":%"
			     PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
			     ",\"up_ring_high_water\":%" PRIu64 ",\"down_ring_high_water\":%" PRIu64 "}",
			     w ? "," : "", w, (int)atomic_load(&st->pid), v[0], v[1], v[2], v[3], v[4], v[5],
			     v[6], hu, hd);
		else
			outf(c, "worker %u (pid %d): %" PRIu64 " connections, %" PRIu64 " sessions, %" PRIu64
			     " accepted, stanzas in/out %" PRIu64 "/%" PRIu64 ", bytes in/out %" PRIu64 "/%"
			     PRIu64 ", ring high water up/down %" PRIu64 "/%" PRIu64 "\n", w,
			     (int)atomic_load(&st->pid), v[0], v[1], v[2], v[3], v[4], v[5], v[6], hu, hd);
	}
	if (c->json)
		outf(c, "]}\n");
}

/* routes: the domain table, one line per domain: domain, kind, then the
 * module (service) or the worker and connection (component, remote). */
struct routes_out {
	struct ctl_client *c;
	size_t n;
};

static bool print_route(const char *domain, const struct route_rec *r, const char *module,
                        void *arg)
{
	struct routes_out *o = arg;
	const char *kind = db_route_kind_name(r);
	bool conn = r->kind == ROUTE_COMPONENT || (r->kind == ROUTE_REMOTE && r->conn);
	if (!o->c->json) {
		if (conn)
			outf(o->c, "%s\t%s\t%u\t%016" PRIx64 "\n", domain, kind, conn_id_worker(r->conn),
			     r->conn);
		else
			outf(o->c, "%s\t%s\t%s\n", domain, kind, r->kind == ROUTE_SERVICE ? module : "-");
		return true;
	}
	outf(o->c, "%s{\"domain\":", o->n++ ? "," : "");
	out_json_str(o->c, domain);
	outf(o->c, ",\"kind\":\"%s\"", kind);
	if (r->kind == ROUTE_SERVICE) {
		outf(o->c, ",\"module\":");
		out_json_str(o->c, module);
	}
	if (conn)
		outf(o->c, ",\"worker\":%u,\"connection\":\"%016" PRIx64 "\"", conn_id_worker(r->conn),
		     r->conn);
	outf(o->c, ",\"since\":%" PRId64 "}", r->since);
	return true;
}

static void cmd_routes(struct ctl_client *c, char **argv)
{
	(void)argv;
	struct routes_out o = { .c = c };
	outf(c, c->json ? "ok\n[" : "ok\n");
	routes_foreach(print_route, &o);
	if (c->json)
		outf(c, "]\n");
}

/* The master reloads (it owns the listeners and validates the file first);
 * the answer comes back through ctl_reload_result. */
static void cmd_reload(struct ctl_client *c, char **argv)
{
	(void)argv;
	if (reload_waiter) {
		outf(c, "error: a reload is already running\n");
		return;
	}
	if (router_tell_master(MSG_SOCK_RELOAD_REQ, 0) != XS_OK) {
		outf(c, "error: cannot reach the master\n");
		return;
	}
	reload_waiter = c;
	c->waiting = true;
}

void ctl_reload_result(int32_t status, const char *text)
{
	struct ctl_client *c = reload_waiter;
	reload_waiter = NULL;
	if (c == NULL)
		return;
	if (status != XS_OK) {
		outf(c, "error: %s\n", text);
	} else if (c->json) {
		outf(c, "ok\n{\"result\":");
		out_json_str(c, text);
		outf(c, "}\n");
	} else {
		outf(c, "ok\n%s\n", text);
	}
	c->waiting = false;
	c->answered = true;
	loop_rewatch(c->fd, &c->watch, EPOLLOUT);
}

static void cmd_loglevel(struct ctl_client *c, char **argv)
{
	enum log_level l;
	if (log_level_parse(argv[1], &l) != XS_OK) {
		outf(c, "error: '%s' is not a level (error, warning, info, debug)\n", argv[1]);
		return;
	}
	if (router_tell_master(MSG_SOCK_LOGLEVEL, (int32_t)l) != XS_OK) {
		outf(c, "error: cannot reach the master\n");
		return;
	}
	log_set_level(l);
	outf(c, "ok\n");
}

static const struct {
	const char *name;
	int argc;
	void (*fn)(struct ctl_client *c, char **argv);
} commands[] = {
	{ "reload", 1, cmd_reload },
	{ "loglevel", 2, cmd_loglevel },
	{ "passwd", 4, cmd_passwd },
	{ "kick", 2, cmd_kick },
	{ "status", 1, cmd_status },
	{ "stats", 1, cmd_stats },
	{ "trace", 3, cmd_trace },
	{ "register", 4, cmd_register },
	{ "unregister", 3, cmd_unregister },
	{ "users", 2, cmd_users },
	{ "sessions", 1, cmd_sessions },
	{ "routes", 1, cmd_routes },
};

static void execute(struct ctl_client *c)
{
	char *argv[CTL_ARGS_MAX];
	int argc = 0;
	if (buf_append(&c->in, "", 1) != XS_OK)
		return;
	char *p = c->in.data, *end = c->in.data + c->in.len - 1;
	while (p < end && argc < CTL_ARGS_MAX) {
		argv[argc++] = p;
		p += strlen(p) + 1;
	}
	if (argc > 0 && strcmp(argv[0], "--json") == 0) {
		c->json = true;
		for (int i = 1; i < argc; i++)
			argv[i - 1] = argv[i];
		argc--;
	}
	if (argc == 0) {
		outf(c, "error: empty request\n");
		return;
	}
	for (size_t i = 0; i < XS_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[0], commands[i].name) != 0)
			continue;
		if (argc != commands[i].argc) {
			outf(c, "error: %s takes %d argument(s)\n", argv[0], commands[i].argc - 1);
			return;
		}
		commands[i].fn(c, argv);
		return;
	}
	outf(c, "error: unknown command '%s'\n", argv[0]);
}

static void ctl_event(struct loop_watch *w, uint32_t events)
{
	struct ctl_client *c = (struct ctl_client *)w;
	if (!c->answered && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		char data[4096];
		ssize_t n = read(c->fd, data, sizeof(data));
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			client_free(c);
			return;
		}
		if (n > 0) {
			if (c->in.len + (size_t)n > CTL_REQ_MAX) {
				client_free(c);
				return;
			}
			buf_append(&c->in, data, (size_t)n);
			return;
		}
		if (n == 0) {
			execute(c);
			/* The answer says it is done: it is on disk first. */
			down_end_batch();
			if (c->waiting) { /* answered when the master is done */
				loop_rewatch(c->fd, &c->watch, 0);
				return;
			}
			c->answered = true;
			loop_rewatch(c->fd, &c->watch, EPOLLOUT);
		}
		return;
	}
	if (c->answered) {
		while (buf_pending(&c->out) > 0) {
			ssize_t n = write(c->fd, c->out.data + c->out.off, buf_pending(&c->out));
			if (n == -1) {
				if (errno == EAGAIN)
					return;
				break;
			}
			buf_consume(&c->out, (size_t)n);
		}
		client_free(c);
	}
}

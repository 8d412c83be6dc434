/* ctl.c — xmppctl requests, served by the router (the single writer of the
 * databases) on control-socket connections the master accepted and handed
 * over.  A request is its arguments separated by NUL bytes, ended by the
 * client's shutdown(SHUT_WR); the answer is "ok" or "error: REASON" on the
 * first line, then data lines, then the router closes. */
#include "router/router.h"
#include "lib/buf.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/users.h"
#include "lib/xs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CTL_TAG        0x43544c00 /* never a router tag */
#define CTL_REQ_MAX    65536
#define CTL_ARGS_MAX   16

struct ctl_client {
	int tag;
	int fd;
	struct buf in, out;
	bool answered;
};

static void client_free(struct ctl_client *c)
{
	router_unwatch(c->fd);
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
	c->tag = CTL_TAG;
	c->fd = fd;
	if (router_watch(fd, c, EPOLLIN) != XS_OK) {
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

/* Prepares USER and HOST into a bare JID; answers the error itself. */
static int bare_of(struct ctl_client *c, const char *user, const char *host, char *out, size_t cap)
{
	char node[JID_PART_MAX + 1], dom[JID_PART_MAX + 1];
	if (jid_nodeprep(user, strlen(user), node, sizeof(node)) != XS_OK || node[0] == '\0') {
		outf(c, "error: invalid user name '%s'\n", user);
		return XS_ERROR;
	}
	if (jid_nameprep(host, strlen(host), dom, sizeof(dom)) != XS_OK ||
	    !route_is_local(dom, strlen(dom))) {
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

static void cmd_register(struct ctl_client *c, char **argv)
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
	if (write_txn(c, &txn) != XS_OK)
		return;
	int rc = users_add(router_data_db(), txn, bare, &cr);
	explicit_bzero(&cr, sizeof(cr));
	if (rc != XS_OK) {
		write_done(c, txn, false);
		outf(c, rc == XS_PASS ? "error: user %s already exists\n" : "error: cannot add %s\n", bare);
		return;
	}
	if (write_done(c, txn, true) != XS_OK)
		return;
	log_info("registered %s", bare);
	outf(c, "ok\n");
}

struct kick_list {
	uint64_t conns[64];
	size_t n;
};

static bool collect_conn(const char *full, const struct sess_rec *r, void *arg)
{
	(void)full;
	struct kick_list *k = arg;
	if (k->n < XS_ARRAY_LEN(k->conns))
		k->conns[k->n++] = r->conn;
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
	struct kick_list k = { .n = 0 };
	sess_foreach(bare, collect_conn, &k);
	for (size_t i = 0; i < k.n; i++)
		route_kick(k.conns[i], KICK_REMOVED);
	route_leave();
	log_info("unregistered %s", bare);
	outf(c, "ok\n");
}

static void cmd_users(struct ctl_client *c, char **argv)
{
	char dom[JID_PART_MAX + 1];
	if (jid_nameprep(argv[1], strlen(argv[1]), dom, sizeof(dom)) != XS_OK ||
	    !route_is_local(dom, strlen(dom))) {
		outf(c, "error: '%s' is not a host of this server\n", argv[1]);
		return;
	}
	MDB_txn *txn = data_read();
	MDB_cursor *cur;
	if (txn == NULL || mdb_cursor_open(txn, router_data_db()->users, &cur) != 0) {
		outf(c, "error: database cursor\n");
		return;
	}
	outf(c, "ok\n");
	MDB_val k, v;
	size_t dl = strlen(dom);
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const char *key = k.mv_data;
		const char *at = memchr(key, '@', k.mv_size);
		if (at && (size_t)(key + k.mv_size - at - 1) == dl && memcmp(at + 1, dom, dl) == 0)
			outf(c, "%.*s\n", (int)(at - key), key);
	}
	mdb_cursor_close(cur);
}

static bool print_session(const char *full, const struct sess_rec *r, void *arg)
{
	outf(arg, "%s\t%u\t%016" PRIx64 "\t%d\t%s\t%" PRId64 "\n", full, conn_id_worker(r->conn),
	     r->conn, r->priority, r->available ? "available" : "unavailable", r->since);
	return true;
}

static void cmd_sessions(struct ctl_client *c, char **argv)
{
	(void)argv;
	outf(c, "ok\n");
	sess_foreach_all(print_session, c);
}

static const struct {
	const char *name;
	int argc;
	void (*fn)(struct ctl_client *c, char **argv);
} commands[] = {
	{ "register", 4, cmd_register },
	{ "unregister", 3, cmd_unregister },
	{ "users", 2, cmd_users },
	{ "sessions", 1, cmd_sessions },
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

void ctl_event(void *tag, uint32_t events)
{
	struct ctl_client *c = tag;
	if (c->tag != CTL_TAG)
		return;
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
			sess_commit();
			data_commit();
			c->answered = true;
			router_rewatch(c->fd, c, EPOLLOUT);
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

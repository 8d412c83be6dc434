/* master.c — the master process.
 *
 * It never parses XML and never reads a client byte: it accepts, picks the
 * least-loaded worker from the shm stats and passes the socket over that
 * worker's SOCK_SEQPACKET pair with SCM_RIGHTS, closing its own copy.  It
 * restarts a child that dies (within a second; a child that keeps dying
 * right after start is restarted once a second), tells the router which
 * worker died, and hands control-socket clients to the router. */
#include "daemon/master.h"
#include "daemon/iplimit.h"
#include "lib/cfg_settings.h"
#include "lib/db.h"
#include "lib/fdpass.h"
#include "lib/log.h"
#include "lib/msg.h"
#include "lib/xs.h"
#include "router/router.h"
#include "shm/shm.h"
#include "workers/tls.h"
#include "workers/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { TAG_LISTEN = 1, TAG_CTL, TAG_SIGNAL, TAG_ROUTER, TAG_WORKER };

struct listener {
	int tag;
	int fd;
	unsigned index;
};

struct child {
	int tag;              /* TAG_WORKER: its socket is watched for reports */
	unsigned index;
	pid_t pid;
	int sock;             /* master's end of the SOCK_SEQPACKET pair, -1 if none */
	struct timespec started;
	struct timespec restart_at; /* when a pending restart is due */
	bool restart;
	uint64_t handed;      /* connections passed to this worker */
	unsigned generation;
};

static struct {
	struct cfg *cfg;      /* the one in force (after a reload: a heap copy) */
	struct cfg *first;    /* the one main() loaded and owns */
	unsigned reload_acks; /* children that have not answered the last reload */
	bool reload_for_router; /* the router asked (xmppctl reload): it gets the result */
	struct shm_segment seg;
	int epfd, sigfd, ctl_fd;
	struct listener *lst;
	size_t nlst;
	struct child router;
	struct child *workers;
	int *up_efd, *down_efd;
	pid_t self;
	bool stopping;
	bool pidfile_written;
	int exit_code;        /* of master_run */
	int ready_fd;         /* xmppd -d waits on it; -1 once told */
	uint8_t secret[32];   /* behind fake SCRAM salts: stable across restarts */
	uint8_t ticket_key[TLS_TICKET_KEY_LEN]; /* one for all workers: resumption anywhere */
} M;

static int tag_ctl = TAG_CTL, tag_signal = TAG_SIGNAL, tag_router = TAG_ROUTER;

static double since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static int watch(int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };
	if (epoll_ctl(M.epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_error("epoll_ctl: %s", strerror(errno));
		return XS_ERROR;
	}
	return XS_OK;
}

/* ------------------------------------------------------------ set-up */

static int open_listener(const struct cfg_listen *l, unsigned index, struct listener *out)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, l->ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(l->port);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, l->ip, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(l->port);
		len = sizeof(*v6);
	} else {
		log_error("listen: bad address %s", l->ip);
		return XS_ERROR;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_error("socket: %s", strerror(errno));
		return XS_ERROR;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, 1024) == -1) {
		log_error("listen on %s port %u: %s", l->ip, l->port, strerror(errno));
		close(fd);
		return XS_ERROR;
	}
	*out = (struct listener){ .tag = TAG_LISTEN, .fd = fd, .index = index };
	log_info("listening on %s port %u (%s)", l->ip, l->port, "c2s");
	return XS_OK;
}

static int open_control(void)
{
	const char *path = M.cfg->control_socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("control_socket path too long: %s", path);
		return XS_ERROR;
	}
	strcpy(sa.sun_path, path);
	M.ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (M.ctl_fd == -1) {
		log_error("socket: %s", strerror(errno));
		return XS_ERROR;
	}
	unlink(path); /* a stale socket of a previous run */
	mode_t old = umask(0077);
	int rc = bind(M.ctl_fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc == -1 || listen(M.ctl_fd, 64) == -1) {
		log_error("control socket %s: %s", path, strerror(errno));
		return XS_ERROR;
	}
	return watch(M.ctl_fd, &tag_ctl);
}

/* The master creates both environments (and the tables) before any child
 * opens them, then closes its handles: children open their own after fork. */
static int prepare_databases(void)
{
	struct db db = { 0 };
	if (db_open_data(&db, M.cfg->data_dir, true) != XS_OK)
		return XS_ERROR;
	int rc = db_server_secret(&db, M.secret);
	db_close(&db);
	if (rc != XS_OK)
		return XS_ERROR;
	if (db_clear_sessions(M.cfg->run_dir) != XS_OK)
		return XS_ERROR;
	if (db_open_sessions(&db, M.cfg->run_dir, true) != XS_OK)
		return XS_ERROR;
	db_close(&db);
	return XS_OK;
}

static int check_modules(void)
{
	int rc = XS_OK;
	for (size_t i = 0; i < M.cfg->nmodules; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.so", M.cfg->modules_dir, M.cfg->modules[i].name);
		if (access(path, R_OK) == -1) {
			log_error("%s:%d: module '%s': %s: %s", M.cfg->path, M.cfg->modules[i].line,
			          M.cfg->modules[i].name, path, strerror(errno));
			rc = XS_ERROR;
		}
	}
	return rc;
}

/* ------------------------------------------------------------ children */

/* In a new child: forget everything that belongs to the master. */
static void child_setup(const char *role, int keep_sock)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != M.self)
		_exit(0); /* the master died before we got here */
	/* SIGUSR1 and SIGHUP stay blocked: a child takes SIGUSR1 through its
	 * signalfd once set up, and leaves SIGHUP (reload) to the master. */
	sigset_t keep;
	sigemptyset(&keep);
	sigaddset(&keep, SIGUSR1);
	sigaddset(&keep, SIGHUP);
	sigprocmask(SIG_SETMASK, &keep, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_set_role(role);
	close(M.epfd);
	close(M.sigfd);
	close(M.ctl_fd);
	for (size_t i = 0; i < M.nlst; i++)
		close(M.lst[i].fd);
	if (M.router.sock != -1 && M.router.sock != keep_sock)
		close(M.router.sock);
	for (unsigned w = 0; w < M.cfg->workers; w++)
		if (M.workers[w].sock != -1 && M.workers[w].sock != keep_sock)
			close(M.workers[w].sock);
}

static int start_router(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("socketpair: %s", strerror(errno));
		return XS_ERROR;
	}
	pid_t pid = fork();
	if (pid == -1) {
		log_error("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return XS_ERROR;
	}
	if (pid == 0) {
		close(sv[0]);
		child_setup("router", sv[1]);
		struct router_args a = { .cfg = M.cfg, .seg = &M.seg, .sock = sv[1],
		                         .up_efd = M.up_efd, .down_efd = M.down_efd };
		atomic_store(&M.seg.hdr->router_pid, (int32_t)getpid());
		_exit(router_main(&a));
	}
	close(sv[1]);
	M.router.pid = pid;
	M.router.sock = sv[0];
	M.router.restart = false;
	clock_gettime(CLOCK_MONOTONIC, &M.router.started);
	if (watch(sv[0], &tag_router) != XS_OK)
		return XS_ERROR;
	log_info("router started (pid %d)", (int)pid);
	return XS_OK;
}

static int start_worker(unsigned w)
{
	struct child *ch = &M.workers[w];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("socketpair: %s", strerror(errno));
		return XS_ERROR;
	}
	struct shm_worker_slot *slot = shm_slot(&M.seg, w);
	ch->generation = atomic_fetch_add(&slot->stats.generation, 1) + 1;
	atomic_store(&slot->stats.connections, 0);
	atomic_store(&slot->stats.accepted, 0);
	ch->handed = 0;
	pid_t pid = fork();
	if (pid == -1) {
		log_error("fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return XS_ERROR;
	}
	if (pid == 0) {
		close(sv[0]);
		char role[32];
		snprintf(role, sizeof(role), "worker %u", w);
		child_setup(role, sv[1]);
		atomic_store(&slot->stats.pid, (int32_t)getpid());
		struct worker_args a = { .cfg = M.cfg, .seg = &M.seg, .index = w,
		                         .generation = ch->generation, .sock = sv[1],
		                         .up_efd = M.up_efd[w], .down_efd = M.down_efd[w] };
		memcpy(a.secret, M.secret, sizeof(a.secret));
		memcpy(a.ticket_key, M.ticket_key, sizeof(a.ticket_key));
		_exit(worker_main(&a));
	}
	close(sv[1]);
	ch->pid = pid;
	ch->sock = sv[0];
	ch->tag = TAG_WORKER;
	ch->index = w;
	if (watch(sv[0], ch) != XS_OK)
		log_warn("worker %u: its reports (closed connections) will not be read", w);
	ch->restart = false;
	clock_gettime(CLOCK_MONOTONIC, &ch->started);
	/* Non-blocking so a stuck worker makes us pick another, never wait. */
	int fl = fcntl(sv[0], F_GETFL);
	if (fl == -1 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) == -1)
		log_warn("fcntl O_NONBLOCK: %s", strerror(errno));
	log_info("worker %u started (pid %d, generation %u)", w, (int)pid, ch->generation);
	return XS_OK;
}

static const char *describe_exit(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(buf, cap, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(buf, cap, "stopped (status %#x)", (unsigned)status);
	return buf;
}

/* A child that lived less than this is restarted no faster than once a second. */
#define CRASH_LOOP_SECONDS 1.0

static void schedule_restart(struct child *ch)
{
	ch->restart = true;
	clock_gettime(CLOCK_MONOTONIC, &ch->restart_at);
	if (since(&ch->started) < CRASH_LOOP_SECONDS)
		ch->restart_at.tv_sec += 1;
}

static void tell_router_worker_died(unsigned w, unsigned gen)
{
	if (M.router.sock == -1)
		return;
	struct msg_worker_died m = { .type = MSG_SOCK_WORKER_DIED, .worker = w, .generation = gen };
	if (send(M.router.sock, &m, sizeof(m), MSG_NOSIGNAL) == -1)
		log_error("telling the router about worker %u: %s", w, strerror(errno));
}

static void reap(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		char why[96];
		describe_exit(status, why, sizeof(why));
		if (pid == M.router.pid) {
			M.router.pid = 0;
			if (M.router.sock != -1) {
				epoll_ctl(M.epfd, EPOLL_CTL_DEL, M.router.sock, NULL);
				close(M.router.sock);
				M.router.sock = -1;
			}
			atomic_store(&M.seg.hdr->router_pid, 0);
			if (M.stopping)
				continue;
			if (WIFEXITED(status) && WEXITSTATUS(status) == ROUTER_EXIT_CONFIG) {
				/* Its modules do not load: restarting cannot help. */
				log_error("router (pid %d) could not start (see above); xmppd stops", (int)pid);
				M.stopping = true;
				M.exit_code = 1;
				continue;
			}
			log_error("router (pid %d) %s; restarting", (int)pid, why);
			schedule_restart(&M.router);
			continue;
		}
		for (unsigned w = 0; w < M.cfg->workers; w++) {
			struct child *ch = &M.workers[w];
			if (ch->pid != pid)
				continue;
			ch->pid = 0;
			if (ch->sock != -1) {
				close(ch->sock);
				ch->sock = -1;
			}
			atomic_store(&shm_slot(&M.seg, w)->stats.pid, 0);
			iplimit_worker_gone(w);
			if (M.stopping)
				break;
			log_error("worker %u (pid %d) %s; restarting", w, (int)pid, why);
			tell_router_worker_died(w, ch->generation);
			schedule_restart(ch);
			break;
		}
	}
}

static void restart_due(void)
{
	if (M.stopping)
		return;
	if (M.router.restart && since(&M.router.restart_at) >= 0) {
		if (start_router() != XS_OK)
			schedule_restart(&M.router);
	}
	for (unsigned w = 0; w < M.cfg->workers; w++) {
		struct child *ch = &M.workers[w];
		if (ch->restart && since(&ch->restart_at) >= 0 && start_worker(w) != XS_OK)
			schedule_restart(ch);
	}
}

/* ------------------------------------------------------------ hand-off */


/* Load of a worker: its open connections plus those handed but not yet
 * picked up (the stats lag behind a burst of accepts). */
static uint64_t worker_load(unsigned w)
{
	struct shm_worker_stats *st = &shm_slot(&M.seg, w)->stats;
	uint64_t conns = atomic_load_explicit(&st->connections, memory_order_relaxed);
	uint64_t got = atomic_load_explicit(&st->accepted, memory_order_relaxed);
	uint64_t inflight = M.workers[w].handed > got ? M.workers[w].handed - got : 0;
	return conns + inflight;
}

static struct msg_ip ip_of(const struct sockaddr_storage *ss)
{
	struct msg_ip ip = { .family = (uint8_t)ss->ss_family };
	if (ss->ss_family == AF_INET)
		memcpy(ip.addr, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	else if (ss->ss_family == AF_INET6)
		memcpy(ip.addr, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	return ip;
}

/* Lines anyone can make the master write (lib/log.h). */
static struct log_limit log_refused = { .what = "connections refused by a per-address limit" };
static struct log_limit log_blocked = { .what = "addresses blocked for failed authentications" };

static void hand_off(const struct listener *l, int fd, const struct sockaddr_storage *peer,
                     socklen_t plen)
{
	struct msg_ip ip = ip_of(peer);
	const char *why = NULL;
	if (!iplimit_admit(&M.cfg->limits, &ip, &why)) {
		char a[64];
		log_limited(&log_refused, LOG_LVL_INFO, "refused a connection from %s: %s",
		            iplimit_str(&ip, a, sizeof(a)), why);
		close(fd);
		return;
	}
	struct msg_conn m = { .type = MSG_SOCK_CONN, .listener = l->index, .peer_len = plen };
	memcpy(&m.peer, peer, plen < sizeof(m.peer) ? plen : sizeof(m.peer));
	bool tried[SHM_MAX_WORKERS] = { false };
	for (unsigned attempt = 0; attempt < M.cfg->workers; attempt++) {
		int best = -1;
		uint64_t best_load = UINT64_MAX;
		for (unsigned w = 0; w < M.cfg->workers; w++) {
			if (tried[w] || M.workers[w].pid == 0 || M.workers[w].sock == -1)
				continue;
			uint64_t load = worker_load(w);
			if (load < best_load) {
				best = (int)w;
				best_load = load;
			}
		}
		if (best < 0)
			break;
		tried[best] = true;
		int rc = fdpass_send(M.workers[best].sock, &m, sizeof(m), fd);
		if (rc == XS_OK) {
			M.workers[best].handed++;
			iplimit_opened(&ip, (unsigned)best);
			close(fd);
			return;
		}
		if (rc == XS_ERROR)
			log_error("hand-off to worker %d: %s", best, strerror(errno));
	}
	log_warn("no worker could take a connection; closed");
	close(fd);
}

static void accept_clients(const struct listener *l)
{
	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				return;
			/* Out of descriptors or memory: leave it to the next round. */
			log_error("accept: %s", strerror(errno));
			return;
		}
		hand_off(l, fd, &peer, plen);
	}
}

static void accept_control(void)
{
	for (;;) {
		int fd = accept4(M.ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1)
			return;
		struct msg_ctl_client m = { .type = MSG_SOCK_CTL_CLIENT };
		if (M.router.sock == -1 || fdpass_send(M.router.sock, &m, sizeof(m), fd) != XS_OK) {
			static const char busy[] = "error: the router is not running; try again\n";
			ssize_t w = write(fd, busy, sizeof(busy) - 1);
			(void)w;
		}
		close(fd);
	}
}

/* What a worker reports: connections that ended, addresses to block. */
static void reload_acked(const char *who, int32_t status);

static void worker_reports(struct child *ch)
{
	for (;;) {
		union {
			struct msg_peer p;
			struct msg_ctl c;
			uint32_t type;
		} u;
		struct msg_peer m;
		int fd;
		ssize_t n = fdpass_recv(ch->sock, &u, sizeof(u), &fd);
		if (n == sizeof(u.c) && u.type == MSG_SOCK_RELOAD_DONE) {
			char who[32];
			snprintf(who, sizeof(who), "worker %u", ch->index);
			reload_acked(who, u.c.status);
			continue;
		}
		if (n == sizeof(m))
			memcpy(&m, &u.p, sizeof(m));
		if (fd != -1)
			close(fd);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EPROTO))
				epoll_ctl(M.epfd, EPOLL_CTL_DEL, ch->sock, NULL); /* it is going */
			if (n == -1 && errno == EPROTO)
				continue;
			return;
		}
		if (n != sizeof(m)) {
			log_error("worker %u: report of %zd bytes", ch->index, n);
			continue;
		}
		if (m.type == MSG_SOCK_CLOSED) {
			iplimit_closed(&m.ip, ch->index);
		} else if (m.type == MSG_SOCK_AUTH_ABUSE) {
			char a[64];
			iplimit_block(&m.ip, M.cfg->limits.auth_block_seconds);
			log_limited(&log_blocked, LOG_LVL_WARNING,
			            "%s: too many failed authentications; blocked for %u s",
			            iplimit_str(&m.ip, a, sizeof(a)), M.cfg->limits.auth_block_seconds);
		}
	}
}

static void tell_ready(int *fd, bool ok);

/* ------------------------------------------------------------ reload */

static void send_ctl(int sock, uint32_t type, int32_t status, const char *text)
{
	if (sock == -1)
		return;
	struct msg_ctl m = { .type = type, .status = status };
	snprintf(m.text, sizeof(m.text), "%s", text ? text : "");
	if (send(sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
		log_error("sending a control message: %s", strerror(errno));
}

struct reload_errs {
	char first[200];
	unsigned n;
};

static void reload_err(void *arg, const char *line)
{
	struct reload_errs *e = arg;
	log_error("reload: %s", line);
	if (e->n++ == 0)
		snprintf(e->first, sizeof(e->first), "%s", line);
}

/* A listener of the new config: the open one with the same address and
 * port is kept (a new index), others are opened; the rest are closed. */
static int reload_listeners(const struct cfg *n, struct listener **out, size_t *nout)
{
	struct listener *nl = calloc(n->nlisten ? n->nlisten : 1, sizeof(*nl));
	bool *kept = calloc(M.nlst ? M.nlst : 1, sizeof(bool));
	if (nl == NULL || kept == NULL) {
		free(nl);
		free(kept);
		return XS_ERROR;
	}
	for (size_t i = 0; i < n->nlisten; i++) {
		const struct cfg_listen *l = &n->listen[i];
		size_t j = 0;
		for (; j < M.nlst; j++) {
			const struct cfg_listen *ol = &M.cfg->listen[M.lst[j].index];
			if (!kept[j] && ol->port == l->port && strcmp(ol->ip, l->ip) == 0)
				break;
		}
		if (j < M.nlst) {
			kept[j] = true;
			nl[i] = (struct listener){ .tag = TAG_LISTEN, .fd = M.lst[j].fd, .index = (unsigned)i };
			continue;
		}
		if (open_listener(l, (unsigned)i, &nl[i]) != XS_OK) {
			for (size_t k = 0; k < i; k++) { /* undo: close only what was opened here */
				bool old = false;
				for (size_t j2 = 0; j2 < M.nlst; j2++)
					old = old || M.lst[j2].fd == nl[k].fd;
				if (!old)
					close(nl[k].fd);
			}
			free(nl);
			free(kept);
			return XS_ERROR;
		}
	}
	for (size_t j = 0; j < M.nlst; j++) {
		if (kept[j]) {
			epoll_ctl(M.epfd, EPOLL_CTL_DEL, M.lst[j].fd, NULL);
			continue;
		}
		const struct cfg_listen *ol = &M.cfg->listen[M.lst[j].index];
		log_info("reload: no longer listening on %s port %u", ol->ip, ol->port);
		epoll_ctl(M.epfd, EPOLL_CTL_DEL, M.lst[j].fd, NULL);
		close(M.lst[j].fd);
	}
	free(kept);
	*out = nl;
	*nout = n->nlisten;
	return XS_OK;
}

/* SIGHUP or `xmppctl reload`: a file that does not validate changes
 * nothing; otherwise what can change live does, in the master and (through
 * MSG_SOCK_RELOAD, acknowledged) in every child, and the rest is logged as
 * needing a restart.  Writes a one-line summary to msg. */
static int reload(char *msg, size_t cap)
{
	struct cfg *n = calloc(1, sizeof(*n));
	if (n == NULL) {
		snprintf(msg, cap, "out of memory");
		return XS_ERROR;
	}
	struct reload_errs e = { .n = 0 };
	log_info("reload: reading %s", M.cfg->path);
	if (cfg_load(M.cfg->path, n, reload_err, &e) != XS_OK) {
		free(n);
		log_error("reload: %s is not valid (%u error(s)); nothing changed", M.cfg->path, e.n);
		snprintf(msg, cap, "configuration not valid, nothing changed: %.150s", e.first);
		return XS_ERROR;
	}
	char err[512];
	if (tls_check_config(n, err, sizeof(err)) != XS_OK) {
		log_error("reload: %s; nothing changed", err);
		snprintf(msg, cap, "configuration not valid, nothing changed: %.150s", err);
		cfg_free(n);
		free(n);
		return XS_ERROR;
	}
	if (plugins_check(n) != XS_OK) {
		log_error("reload: module options not valid; nothing changed");
		snprintf(msg, cap, "configuration not valid, nothing changed: module options (see "
		         "the log)");
		cfg_free(n);
		free(n);
		return XS_ERROR;
	}
	/* What cannot change live keeps its running value in the new config. */
	unsigned restart = cfg_keep_running(n, M.cfg, true);
	struct listener *nl;
	size_t nnl;
	if (reload_listeners(n, &nl, &nnl) != XS_OK) {
		log_error("reload: a new listener could not be opened; nothing changed");
		snprintf(msg, cap, "a new listener could not be opened, nothing changed");
		cfg_free(n);
		free(n);
		return XS_ERROR;
	}
	if (!cfg_setting_same(cfg_setting("log"), n, M.cfg)) {
		if (log_open(n->log_target, n->log_file) != XS_OK)
			log_error("reload: log %s: %s; logging stays where it was",
			          n->log_file ? n->log_file : "", strerror(errno));
		else
			log_info("reload: log now goes to %s", n->log_target == LOG_TO_FILE ? n->log_file
			         : n->log_target == LOG_TO_SYSLOG ? "syslog" : "stderr");
	}
	/* Against the level in force: xmppctl loglevel may have changed it. */
	if (n->loglevel != log_get_level()) {
		log_info("reload: loglevel %s -> %s", log_level_name(log_get_level()),
		         log_level_name(n->loglevel));
		log_set_level(n->loglevel);
	}
	if (!cfg_setting_same(cfg_setting("limits"), n, M.cfg))
		log_info("reload: limits changed (applied)");
	free(M.lst);
	M.lst = nl;
	M.nlst = nnl;
	for (size_t i = 0; i < M.nlst; i++)
		if (watch(M.lst[i].fd, &M.lst[i]) != XS_OK)
			log_error("reload: cannot watch listener %zu", i);
	if (M.cfg != M.first)
		cfg_retire(M.cfg);
	M.cfg = n;
	/* Children re-read the same file and apply their part; they answer. */
	M.reload_acks = 0;
	if (M.router.pid > 0 && M.router.sock != -1) {
		send_ctl(M.router.sock, MSG_SOCK_RELOAD, 0, NULL);
		M.reload_acks++;
	}
	for (unsigned w = 0; w < M.cfg->workers; w++) {
		if (M.workers[w].pid > 0 && M.workers[w].sock != -1) {
			send_ctl(M.workers[w].sock, MSG_SOCK_RELOAD, 0, NULL);
			M.reload_acks++;
		}
	}
	snprintf(msg, cap, "configuration reloaded%s", restart ? "; some settings need a restart "
	         "(see the log)" : "");
	log_info("reload: applied in the master; waiting for %u child(ren)", M.reload_acks);
	return XS_OK;
}

static void reload_acked(const char *who, int32_t status)
{
	if (status != XS_OK)
		log_error("reload: %s could not apply the new configuration (see its log)", who);
	if (M.reload_acks > 0 && --M.reload_acks == 0)
		log_info("reload: done: every process runs the new configuration");
}

/* `xmppctl loglevel`: the router asked; every process changes level. */
static void set_loglevel(int32_t level)
{
	if (level < LOG_LVL_ERROR || level > LOG_LVL_DEBUG)
		return;
	log_set_level((enum log_level)level);
	log_info("log level is now %s", log_level_name((enum log_level)level));
	send_ctl(M.router.sock, MSG_SOCK_LOGLEVEL, level, NULL);
	for (unsigned w = 0; w < M.cfg->workers; w++)
		send_ctl(M.workers[w].sock, MSG_SOCK_LOGLEVEL, level, NULL);
}

/* What the router says: reload and loglevel requests, reload answers. */
static void router_messages(void)
{
	for (;;) {
		struct msg_ctl m;
		int fd;
		ssize_t n = fdpass_recv(M.router.sock, &m, sizeof(m), &fd);
		if (fd != -1)
			close(fd);
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EPROTO))
				epoll_ctl(M.epfd, EPOLL_CTL_DEL, M.router.sock, NULL); /* it is going */
			if (n == -1 && errno == EPROTO)
				continue;
			return;
		}
		if (n != sizeof(m)) {
			log_error("router: message of %zd bytes", n);
			continue;
		}
		m.text[sizeof(m.text) - 1] = '\0';
		if (m.type == MSG_SOCK_RELOAD_REQ) {
			char res[240];
			int rc = reload(res, sizeof(res));
			send_ctl(M.router.sock, MSG_SOCK_RELOAD_RESULT, rc, res);
		} else if (m.type == MSG_SOCK_RELOAD_DONE) {
			reload_acked("the router", m.status);
		} else if (m.type == MSG_SOCK_LOGLEVEL) {
			set_loglevel(m.status);
		} else if (m.type == MSG_SOCK_ROUTER_READY) {
			tell_ready(&M.ready_fd, true); /* the first time: xmppd -d may exit 0 */
		}
	}
}

/* ------------------------------------------------------------ signals, loop */

static int setup_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return XS_ERROR;
	signal(SIGPIPE, SIG_IGN);
	M.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (M.sigfd == -1) {
		log_error("signalfd: %s", strerror(errno));
		return XS_ERROR;
	}
	return watch(M.sigfd, &tag_signal);
}

/* SIGUSR1 (logrotate): every process opens the log file again. */
static void reopen_logs(void)
{
	if (log_get_target() != LOG_TO_FILE) {
		log_info("SIGUSR1: logs do not go to a file; nothing to reopen");
		return;
	}
	if (log_reopen() != XS_OK)
		log_error("SIGUSR1: reopening %s: %s (still writing the old file)", M.cfg->log_file,
		          strerror(errno));
	else
		log_info("SIGUSR1: log file reopened");
	if (M.router.pid > 0)
		kill(M.router.pid, SIGUSR1);
	for (unsigned w = 0; w < M.cfg->workers; w++)
		if (M.workers[w].pid > 0)
			kill(M.workers[w].pid, SIGUSR1);
}

static void on_signals(void)
{
	struct signalfd_siginfo si;
	while (read(M.sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGTERM:
		case SIGINT:
			log_info("%s: stopping", strsignal((int)si.ssi_signo));
			M.stopping = true;
			break;
		case SIGHUP: {
			char res[240];
			reload(res, sizeof(res));
			break;
		}
		case SIGUSR1:
			reopen_logs();
			break;
		}
	}
}

static bool workers_alive(void)
{
	for (unsigned w = 0; M.workers && w < M.cfg->workers; w++)
		if (M.workers[w].pid > 0)
			return true;
	return false;
}

static bool router_alive(void)
{
	return M.router.pid > 0;
}

/* Waits up to `ms` for `alive` to turn false, reaping as children exit. */
static bool wait_for(bool (*alive)(void), int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		reap();
		if (!alive())
			return true;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	reap();
	return !alive();
}

/* Workers first: they tell their clients (system-shutdown) and the router
 * what ended; then the router, which commits and exits.  Five seconds each,
 * then SIGKILL. */
static void stop_children(void)
{
	for (unsigned w = 0; M.workers && w < M.cfg->workers; w++)
		if (M.workers[w].pid > 0)
			kill(M.workers[w].pid, SIGTERM);
	if (!wait_for(workers_alive, 5000)) {
		log_warn("workers did not stop within 5 s; killing them");
		for (unsigned w = 0; M.workers && w < M.cfg->workers; w++)
			if (M.workers[w].pid > 0)
				kill(M.workers[w].pid, SIGKILL);
		wait_for(workers_alive, 1000);
	}
	if (M.router.pid > 0)
		kill(M.router.pid, SIGTERM);
	if (!wait_for(router_alive, 5000)) {
		log_warn("router did not stop within 5 s; killing it");
		kill(M.router.pid, SIGKILL);
		wait_for(router_alive, 1000);
	}
}

/* After the listeners are open (ports below 1024 need root): become the
 * configured user and group for good, before any file is created. */
static int drop_privileges(void)
{
	const struct cfg *cfg = M.cfg;
	if (cfg->user == NULL && cfg->group == NULL)
		return XS_OK;
	if (geteuid() != 0) {
		log_warn("user/group set but not started as root: staying uid %d", (int)geteuid());
		return XS_OK;
	}
	struct passwd *pw = cfg->user ? getpwnam(cfg->user) : NULL;
	struct group *gr = cfg->group ? getgrnam(cfg->group) : NULL;
	if ((cfg->user && pw == NULL) || (cfg->group && gr == NULL)) {
		log_error("user %s / group %s not found", cfg->user ? cfg->user : "-",
		          cfg->group ? cfg->group : "-");
		return XS_ERROR;
	}
	gid_t gid = gr ? gr->gr_gid : pw->pw_gid;
	/* The log file was opened (created) as root: the new owner must be able
	 * to open it again on SIGUSR1. */
	if (log_chown(pw ? pw->pw_uid : (uid_t)-1, gid) != XS_OK)
		log_warn("log file: chown: %s", strerror(errno));
	if (setgroups(0, NULL) == -1 || (pw && initgroups(pw->pw_name, gid) == -1) ||
	    setgid(gid) == -1 || (pw && setuid(pw->pw_uid) == -1)) {
		log_error("dropping privileges to %s:%s: %s", cfg->user ? cfg->user : "-",
		          cfg->group ? cfg->group : "-", strerror(errno));
		return XS_ERROR;
	}
	if (pw && pw->pw_uid != 0 && setuid(0) != -1) { /* must be impossible now */
		log_error("could regain root after dropping privileges");
		return XS_ERROR;
	}
	log_info("running as uid %d gid %d", (int)getuid(), (int)getgid());
	return XS_OK;
}

static int write_pidfile(void)
{
	const char *path = M.cfg->pidfile;
	if (path == NULL)
		return XS_OK;
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return XS_ERROR;
	FILE *f = fopen(tmp, "we");
	if (f == NULL || fprintf(f, "%d\n", (int)M.self) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) == -1) {
		log_error("pidfile %s: %s", path, strerror(errno));
		return XS_ERROR;
	}
	M.pidfile_written = true;
	return XS_OK;
}

static int setup(struct cfg *cfg)
{
	M.cfg = cfg;
	M.self = getpid();
	M.ctl_fd = M.sigfd = -1;
	M.router.sock = -1;
	M.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (M.epfd == -1)
		return XS_ERROR;
	M.lst = calloc(cfg->nlisten, sizeof(*M.lst));
	if (!M.lst)
		return XS_ERROR;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		if (open_listener(&cfg->listen[i], (unsigned)i, &M.lst[i]) != XS_OK)
			return XS_ERROR;
		M.nlst++;
		if (watch(M.lst[i].fd, &M.lst[i]) != XS_OK)
			return XS_ERROR;
	}
	if (write_pidfile() != XS_OK || drop_privileges() != XS_OK)
		return XS_ERROR;
	if (check_modules() != XS_OK || prepare_databases() != XS_OK)
		return XS_ERROR;
	gnutls_datum_t tk;
	if (gnutls_session_ticket_key_generate(&tk) < 0 || tk.size != TLS_TICKET_KEY_LEN) {
		log_error("cannot make a TLS session ticket key");
		return XS_ERROR;
	}
	memcpy(M.ticket_key, tk.data, TLS_TICKET_KEY_LEN);
	gnutls_memset(tk.data, 0, tk.size);
	gnutls_free(tk.data);
	if (iplimit_init(cfg->workers) != XS_OK)
		return XS_ERROR;
	M.workers = calloc(cfg->workers, sizeof(*M.workers));
	M.up_efd = calloc(cfg->workers, sizeof(int));
	M.down_efd = calloc(cfg->workers, sizeof(int));
	if (!M.workers || !M.up_efd || !M.down_efd)
		return XS_ERROR;
	char name[SHM_NAME_MAX];
	shm_name_for(cfg->run_dir, name);
	if (shm_create(&M.seg, name, cfg->workers, cfg->ring_size) != XS_OK)
		return XS_ERROR;
	char abs[PATH_MAX];
	if (realpath(cfg->run_dir, abs) != NULL && strlen(abs) < sizeof(M.seg.hdr->run_dir))
		strcpy(M.seg.hdr->run_dir, abs);
	atomic_store(&M.seg.hdr->master_pid, (int32_t)M.self);
	for (unsigned w = 0; w < cfg->workers; w++) {
		M.workers[w].sock = -1;
		M.up_efd[w] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		M.down_efd[w] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (M.up_efd[w] == -1 || M.down_efd[w] == -1) {
			log_error("eventfd: %s", strerror(errno));
			return XS_ERROR;
		}
	}
	if (open_control() != XS_OK || setup_signals() != XS_OK)
		return XS_ERROR;
	if (start_router() != XS_OK)
		return XS_ERROR;
	for (unsigned w = 0; w < cfg->workers; w++)
		if (start_worker(w) != XS_OK)
			return XS_ERROR;
	return XS_OK;
}

static void teardown(void)
{
	/* Stop accepting before the workers go. */
	for (size_t i = 0; i < M.nlst; i++)
		close(M.lst[i].fd);
	M.nlst = 0;
	stop_children();
	if (M.ctl_fd != -1) {
		close(M.ctl_fd);
		unlink(M.cfg->control_socket);
	}
	if (M.seg.base) {
		shm_remove(M.seg.name);
		shm_detach(&M.seg);
	}
	for (unsigned w = 0; M.up_efd && w < M.cfg->workers; w++) {
		close(M.up_efd[w]);
		close(M.down_efd[w]);
	}
	if (M.router.sock != -1)
		close(M.router.sock);
	for (unsigned w = 0; M.workers && w < M.cfg->workers; w++)
		if (M.workers[w].sock != -1)
			close(M.workers[w].sock);
	free(M.lst);
	free(M.workers);
	iplimit_free();
	free(M.up_efd);
	free(M.down_efd);
	if (M.sigfd != -1)
		close(M.sigfd);
	if (M.epfd != -1)
		close(M.epfd);
	if (M.pidfile_written && unlink(M.cfg->pidfile) == -1)
		log_warn("pidfile %s: %s", M.cfg->pidfile, strerror(errno));
}

static void tell_ready(int *fd, bool ok)
{
	if (*fd == -1)
		return;
	char c = ok ? '1' : '0';
	ssize_t w = write(*fd, &c, 1);
	(void)w; /* the waiting parent sees EOF instead */
	close(*fd);
	*fd = -1;
}

int master_run(struct cfg *cfg, int ready_fd)
{
	memset(&M, 0, sizeof(M));
	M.epfd = -1;
	M.first = cfg;
	M.ready_fd = ready_fd;
	if (setup(cfg) != XS_OK) {
		log_error("xmppd did not start");
		teardown();
		tell_ready(&M.ready_fd, false);
		return 1;
	}
	log_info("xmppd started: %u worker(s), %zu host(s)", cfg->workers, cfg->nhosts);
	/* Ready for xmppd -d when the router says its modules are loaded. */
	time_t last_sweep = 0;
	while (!M.stopping) {
		bool waiting = M.router.restart;
		for (unsigned w = 0; w < M.cfg->workers; w++)
			waiting = waiting || M.workers[w].restart;
		struct epoll_event evs[32];
		int n = epoll_wait(M.epfd, evs, 32, waiting ? 100 : -1);
		if (n == -1 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !M.stopping; i++) {
			int tag = *(int *)evs[i].data.ptr;
			if (tag == TAG_LISTEN)
				accept_clients(evs[i].data.ptr);
			else if (tag == TAG_CTL)
				accept_control();
			else if (tag == TAG_SIGNAL)
				on_signals();
			else if (tag == TAG_WORKER)
				worker_reports(evs[i].data.ptr);
			else if (tag == TAG_ROUTER && M.router.sock != -1)
				router_messages();
		}
		restart_due();
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - last_sweep >= 60) {
			iplimit_sweep(&M.cfg->limits);
			log_limit_flush(&log_refused);
			log_limit_flush(&log_blocked);
			last_sweep = now.tv_sec;
		}
	}
	teardown();
	tell_ready(&M.ready_fd, false);
	log_info("xmppd stopped");
	if (M.cfg != M.first) {
		cfg_free(M.cfg);
		free(M.cfg);
	}
	cfg_retired_free();
	return M.exit_code;
}

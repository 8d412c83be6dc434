/* dump.c — xmppd-shm-dump: print what a running xmppd keeps in its shared
 * memory segment, attached read-only so looking can never disturb it.
 *
 * Everything is read while the server runs: counters and ring positions are
 * each a consistent snapshot on their own, not together. */
#include "shm/shm.h"

#include "lib/cfg.h"
#include "lib/db.h"
#include "lib/jid.h"
#include "lib/msg.h"
#include "lib/xs.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "xmppd-shm-dump";

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: %s (-c FILE | -s NAME) [-w SECONDS]\n"
	        "Print the header, per-worker stats and ring fill of an xmppd shared-memory\n"
	        "segment, attached read-only, and the session and domain tables.\n"
	        "  -c, --config FILE    the server's configuration (finds segment and sessions)\n"
	        "  -s, --segment NAME   segment name, e.g. /xmppd-0123456789abcdef\n"
	        "  -w, --watch SECONDS  print again every SECONDS (1-3600) until interrupted\n"
	        "  -h, --help           show this help\n",
	        prog);
}

/* "running", "gone" or "" (unknown): a pid in the segment outlives its process
 * when that process crashed, and seeing that is half of why one runs a dump. */
static const char *pid_state(int32_t pid)
{
	if (pid <= 0)
		return "";
	if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
		return " (running)";
	if (errno == ESRCH)
		return " (gone)";
	return "";
}

static void print_header(const struct shm_segment *seg)
{
	const struct shm_header *h = seg->hdr;
	char when[64] = "?";
	time_t t = (time_t)h->created;
	struct tm tm;
	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
	int32_t master = atomic_load_explicit(&h->master_pid, memory_order_relaxed);
	int32_t router = atomic_load_explicit(&h->router_pid, memory_order_relaxed);

	printf("segment %s\n", seg->name);
	printf("  magic       %#018" PRIx64 "\n", h->magic);
	printf("  version     %u\n", h->version);
	printf("  size        %" PRIu64 " bytes\n", h->total_size);
	printf("  created     %s\n", when);
	printf("  workers     %u\n", h->nworkers);
	printf("  ring size   %" PRIu64 " bytes (max record %" PRIu64 ")\n", h->ring_size,
	       h->ring_size / 4);
	printf("  master pid  %" PRId32 "%s\n", master, pid_state(master));
	printf("  router pid  %" PRId32 "%s\n", router, pid_state(router));
}

static void print_ring(const char *label, const struct ring *r)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t fill = ring_fill(r);
	uint64_t hw = atomic_load_explicit(&r->high_water, memory_order_relaxed);
	uint64_t recs = atomic_load_explicit(&r->records, memory_order_relaxed);
	uint32_t sleeping = atomic_load_explicit(&r->sleeping, memory_order_relaxed);
	printf("  %-4s ring   head %" PRIu64 " tail %" PRIu64 " fill %" PRIu64 " (%.1f%%)"
	       " high-water %" PRIu64 " (%.1f%%) records %" PRIu64 "%s\n",
	       label, head, tail, fill, 100.0 * (double)fill / (double)r->size, hw,
	       100.0 * (double)hw / (double)r->size, recs,
	       sleeping ? " consumer-sleeping" : "");
}

static void print_worker(struct shm_segment *seg, unsigned i)
{
	const struct shm_worker_stats *s = &shm_slot(seg, i)->stats;
	int32_t pid = atomic_load_explicit(&s->pid, memory_order_relaxed);
#define STAT(f) atomic_load_explicit(&s->f, memory_order_relaxed)
	printf("worker %u: pid %" PRId32 "%s generation %" PRIu32 "\n", i, pid, pid_state(pid),
	       STAT(generation));
	printf("  connections %" PRIu64 " sessions %" PRIu64 " accepted %" PRIu64 "\n",
	       STAT(connections), STAT(sessions), STAT(accepted));
	printf("  stanzas     in %" PRIu64 " out %" PRIu64 "\n", STAT(stanzas_in),
	       STAT(stanzas_out));
	printf("  bytes       in %" PRIu64 " out %" PRIu64 "\n", STAT(bytes_in), STAT(bytes_out));
#undef STAT
	print_ring("up", shm_up_ring(seg, i));
	print_ring("down", shm_down_ring(seg, i));
}

static void print_segment(struct shm_segment *seg)
{
	print_header(seg);
	for (unsigned i = 0; i < seg->hdr->nworkers; i++)
		print_worker(seg, i);
}

/* The session table, in the read transaction txn. */
static void print_sessions(struct db *db, MDB_txn *txn)
{
	MDB_cursor *cur;
	if (mdb_cursor_open(txn, db->sess, &cur) != 0)
		return;
	printf("sessions\n  %-40s %6s %18s %8s %11s  %s\n", "jid", "worker", "connection",
	       "priority", "presence", "since");
	MDB_val k, v;
	unsigned n = 0;
	char full[JID_MAX + 1];
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct sess_rec r;
		/* A long JID's key is derived from it: the record carries the JID. */
		if (db_sess_read(&k, &v, &r, full, sizeof(full)) != XS_OK)
			continue;
		char when[32] = "?";
		time_t t = (time_t)r.since;
		struct tm tm;
		if (localtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("  %-40s %6u %#18" PRIx64 " %8d %11s  %s\n", full,
		       conn_id_worker(r.conn), r.conn, r.priority,
		       r.available ? "available" : "unavailable", when);
		n++;
	}
	printf("  %u session(s)\n", n);
	mdb_cursor_close(cur);
}

static bool print_route(const char *domain, const struct route_rec *r, const char *module,
                        void *arg)
{
	unsigned *n = arg;
	char target[96] = "-";
	if (r->kind == ROUTE_SERVICE)
		snprintf(target, sizeof(target), "module %s", module);
	else if (r->conn != 0)
		snprintf(target, sizeof(target), "worker %u connection %#" PRIx64,
		         conn_id_worker(r->conn), r->conn);
	printf("  %-40s %-10s  %s\n", domain, db_route_kind_name(r), target);
	(*n)++;
	return true;
}

/* The domain table, in the read transaction txn. */
static void print_routes(struct db *db, MDB_txn *txn)
{
	printf("routes\n  %-40s %-10s  %s\n", "domain", "kind", "to");
	unsigned n = 0;
	if (db_route_foreach(db, txn, print_route, &n) == XS_PASS) {
		printf("  (no route table: the router is older than this tool)\n");
		return;
	}
	printf("  %u route(s)\n", n);
}

/* The sessions env, opened read-only once, read in one transaction. */
static void print_tables(const char *run_dir)
{
	struct db db = { 0 };
	if (db_open_sessions(&db, run_dir, false) != XS_OK) {
		printf("sessions    (no session table under %s)\n", run_dir);
		return;
	}
	MDB_txn *txn;
	if (mdb_txn_begin(db.env, NULL, MDB_RDONLY, &txn) == 0) {
		print_sessions(&db, txn);
		print_routes(&db, txn);
		mdb_txn_abort(txn);
	}
	db_close(&db);
}

/* One picture: the segment, then the session and domain tables (from the
 * config's run_dir, else the one the segment names).  0, or 1 when the segment
 * cannot be read (layout of another version included). */
static int dump_once(const char *name, const char *run_dir)
{
	struct shm_segment seg;
	char err[256];
	if (shm_attach(&seg, name, true, err, sizeof(err)) != XS_OK) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	print_segment(&seg);
	char dir[sizeof(seg.hdr->run_dir)];
	memcpy(dir, seg.hdr->run_dir, sizeof(dir));
	dir[sizeof(dir) - 1] = '\0';
	shm_detach(&seg);
	if (run_dir == NULL && dir[0] != '\0')
		run_dir = dir;
	if (run_dir != NULL)
		print_tables(run_dir);
	return 0;
}

static void quiet(void *arg, const char *line)
{
	fprintf(stderr, "%s: %s\n", (const char *)arg, line);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "segment", required_argument, NULL, 's' },
		{ "watch", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *config = NULL;
	long watch = 0;
	int c;
	opterr = 0; /* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, ":c:s:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w': {
			char *end;
			watch = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || watch < 1 || watch > 3600) {
				fprintf(stderr, "%s: --watch takes seconds from 1 to 3600, not '%s'\n", prog,
				        optarg);
				return 1;
			}
			break;
		}
		case 's':
			name = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "%s: option %s needs an argument (try --help)\n", prog,
			        argv[optind - 1]);
			return 1;
		default:
			/* optopt names a bad short option; a bad long one is only in argv. */
			if (optopt != 0)
				fprintf(stderr, "%s: unknown option -%c (try --help)\n", prog, optopt);
			else
				fprintf(stderr, "%s: unknown option %s (try --help)\n", prog,
				        argv[optind - 1]);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument %s (try --help)\n", prog, argv[optind]);
		return 1;
	}
	struct cfg cfg;
	char derived[SHM_NAME_MAX];
	if (config != NULL) {
		if (cfg_load(config, &cfg, quiet, (void *)prog) != XS_OK)
			return 1;
		shm_name_for(cfg.run_dir, derived);
		if (name == NULL)
			name = derived;
	}
	if (name == NULL) {
		fprintf(stderr, "%s: no segment given: use -c FILE or -s NAME (try --help)\n", prog);
		return 1;
	}

	int rc;
	for (;;) {
		if (watch) {
			time_t now = time(NULL);
			struct tm tm;
			char when[64] = "";
			if (localtime_r(&now, &tm) != NULL)
				strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
			/* Clear the terminal only when there is one. */
			printf("%s%s, every %ld s (^C stops)\n\n", isatty(STDOUT_FILENO) ? "\033[H\033[2J" : "",
			       when, watch);
		}
		rc = dump_once(name, config != NULL ? cfg.run_dir : NULL);
		if (fflush(stdout) == EOF || ferror(stdout)) {
			fprintf(stderr, "%s: writing output: %s\n", prog, strerror(errno));
			rc = 1;
			break;
		}
		if (!watch || rc != 0)
			break;
		/* A restarted server makes a new segment: attach afresh each time. */
		sleep((unsigned)watch);
	}
	if (config != NULL)
		cfg_free(&cfg);
	return rc;
}

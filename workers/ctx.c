/* ctx.c — the worker's shared context: encoding scratch, read
 * transactions, trace ids, reports to the master. */
#include "workers/ctx.h"
#include "lib/fdpass.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct worker_ctx worker;

int worker_encode(struct stz_builder *b, uint64_t conn, struct stz *out)
{
	size_t n = stz_b_size(b);
	if (n == 0)
		return XS_ERROR;
	if (n > worker.scratch_cap) {
		size_t cap = (n + 4095) & ~(size_t)4095;
		char *p = aligned_alloc(8, cap);
		if (p == NULL)
			return XS_ERROR;
		free(worker.scratch);
		worker.scratch = p;
		worker.scratch_cap = cap;
	}
	stz_b_write(b, worker.scratch, conn);
	return stz_view(out, worker.scratch, n);
}

MDB_txn *worker_rtxn(void)
{
	int rc;
	if (worker.rtxn == NULL)
		rc = mdb_txn_begin(worker.data.env, NULL, MDB_RDONLY, &worker.rtxn);
	else
		rc = mdb_txn_renew(worker.rtxn);
	if (rc == MDB_MAP_RESIZED) {
		mdb_env_set_mapsize(worker.data.env, 0);
		rc = mdb_txn_renew(worker.rtxn);
	}
	if (rc != 0) {
		log_error("lmdb read txn: %s", mdb_strerror(rc));
		if (worker.rtxn) {
			mdb_txn_abort(worker.rtxn);
			worker.rtxn = NULL;
		}
		return NULL;
	}
	return worker.rtxn;
}

void worker_rtxn_done(void)
{
	if (worker.rtxn)
		mdb_txn_reset(worker.rtxn);
}

uint64_t worker_trace_id(void)
{
	return ++worker.trace_next;
}

/* Lost when the master's queue is full: the per-address count then stays
 * high until the worker restarts, never the reverse. */
void worker_report_peer(uint32_t type, const struct msg_ip *ip)
{
	struct msg_peer m = { .type = type, .ip = *ip };
	if (fdpass_send(worker.master_sock, &m, sizeof(m), -1) != XS_OK)
		log_warn("report to the master lost: %s", strerror(errno));
}

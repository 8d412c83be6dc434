/* data.c — the router's transactions on the durable data env.
 *
 * The router is the data env's only writer.  All writes of one drain batch go
 * into one write transaction (the batch transaction), begun on first use and
 * committed — one fsync — when the batch ends (data_commit).  Each module or
 * ctl command writes inside a child transaction of it (LMDB nested
 * transactions), so a failure undoes only its own work and never poisons the
 * batch.  Once a child committed, the batch is "dirty": deliveries made from
 * then on wait in the per-worker queues until data_commit returned, so a
 * result, a push or a stored message is acknowledged only when on disk. */
#include "router/router.h"
#include "lib/log.h"
#include "lib/xs.h"

static struct {
	struct db db;
	MDB_txn *txn;            /* the batch transaction */
	MDB_txn *child;          /* the open child, if any */
	bool dirty;              /* a child committed into txn */
	uint64_t commits;        /* batches written (each an fsync) */
} D;

uint64_t data_commits(void)
{
	return D.commits;
}

int data_open(const struct cfg *cfg)
{
	return db_open_data(&D.db, cfg->data_dir, true);
}

void data_close(void)
{
	if (D.child)
		mdb_txn_abort(D.child);
	if (D.txn)
		mdb_txn_abort(D.txn);
	D.child = D.txn = NULL;
	D.dirty = false;
	db_close(&D.db);
}

struct db *router_data_db(void)
{
	return &D.db;
}

MDB_txn *data_txn(void)
{
	if (D.txn)
		return D.txn;
	int rc = mdb_txn_begin(D.db.env, NULL, 0, &D.txn);
	if (rc != 0) {
		log_error("data txn: %s", mdb_strerror(rc));
		D.txn = NULL;
	}
	return D.txn;
}

int data_begin(MDB_txn **child)
{
	*child = NULL;
	if (D.child) {
		log_error("data: a child transaction is already open");
		return XS_ERROR;
	}
	MDB_txn *parent = data_txn();
	if (parent == NULL)
		return XS_ERROR;
	int rc = mdb_txn_begin(D.db.env, parent, 0, &D.child);
	if (rc != 0) {
		log_error("data child txn: %s", mdb_strerror(rc));
		D.child = NULL;
		return XS_ERROR;
	}
	*child = D.child;
	return XS_OK;
}

int data_end(MDB_txn *child, bool ok)
{
	if (child == NULL || child != D.child) {
		log_error("data: ending a transaction that is not the open child");
		return XS_ERROR;
	}
	D.child = NULL;
	if (!ok) {
		mdb_txn_abort(child);
		return XS_ERROR;
	}
	int rc = mdb_txn_commit(child);
	if (rc != 0) {
		log_error("data child commit: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	D.dirty = true;
	return XS_OK;
}

MDB_txn *data_read(void)
{
	if (D.child)
		return D.child;
	return data_txn();
}

bool data_dirty(void)
{
	return D.dirty;
}

int data_commit(void)
{
	if (D.child) {
		log_error("data: batch ends with a child transaction open; aborted");
		mdb_txn_abort(D.child);
		D.child = NULL;
	}
	if (D.txn == NULL)
		return XS_OK;
	int rc;
	if (D.dirty) {
		rc = mdb_txn_commit(D.txn);
		D.commits++;
	} else {
		mdb_txn_abort(D.txn); /* only read: nothing to write, no fsync */
		rc = 0;
	}
	D.txn = NULL;
	D.dirty = false;
	if (rc != 0) {
		log_error("data commit: %s (this batch's writes are lost)", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

void data_reader_check(void)
{
	db_reader_check(&D.db);
}

int data_table(const char *name, unsigned flags, MDB_dbi *out)
{
	if (D.child || (D.txn && D.dirty)) {
		log_error("data: table %s opened inside a batch", name);
		return XS_ERROR;
	}
	if (D.txn) { /* only read so far (a module's init): end it first */
		mdb_txn_abort(D.txn);
		D.txn = NULL;
	}
	MDB_txn *t;
	int rc = mdb_txn_begin(D.db.env, NULL, 0, &t);
	if (rc == 0) {
		rc = mdb_dbi_open(t, name, flags | MDB_CREATE, out);
		if (rc == 0)
			rc = mdb_txn_commit(t);
		else
			mdb_txn_abort(t);
	}
	if (rc != 0) {
		log_error("data: table %s: %s", name, mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

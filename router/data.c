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
#include "router/data.h"
#include "lib/log.h"
#include "lib/xs.h"

static struct {
	struct db db;
	MDB_txn *txn;            /* the batch transaction */
	MDB_txn *child;          /* the open child, if any */
	bool dirty;              /* a child committed into txn */
	uint64_t commits;        /* batches written (each an fsync) */
} data;

uint64_t data_commits(void)
{
	return data.commits;
}

int data_open(const struct cfg *cfg)
{
	return db_open_data(&data.db, cfg->data_dir, true);
}

void data_close(void)
{
	if (data.child)
		mdb_txn_abort(data.child);
	if (data.txn)
		mdb_txn_abort(data.txn);
	data.child = data.txn = NULL;
	data.dirty = false;
	db_close(&data.db);
}

struct db *router_data_db(void)
{
	return &data.db;
}

MDB_txn *data_txn(void)
{
	if (data.txn)
		return data.txn;
	int rc = mdb_txn_begin(data.db.env, NULL, 0, &data.txn);
	if (rc != 0) {
		log_error("data txn: %s", mdb_strerror(rc));
		data.txn = NULL;
	}
	return data.txn;
}

int data_begin(MDB_txn **child)
{
	*child = NULL;
	if (data.child) {
		log_error("data: a child transaction is already open");
		return XS_ERROR;
	}
	MDB_txn *parent = data_txn();
	if (parent == NULL)
		return XS_ERROR;
	int rc = mdb_txn_begin(data.db.env, parent, 0, &data.child);
	if (rc != 0) {
		log_error("data child txn: %s", mdb_strerror(rc));
		data.child = NULL;
		return XS_ERROR;
	}
	*child = data.child;
	return XS_OK;
}

int data_end(MDB_txn *child, bool ok)
{
	if (child == NULL || child != data.child) {
		log_error("data: ending a transaction that is not the open child");
		return XS_ERROR;
	}
	data.child = NULL;
	if (!ok) {
		mdb_txn_abort(child);
		return XS_ERROR;
	}
	int rc = mdb_txn_commit(child);
	if (rc != 0) {
		log_error("data child commit: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	data.dirty = true;
	return XS_OK;
}

MDB_txn *data_read(void)
{
	if (data.child)
		return data.child;
	return data_txn();
}

bool data_dirty(void)
{
	return data.dirty;
}

int data_commit(void)
{
	if (data.child) {
		log_error("data: batch ends with a child transaction open; aborted");
		mdb_txn_abort(data.child);
		data.child = NULL;
	}
	if (data.txn == NULL)
		return XS_OK;
	int rc;
	if (data.dirty) {
		rc = mdb_txn_commit(data.txn);
		data.commits++;
	} else {
		mdb_txn_abort(data.txn); /* only read: nothing to write, no fsync */
		rc = 0;
	}
	data.txn = NULL;
	data.dirty = false;
	if (rc != 0) {
		log_error("data commit: %s (this batch's writes are lost)", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

void data_reader_check(void)
{
	db_reader_check(&data.db);
}

int data_table(const char *name, unsigned flags, MDB_dbi *out)
{
	if (data.child || (data.txn && data.dirty)) {
		log_error("data: table %s opened inside a batch", name);
		return XS_ERROR;
	}
	if (data.txn) { /* only read so far (a module's init): end it first */
		mdb_txn_abort(data.txn);
		data.txn = NULL;
	}
	MDB_txn *t;
	int rc = mdb_txn_begin(data.db.env, NULL, 0, &t);
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

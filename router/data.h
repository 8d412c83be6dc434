/* data.h — the router's transactions on the durable data env (router/data.c).
 *
 * All writes of one drain batch go into one write transaction (the batch
 * transaction), committed — one fsync — when the batch ends; each module or
 * ctl command writes in a child of it, so a failure undoes only its own work.
 * Once a child committed the batch is dirty: deliveries wait for the commit
 * (router/down.c).  A leaf: it calls nothing else of router/. */
#ifndef XMPPD_ROUTER_DATA_H
#define XMPPD_ROUTER_DATA_H

#include "lib/cfg.h"
#include "lib/db.h"

#include <stdbool.h>
#include <stdint.h>

int data_open(const struct cfg *cfg);
void data_close(void);
struct db *router_data_db(void);
/* The batch transaction (begun lazily); NULL on failure (logged). */
MDB_txn *data_txn(void);
/* A child of the batch transaction (one at a time); XS_OK or XS_ERROR. */
int data_begin(MDB_txn **child);
/* Commits the child into the batch (ok) or aborts it.  XS_OK when committed. */
int data_end(MDB_txn *child, bool ok);
/* For reads: the open child, else the batch transaction. */
MDB_txn *data_read(void);
/* A child committed since the last data_commit: deliveries must wait for it. */
bool data_dirty(void);
/* Ends the batch: commits (fsync) when something was written.  XS_OK/XS_ERROR. */
int data_commit(void);
void data_reader_check(void);
/* Batches committed so far (xmppctl stats). */
uint64_t data_commits(void);
/* Opens (creating) a named table, outside any batch (module init).  XS_OK/XS_ERROR. */
int data_table(const char *name, unsigned flags, MDB_dbi *out);

#endif

/* test_dbkey.c — the per-account key layout of module tables (lib/dbkey). */
#include "lib/dbkey.h"
#include "lib/xs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void test_owner_is_sha256(void **state)
{
	(void)state;
	struct dbkey o;
	assert_int_equal(dbkey_owner(&o, "alice@example.org", 17), XS_OK);
	assert_int_equal(o.len, DBKEY_OWNER_LEN);
	uint8_t h[32];
	assert_int_equal(dbkey_sha256("alice@example.org", 17, h), XS_OK);
	assert_memory_equal(o.b, h, 32);
	struct dbkey p;
	assert_int_equal(dbkey_owner(&p, "bob@example.org", 15), XS_OK);
	assert_memory_not_equal(o.b, p.b, 32);
}

static void test_item_inline_and_hashed(void **state)
{
	(void)state;
	struct dbkey o, k;
	assert_int_equal(dbkey_owner(&o, "alice@example.org", 17), XS_OK);
	/* Short item: inline after O. */
	assert_int_equal(dbkey_item(&k, &o, "bob@example.org", 15), XS_OK);
	assert_int_equal(k.len, DBKEY_OWNER_LEN + 15);
	assert_memory_equal(k.b, o.b, DBKEY_OWNER_LEN);
	assert_memory_equal(k.b + DBKEY_OWNER_LEN, "bob@example.org", 15);
	/* The longest inline item fits LMDB's key limit exactly. */
	char big[DBKEY_INLINE_MAX + 1];
	memset(big, 'x', sizeof(big));
	assert_int_equal(dbkey_item(&k, &o, big, DBKEY_INLINE_MAX), XS_OK);
	assert_int_equal(k.len, DBKEY_MAX);
	/* One byte more: O + 0x00 + SHA-256(item). */
	assert_int_equal(dbkey_item(&k, &o, big, sizeof(big)), XS_OK);
	assert_int_equal(k.len, DBKEY_OWNER_LEN + 1 + 32);
	assert_int_equal(k.b[DBKEY_OWNER_LEN], DBKEY_HASHED);
	uint8_t h[32];
	assert_int_equal(dbkey_sha256(big, sizeof(big), h), XS_OK);
	assert_memory_equal(k.b + DBKEY_OWNER_LEN + 1, h, 32);
	/* An empty item is hashed too: never the account record's key. */
	assert_int_equal(dbkey_item(&k, &o, "", 0), XS_OK);
	assert_int_equal(k.len, DBKEY_OWNER_LEN + 1 + 32);
}

static void test_ranges(void **state)
{
	(void)state;
	struct dbkey o, p, k;
	assert_int_equal(dbkey_owner(&o, "alice@example.org", 17), XS_OK);
	assert_int_equal(dbkey_owner(&p, "bob@example.org", 15), XS_OK);
	assert_int_equal(dbkey_item(&k, &o, "carol@example.org", 17), XS_OK);
	MDB_val ko = dbkey_val(&o), kk = dbkey_val(&k), kp = dbkey_val(&p);
	assert_true(dbkey_in_range(&ko, &o));
	assert_false(dbkey_is_entry(&ko, &o));
	assert_true(dbkey_in_range(&kk, &o));
	assert_true(dbkey_is_entry(&kk, &o));
	assert_false(dbkey_in_range(&kp, &o));
	assert_false(dbkey_in_range(&kk, &p));
}

/* Writes two accounts' ranges into a real LMDB table, deletes one range. */
static void count_entry(const MDB_val *key, const MDB_val *val, void *arg)
{
	(void)key;
	(void)val;
	(*(size_t *)arg)++;
}

static void test_range_delete(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_dbkey.XXXXXX";
	assert_non_null(mkdtemp(dir));
	MDB_env *env;
	MDB_txn *t;
	MDB_dbi dbi;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
	assert_int_equal(mdb_env_open(env, dir, MDB_NOSYNC, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
	assert_int_equal(mdb_dbi_open(t, "t", MDB_CREATE, &dbi), 0);
	struct dbkey o, p, k;
	assert_int_equal(dbkey_owner(&o, "alice@example.org", 17), XS_OK);
	assert_int_equal(dbkey_owner(&p, "bob@example.org", 15), XS_OK);
	MDB_val v = { 1, "v" }, key;
	key = dbkey_val(&o);
	assert_int_equal(mdb_put(t, dbi, &key, &v, 0), 0);
	char big[600];
	memset(big, 'y', sizeof(big));
	const char *items[] = { "a", "zz", big };
	const size_t lens[] = { 1, 2, sizeof(big) };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dbkey_item(&k, &o, items[i], lens[i]), XS_OK);
		key = dbkey_val(&k);
		assert_int_equal(mdb_put(t, dbi, &key, &v, 0), 0);
		assert_int_equal(dbkey_item(&k, &p, items[i], lens[i]), XS_OK);
		key = dbkey_val(&k);
		assert_int_equal(mdb_put(t, dbi, &key, &v, 0), 0);
	}
	size_t entries = 0, deleted = 0;
	assert_int_equal(dbkey_range_delete(t, dbi, &o, count_entry, &entries, &deleted), XS_OK);
	assert_int_equal(entries, 3);
	assert_int_equal(deleted, 4);
	MDB_stat st;
	assert_int_equal(mdb_stat(t, dbi, &st), 0);
	assert_int_equal(st.ms_entries, 3); /* bob's entries are untouched */
	mdb_txn_abort(t);
	mdb_env_close(env);
	char path[64];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_is_sha256),
		cmocka_unit_test(test_item_inline_and_hashed),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_range_delete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

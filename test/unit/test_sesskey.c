/* test_sesskey.c — keys of the session tables (lib/db.h db_sess_key and the
 * "sess" record that carries a long full JID). */
#include "lib/db.h"
#include "lib/dbkey.h"
#include "lib/xs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* A full JID of exactly len bytes: "u@localhost/" then resource bytes. */
static char *jid_of_len(size_t len, char fill)
{
	static const char head[] = "u@localhost/";
	char *j = malloc(len + 1);
	assert_non_null(j);
	assert_true(len >= sizeof(head)); /* at least one resource byte */
	memcpy(j, head, sizeof(head) - 1);
	memset(j + sizeof(head) - 1, fill, len - (sizeof(head) - 1));
	j[len] = '\0';
	return j;
}

static void test_short_is_its_own_key(void **state)
{
	(void)state;
	uint8_t buf[SESS_KEY_HASHED_LEN];
	MDB_val k;
	const char *j = "alice@example.org/phone";
	assert_int_equal(db_sess_key(j, strlen(j), buf, &k), XS_OK);
	assert_ptr_equal(k.mv_data, j); /* no copy on the common path */
	assert_int_equal(k.mv_size, strlen(j));
	assert_false(db_sess_key_hashed(&k));
	/* The longest JID LMDB takes as a key is still its own. */
	char *edge = jid_of_len(SESS_KEY_MAX, 'r');
	assert_int_equal(db_sess_key(edge, SESS_KEY_MAX, buf, &k), XS_OK);
	assert_ptr_equal(k.mv_data, edge);
	assert_int_equal(k.mv_size, SESS_KEY_MAX);
	/* A JID as long as a derived key is not one: it does not start with NUL. */
	char *same_len = jid_of_len(SESS_KEY_HASHED_LEN, 'r');
	assert_int_equal(db_sess_key(same_len, SESS_KEY_HASHED_LEN, buf, &k), XS_OK);
	assert_false(db_sess_key_hashed(&k));
	free(edge);
	free(same_len);
}

static void test_long_is_derived(void **state)
{
	(void)state;
	uint8_t buf[SESS_KEY_HASHED_LEN], h[32];
	MDB_val k;
	const size_t lens[] = { SESS_KEY_MAX + 1, 1535 };
	for (size_t i = 0; i < 2; i++) {
		char *j = jid_of_len(lens[i], 'r');
		assert_int_equal(db_sess_key(j, lens[i], buf, &k), XS_OK);
		assert_ptr_equal(k.mv_data, buf);
		assert_int_equal(k.mv_size, SESS_KEY_HASHED_LEN);
		assert_true(db_sess_key_hashed(&k));
		assert_int_equal(buf[0], SESS_KEY_HASHED);
		assert_int_equal(dbkey_sha256(j, lens[i], h), XS_OK);
		assert_memory_equal(buf + 1, h, 32);
		free(j);
	}
}

static void test_no_collisions(void **state)
{
	(void)state;
	uint8_t b1[SESS_KEY_HASHED_LEN], b2[SESS_KEY_HASHED_LEN];
	MDB_val k1, k2;
	/* Two long JIDs that differ in their last byte. */
	char *a = jid_of_len(1535, 'r'), *b = jid_of_len(1535, 'r');
	b[1534] = 's';
	assert_int_equal(db_sess_key(a, 1535, b1, &k1), XS_OK);
	assert_int_equal(db_sess_key(b, 1535, b2, &k2), XS_OK);
	assert_memory_not_equal(k1.mv_data, k2.mv_data, SESS_KEY_HASHED_LEN);
	/* A long JID's key against short ones of every length: a short key
	 * never begins with the NUL byte a derived one begins with. */
	for (size_t len = 13; len <= SESS_KEY_MAX; len++) {
		char *s = jid_of_len(len, 'r');
		assert_int_equal(db_sess_key(s, len, b2, &k2), XS_OK);
		assert_false(k2.mv_size == k1.mv_size && memcmp(k1.mv_data, k2.mv_data, k1.mv_size) == 0);
		free(s);
	}
	free(a);
	free(b);
}

/* The "sess" value of full under its key, in a malloc'd buffer. */
static MDB_val make_val(const char *full, size_t len, const MDB_val *k, const struct sess_rec *r)
{
	MDB_val v = { db_sess_val_size(k, len), NULL };
	v.mv_data = malloc(v.mv_size);
	assert_non_null(v.mv_data);
	db_sess_val_fill(v.mv_data, k, r, full, len);
	return v;
}

static void round_trip(const char *full, size_t len, size_t want_size)
{
	uint8_t buf[SESS_KEY_HASHED_LEN];
	MDB_val k;
	struct sess_rec r = { .conn = 0x0102030405060708ULL, .since = 1700000000, .priority = -3,
	                      .available = 1, .flags = 2 }, got;
	assert_int_equal(db_sess_key(full, len, buf, &k), XS_OK);
	MDB_val v = make_val(full, len, &k, &r);
	assert_int_equal(v.mv_size, want_size);
	/* A lookup by full finds its record. */
	memset(&got, 0, sizeof(got));
	assert_int_equal(db_sess_rec(&k, &v, full, len, &got), XS_OK);
	assert_memory_equal(&got, &r, sizeof(r));
	/* A listing gets the full JID back, whatever the key. */
	char out[2048];
	memset(&got, 0, sizeof(got));
	assert_int_equal(db_sess_read(&k, &v, &got, out, sizeof(out)), XS_OK);
	assert_string_equal(out, full);
	assert_memory_equal(&got, &r, sizeof(r));
	/* It does not fit a buffer without room for its NUL. */
	assert_int_equal(db_sess_read(&k, &v, &got, out, len), XS_ERROR);
	free(v.mv_data);
}

static void test_stored_jid_round_trip(void **state)
{
	(void)state;
	const char *s = "alice@example.org/phone";
	round_trip(s, strlen(s), sizeof(struct sess_rec));
	char *l = jid_of_len(1535, 'r');
	round_trip(l, 1535, sizeof(struct sess_rec) + 1535);
	free(l);
	/* Multi-byte UTF-8 in the resource. */
	char u[1200];
	int n = snprintf(u, sizeof(u), "u@localhost/");
	while ((size_t)n + 4 < sizeof(u))
		n += snprintf(u + n, sizeof(u) - (size_t)n, "\xc3\xa9\xe2\x82\xac"); /* é€ */
	round_trip(u, strlen(u), sizeof(struct sess_rec) + strlen(u));
}

static void test_carried_jid_checked(void **state)
{
	(void)state;
	uint8_t buf[SESS_KEY_HASHED_LEN];
	MDB_val k;
	struct sess_rec r = { .conn = 7 }, got;
	char *a = jid_of_len(1000, 'r'), *b = jid_of_len(1000, 'r');
	b[999] = 's';
	assert_int_equal(db_sess_key(a, 1000, buf, &k), XS_OK);
	MDB_val v = make_val(a, 1000, &k, &r);
	/* Another JID whose key were the same (a collision) is not its owner. */
	assert_int_equal(db_sess_rec(&k, &v, b, 1000, &got), XS_PASS);
	assert_int_equal(db_sess_rec(&k, &v, a, 999, &got), XS_PASS);
	/* A carried JID that is not the one hashed into the key is refused. */
	char out[1100];
	((char *)v.mv_data)[sizeof(r) + 999] = 's';
	assert_int_equal(db_sess_read(&k, &v, &got, out, sizeof(out)), XS_ERROR);
	/* Malformed: a derived key's record without its JID, a short key's
	 * record with extra bytes. */
	MDB_val bare_rec = { sizeof(r), &r };
	assert_int_equal(db_sess_rec(&k, &bare_rec, a, 1000, &got), XS_ERROR);
	assert_int_equal(db_sess_read(&k, &bare_rec, &got, out, sizeof(out)), XS_ERROR);
	MDB_val sk = { 5, "a@b/c" };
	assert_int_equal(db_sess_rec(&sk, &v, "a@b/c", 5, &got), XS_ERROR);
	assert_int_equal(db_sess_read(&sk, &v, &got, out, sizeof(out)), XS_ERROR);
	free(v.mv_data);
	free(a);
	free(b);
}

/* The keys go into LMDB as they are: a long JID would not (MDB_BAD_VALSIZE),
 * its derived key does, in "sess", "pres" and as a "res" duplicate. */
static void test_lmdb_takes_the_keys(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_sesskey.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct db db = { 0 };
	assert_int_equal(db_open_sessions(&db, dir, true), XS_OK);
	MDB_txn *t;
	assert_int_equal(mdb_txn_begin(db.env, NULL, 0, &t), 0);
	char *full = jid_of_len(1535, 'r');
	struct sess_rec r = { .conn = 9 }, got;
	MDB_val raw = { 1535, full }, v = { sizeof(r), &r };
	assert_int_equal(mdb_put(t, db.sess, &raw, &v, 0), MDB_BAD_VALSIZE);
	uint8_t buf[SESS_KEY_HASHED_LEN];
	MDB_val k;
	assert_int_equal(db_sess_key(full, 1535, buf, &k), XS_OK);
	v = (MDB_val){ db_sess_val_size(&k, 1535), NULL };
	assert_int_equal(mdb_put(t, db.sess, &k, &v, MDB_RESERVE), 0);
	db_sess_val_fill(v.mv_data, &k, &r, full, 1535);
	MDB_val bare = { 11, "u@localhost" }, res = k;
	assert_int_equal(mdb_put(t, db.res, &bare, &res, MDB_NODUPDATA), 0);
	MDB_val p = { 3, "pre" };
	assert_int_equal(mdb_put(t, db.pres, &k, &p, 0), 0);
	/* Read back through the "res" value, as a listing of bare's sessions does. */
	assert_int_equal(mdb_get(t, db.res, &bare, &res), 0);
	assert_true(db_sess_key_hashed(&res));
	MDB_val rk = res;
	assert_int_equal(mdb_get(t, db.sess, &rk, &v), 0);
	char out[2048];
	assert_int_equal(db_sess_read(&rk, &v, &got, out, sizeof(out)), XS_OK);
	assert_string_equal(out, full);
	assert_int_equal(got.conn, 9);
	mdb_txn_abort(t);
	db_close(&db);
	free(full);
	char path[128];
	snprintf(path, sizeof(path), "%s/sessions/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sessions/lock.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sessions", dir);
	rmdir(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_is_its_own_key),
		cmocka_unit_test(test_long_is_derived),
		cmocka_unit_test(test_no_collisions),
		cmocka_unit_test(test_stored_jid_round_trip),
		cmocka_unit_test(test_carried_jid_checked),
		cmocka_unit_test(test_lmdb_takes_the_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

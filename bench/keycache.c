/* keycache.c — SCRAM client keys by (hash, iterations, user, salt): a
 * chained hash table, optionally loaded from and saved to a text file. */
#include "bench/keycache.h"
#include "bench/bench.h"
#include "lib/scram.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TAG_LEN 8

struct entry {
	struct entry *next;
	uint32_t iterations;
	uint8_t hash;
	uint8_t salt_len;
	uint8_t salt[KC_SALT_MAX];
	uint8_t tag[TAG_LEN];      /* of the password the keys derive from */
	struct kc_keys keys;
	char user[];
};

static struct entry **table;
static size_t cap, count;
static unsigned misses;
static uint8_t tag[TAG_LEN]; /* of --password: the only entries used */
static bool tag_set;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t key_hash(int hash, uint32_t it, const char *user, const uint8_t *salt, size_t sl)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t hb = (uint8_t)hash;
	h = fnv(h, &hb, 1);
	h = fnv(h, &it, sizeof(it));
	h = fnv(h, user, strlen(user));
	return fnv(h, salt, sl);
}

static struct entry *find(int hash, uint32_t it, const char *user, const uint8_t *salt,
                          size_t sl, const uint8_t *etag, uint64_t h)
{
	if (cap == 0)
		return NULL;
	for (struct entry *e = table[h & (cap - 1)]; e; e = e->next)
		if (e->hash == hash && e->iterations == it && e->salt_len == sl &&
		    memcmp(e->salt, salt, sl) == 0 && memcmp(e->tag, etag, TAG_LEN) == 0 &&
		    strcmp(e->user, user) == 0)
			return e;
	return NULL;
}

static int grow(void)
{
	size_t ncap = cap ? cap * 2 : 1024;
	struct entry **nt = calloc(ncap, sizeof(*nt));
	if (nt == NULL)
		return -1;
	for (size_t i = 0; i < cap; i++) {
		struct entry *e = table[i];
		while (e) {
			struct entry *next = e->next;
			uint64_t h = key_hash(e->hash, e->iterations, e->user, e->salt, e->salt_len);
			e->next = nt[h & (ncap - 1)];
			nt[h & (ncap - 1)] = e;
			e = next;
		}
	}
	free(table);
	table = nt;
	cap = ncap;
	return 0;
}

bool keycache_get(int hash, uint32_t iterations, const char *user,
                  const uint8_t *salt, size_t salt_len, struct kc_keys *out)
{
	if (salt_len > KC_SALT_MAX)
		return false;
	struct entry *e = find(hash, iterations, user, salt, salt_len, tag,
	                       key_hash(hash, iterations, user, salt, salt_len));
	if (e == NULL)
		return false;
	*out = e->keys;
	return true;
}

static void insert(int hash, uint32_t iterations, const char *user, const uint8_t *salt,
                   size_t salt_len, const uint8_t *etag, const struct kc_keys *keys)
{
	if (salt_len > KC_SALT_MAX)
		return;
	uint64_t h = key_hash(hash, iterations, user, salt, salt_len);
	struct entry *e = find(hash, iterations, user, salt, salt_len, etag, h);
	if (e != NULL) {
		e->keys = *keys;
		return;
	}
	if (count >= cap / 2 && grow() != 0)
		return; /* no memory: the next login pays PBKDF2 again, no harm */
	size_t ul = strlen(user);
	e = malloc(sizeof(*e) + ul + 1);
	if (e == NULL)
		return;
	e->iterations = iterations;
	e->hash = (uint8_t)hash;
	e->salt_len = (uint8_t)salt_len;
	memcpy(e->salt, salt, salt_len);
	memcpy(e->tag, etag, TAG_LEN);
	e->keys = *keys;
	memcpy(e->user, user, ul + 1);
	e->next = table[h & (cap - 1)];
	table[h & (cap - 1)] = e;
	count++;
}

void keycache_put(int hash, uint32_t iterations, const char *user,
                  const uint8_t *salt, size_t salt_len, const struct kc_keys *keys)
{
	misses++;
	insert(hash, iterations, user, salt, salt_len, tag, keys);
}

unsigned keycache_misses(void)
{
	return misses;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

int keycache_load(const char *path, const char *password)
{
	uint8_t digest[32];
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, password, strlen(password), digest) < 0)
		return -1;
	memcpy(tag, digest, TAG_LEN);
	tag_set = true;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		bench_say("--scram-cache %s: %s", path, strerror(errno));
		return -1;
	}
	char line[1024];
	unsigned loaded = 0, bad = 0;
	while (fgets(line, sizeof(line), f)) {
		int hash;
		unsigned long it;
		char user[256], salt64[128], tag64[64], ck64[64], sk64[64];
		if (sscanf(line, "%d %lu %255s %127s %63s %63s %63s", &hash, &it, user, salt64,
		           tag64, ck64, sk64) != 7 || (hash != SCRAM_SHA1 && hash != SCRAM_SHA256)) {
			bad++;
			continue;
		}
		/* Entries of other passwords are kept (and saved again) but never
		 * used with this one. */
		uint8_t etag[TAG_LEN];
		if (!unhex(tag64, etag, TAG_LEN)) {
			bad++;
			continue;
		}
		uint8_t salt[KC_SALT_MAX];
		struct kc_keys k;
		size_t hl = scram_hash_len((enum scram_hash)hash);
		int sl = scram_b64_decode(salt64, strlen(salt64), salt, sizeof(salt));
		if (sl < 0 || scram_b64_decode(ck64, strlen(ck64), k.client_key, KC_KEY_MAX) != (int)hl ||
		    scram_b64_decode(sk64, strlen(sk64), k.server_key, KC_KEY_MAX) != (int)hl) {
			bad++;
			continue;
		}
		if (gnutls_hash_fast(hash == SCRAM_SHA1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256,
		                     k.client_key, hl, k.stored_key) < 0) {
			bad++;
			continue;
		}
		insert(hash, (uint32_t)it, user, salt, (size_t)sl, etag, &k);
		loaded++;
	}
	fclose(f);
	bench_debug("scram cache %s: %u entries loaded, %u malformed lines", path, loaded, bad);
	return 0;
}

int keycache_save(const char *path)
{
	if (!tag_set)
		return -1;
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		bench_say("--scram-cache %s: %s", tmp, strerror(errno));
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	for (size_t i = 0; i < cap; i++) {
		for (struct entry *e = table[i]; e; e = e->next) {
			char taghex[2 * TAG_LEN + 1];
			hex(e->tag, TAG_LEN, taghex);
			size_t hl = scram_hash_len((enum scram_hash)e->hash);
			char salt64[128], ck64[64], sk64[64];
			if (scram_b64_encode(e->salt, e->salt_len, salt64, sizeof(salt64)) < 0 ||
			    scram_b64_encode(e->keys.client_key, hl, ck64, sizeof(ck64)) < 0 ||
			    scram_b64_encode(e->keys.server_key, hl, sk64, sizeof(sk64)) < 0)
				continue;
			fprintf(f, "%d %u %s %s %s %s %s\n", e->hash, e->iterations, e->user, salt64,
			        taghex, ck64, sk64);
		}
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		bench_say("--scram-cache %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

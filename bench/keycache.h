/* keycache.h — SCRAM client keys by (hash, iterations, user, salt).
 *
 * PBKDF2 with a few thousand iterations costs the client about as much as
 * everything else in a login together, and the generator shares the CPU
 * with the server it measures.  So the keys derived from SaltedPassword
 * are computed once per (user, salt, iterations, hash) and kept here, in
 * memory for the run and, with --scram-cache FILE, on disk between runs.
 * The file holds password equivalents for the bench accounts: it is
 * written with mode 0600 and each entry also carries a tag of the password,
 * so a changed --password never reuses stale keys. */
#ifndef XMPPD_BENCH_KEYCACHE_H
#define XMPPD_BENCH_KEYCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KC_KEY_MAX  32 /* SHA-256 */
#define KC_SALT_MAX 64

struct kc_keys {
	uint8_t client_key[KC_KEY_MAX];
	uint8_t stored_key[KC_KEY_MAX];
	uint8_t server_key[KC_KEY_MAX];
};

/* hash: 0 SHA-1, 1 SHA-256 (enum scram_hash). */
bool keycache_get(int hash, uint32_t iterations, const char *user,
                  const uint8_t *salt, size_t salt_len, struct kc_keys *out);
void keycache_put(int hash, uint32_t iterations, const char *user,
                  const uint8_t *salt, size_t salt_len, const struct kc_keys *keys);
/* With the password the entries belong to.  A missing file is not an
 * error.  0 or -1 (reported). */
int keycache_load(const char *path, const char *password);
int keycache_save(const char *path);
/* PBKDF2 runs so far (what the cache did not spare). */
unsigned keycache_misses(void);

#endif

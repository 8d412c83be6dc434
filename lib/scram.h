/* scram.h — SCRAM (RFC 5802, RFC 7677) credentials and the server side of the
 * exchange, over GnuTLS crypto (hash, HMAC, PBKDF2, random, base64).
 *
 * Users are stored as salted keys only: for each hash, StoredKey and ServerKey
 * derived from SaltedPassword = PBKDF2(password, salt, iterations).  PLAIN
 * logins are checked against the same StoredKey. */
#ifndef XMPPD_LIB_SCRAM_H
#define XMPPD_LIB_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scram_hash { SCRAM_SHA1 = 0, SCRAM_SHA256 = 1 };
#define SCRAM_NHASH     2
#define SCRAM_KEY_MAX   32   /* SHA-256 output */
#define SCRAM_SALT_LEN  16
#define SCRAM_NONCE_MAX 128

struct scram_keys {
	uint8_t stored_key[SCRAM_KEY_MAX];
	uint8_t server_key[SCRAM_KEY_MAX];
};

/* One user's credentials for both hashes (same salt and iteration count). */
struct scram_creds {
	uint32_t iterations;
	uint8_t salt[SCRAM_SALT_LEN];
	struct scram_keys keys[SCRAM_NHASH];
	/* Bytes of salt in use; 0 means SCRAM_SALT_LEN.  Shorter salts come
	 * from imported accounts and from RFC 5802's example (12 bytes). */
	uint8_t salt_len;
};

size_t scram_hash_len(enum scram_hash h); /* 20 or 32 */
const char *scram_mech_name(enum scram_hash h); /* "SCRAM-SHA-1", "SCRAM-SHA-256" */

/* Derives keys for one hash from a password (UTF-8, already SASLprep'd by the
 * caller or taken as is) and any salt.  XS_OK or XS_ERROR. */
int scram_derive(enum scram_hash h, const char *password, size_t plen,
                 const uint8_t *salt, size_t salt_len, uint32_t iterations,
                 struct scram_keys *out);
/* New credentials with a fresh random salt, both hashes.  XS_OK or XS_ERROR. */
int scram_creds_make(const char *password, size_t plen, uint32_t iterations,
                     struct scram_creds *out);
/* Deterministic fake credentials for an unknown user (derived from a server
 * secret and the name) so that SCRAM fails only at the proof and does not
 * reveal whether the account exists. */
void scram_creds_fake(const char *username, const uint8_t secret[32],
                      uint32_t iterations, struct scram_creds *out);
/* PLAIN: XS_OK when the password matches (constant-time compare of the
 * SHA-256 StoredKey), XS_ERROR otherwise. */
int scram_check_plain(const struct scram_creds *c, const char *password, size_t plen);

/* Server side of one exchange.  Usage:
 *   scram_server_start(&s, hash, client_first) -> the username to look up
 *   scram_server_challenge(&s, creds, out)     -> server-first-message
 *   scram_server_finish(&s, client_final, out) -> server-final-message "v=..."
 * Channel binding (the -PLUS mechanisms): scram_server_start_cb says whether
 * the client chose a -PLUS mechanism and whether the server offered any.
 * With -PLUS the GS2 flag must be "p=NAME" (NAME in cb_name), and the
 * caller hands the binding data over with scram_server_set_cb before the
 * challenge; c= must then carry the GS2 header followed by that data.
 * Without -PLUS, "n" is accepted, "y" only when the caller does not call it
 * a downgrade (y_downgrade: see y_is_downgrade in workers/sasl.c), "p="
 * never.  An authzid (a=) other than the user's
 * own bare JID is the caller's to check: it is returned in authzid. */
struct scram_server {
	enum scram_hash hash;
	char username[1024];   /* decoded (=2C, =3D) */
	char authzid[1024];    /* "" when absent */
	char gs2_header[1100]; /* verbatim, for the c= check */
	char client_first_bare[2048];
	char server_first[2048];
	char nonce[2 * SCRAM_NONCE_MAX + 1]; /* client nonce + server nonce */
	struct scram_creds creds;
	int step;
	bool plus;             /* a -PLUS mechanism */
	char cb_name[32];      /* its channel-binding type */
	uint8_t cb_data[128];
	size_t cb_len;
};

#define SCRAM_CB_MAX 128

/* As scram_server_start, for a -PLUS mechanism (plus), refusing the GS2
 * flag "y" when y_downgrade. */
int scram_server_start_cb(struct scram_server *s, enum scram_hash h, const char *msg,
                          size_t len, bool plus, bool y_downgrade);
/* The channel-binding data for cb_name.  XS_OK, XS_ERROR (too long). */
int scram_server_set_cb(struct scram_server *s, const uint8_t *data, size_t len);

/* Parses client-first-message.  XS_OK, or XS_ERROR when malformed (the caller
 * answers <failure><malformed-request/>). */
int scram_server_start(struct scram_server *s, enum scram_hash h,
                       const char *msg, size_t len);
/* Builds server-first-message into out (NUL-terminated).  server_nonce may be
 * NULL (random, 24 bytes base64) or fixed text for tests.  XS_OK or XS_ERROR. */
int scram_server_challenge(struct scram_server *s, const struct scram_creds *creds,
                           const char *server_nonce, char *out, size_t cap);
/* Checks client-final-message; on success writes server-final-message
 * ("v=...") into out and returns XS_OK; XS_ERROR when the proof, nonce or
 * channel binding is wrong or the message malformed. */
int scram_server_finish(struct scram_server *s, const char *msg, size_t len,
                        char *out, size_t cap);

/* base64 helpers (GnuTLS).  Return the output length, or -1 on error/overflow. */
int scram_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int scram_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif

/* test_scram.c — SCRAM credentials and server exchange (lib/scram.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#include "lib/scram.h"
#include "lib/xs.h"

/* ---- the RFC examples -------------------------------------------------- */

struct vector {
	enum scram_hash hash;
	const char *password;
	const char *salt64;
	uint32_t iterations;
	const char *server_nonce;
	const char *client_first;
	const char *server_first;
	const char *client_final;
	const char *server_final;
};

/* RFC 5802 section 5. */
static const struct vector rfc5802 = {
	SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096, "3rfcNHYJY1ZVvWVs7j",
	"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

/* RFC 7677 section 3. */
static const struct vector rfc7677 = {
	SCRAM_SHA256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096,
	"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

/* Credentials for both hashes with the vector's salt, as a user imported
 * with that salt would have. */
static void vector_creds(const struct vector *v, struct scram_creds *c)
{
	int n;

	memset(c, 0, sizeof(*c));
	n = scram_b64_decode(v->salt64, strlen(v->salt64), c->salt, sizeof(c->salt));
	assert_true(n > 0);
	c->salt_len = (uint8_t)n;
	c->iterations = v->iterations;
	for (int h = 0; h < SCRAM_NHASH; h++)
		assert_int_equal(scram_derive((enum scram_hash)h, v->password, strlen(v->password),
		                              c->salt, (size_t)n, v->iterations, &c->keys[h]),
		                 XS_OK);
}

/* Runs start and challenge of the vector; the state is then waiting for
 * client-final-message. */
static void vector_begin(const struct vector *v, struct scram_server *s)
{
	struct scram_creds c;
	char out[512];

	vector_creds(v, &c);
	assert_int_equal(scram_server_start(s, v->hash, v->client_first, strlen(v->client_first)),
	                 XS_OK);
	assert_int_equal(scram_server_challenge(s, &c, v->server_nonce, out, sizeof(out)), XS_OK);
	assert_string_equal(out, v->server_first);
}

static void run_vector(const struct vector *v)
{
	static struct scram_server s;
	char out[512];

	vector_begin(v, &s);
	assert_string_equal(s.username, "user");
	assert_string_equal(s.authzid, "");
	assert_string_equal(s.gs2_header, "n,,");
	assert_int_equal(scram_server_finish(&s, v->client_final, strlen(v->client_final), out,
	                                     sizeof(out)),
	                 XS_OK);
	assert_string_equal(out, v->server_final);
}

static void test_rfc5802_sha1(void **state)
{
	(void)state;
	run_vector(&rfc5802);
}

static void test_rfc7677_sha256(void **state)
{
	(void)state;
	run_vector(&rfc7677);
}

static void test_wrong_proof(void **state)
{
	static struct scram_server s;
	char msg[256], out[128];
	char *p;

	(void)state;
	vector_begin(&rfc7677, &s);
	strcpy(msg, rfc7677.client_final);
	/* One base64 character changed: still 32 bytes, wrong by a few bits. */
	p = strstr(msg, ",p=") + 3;
	*p = (*p == 'A') ? 'B' : 'A';
	strcpy(out, "junk");
	assert_int_equal(scram_server_finish(&s, msg, strlen(msg), out, sizeof(out)), XS_ERROR);
	assert_string_equal(out, "");
	/* The exchange is over: the right proof now is too late. */
	assert_int_equal(scram_server_finish(&s, rfc7677.client_final,
	                                     strlen(rfc7677.client_final), out, sizeof(out)),
	                 XS_ERROR);

	/* The SHA-1 example with a wrong password on the server side. */
	{
		struct vector v = rfc5802;
		v.password = "pencil2";
		struct scram_creds c;
		vector_creds(&v, &c);
		assert_int_equal(scram_server_start(&s, v.hash, v.client_first,
		                                    strlen(v.client_first)), XS_OK);
		assert_int_equal(scram_server_challenge(&s, &c, v.server_nonce, out, sizeof(out)),
		                 XS_OK);
		assert_int_equal(scram_server_finish(&s, v.client_final, strlen(v.client_final),
		                                     out, sizeof(out)), XS_ERROR);
	}
}

/* ---- a client, to drive exchanges the RFCs do not show ---------------- */

static void client_proof(enum scram_hash h, const char *password, const struct scram_creds *c,
                         const char *auth, size_t auth_len, char *b64, size_t cap)
{
	gnutls_mac_algorithm_t mac = h == SCRAM_SHA1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
	gnutls_digest_algorithm_t dig = h == SCRAM_SHA1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256;
	size_t hl = scram_hash_len(h);
	size_t sl = c->salt_len ? c->salt_len : SCRAM_SALT_LEN;
	uint8_t salted[32], ckey[32], stored[32], sig[32], proof[32];
	gnutls_datum_t pw = { (unsigned char *)password, (unsigned)strlen(password) };
	gnutls_datum_t salt = { (unsigned char *)c->salt, (unsigned)sl };

	assert_int_equal(gnutls_pbkdf2(mac, &pw, &salt, c->iterations, salted, hl), 0);
	assert_int_equal(gnutls_hmac_fast(mac, salted, hl, "Client Key", 10, ckey), 0);
	assert_int_equal(gnutls_hash_fast(dig, ckey, hl, stored), 0);
	assert_int_equal(gnutls_hmac_fast(mac, stored, hl, auth, auth_len, sig), 0);
	for (size_t i = 0; i < hl; i++)
		proof[i] = ckey[i] ^ sig[i];
	assert_true(scram_b64_encode(proof, hl, b64, cap) > 0);
}

/* A whole exchange as a well-behaved client would run it.  extra is put
 * between r= and p= (extensions).  Returns what scram_server_finish said. */
static int exchange(enum scram_hash h, const struct scram_creds *c, const char *password,
                    const char *client_first, const char *server_nonce, const char *extra,
                    struct scram_server *s, char *server_final, size_t cap)
{
	char sfirst[2048], cb64[2048], final[4096], auth[8192], proof[64];
	int n;

	if (scram_server_start(s, h, client_first, strlen(client_first)) != XS_OK)
		return -100;
	if (scram_server_challenge(s, c, server_nonce, sfirst, sizeof(sfirst)) != XS_OK)
		return -101;
	n = scram_b64_encode((const uint8_t *)s->gs2_header, strlen(s->gs2_header), cb64,
	                     sizeof(cb64));
	assert_true(n > 0);
	snprintf(final, sizeof(final), "c=%s,r=%s%s", cb64, s->nonce, extra);
	snprintf(auth, sizeof(auth), "%s,%s,%s", client_first + strlen(s->gs2_header), sfirst,
	         final);
	client_proof(h, password, c, auth, strlen(auth), proof, sizeof(proof));
	strcat(final, ",p=");
	strcat(final, proof);
	return scram_server_finish(s, final, strlen(final), server_final, cap);
}

static void test_exchange_variants(void **state)
{
	static struct scram_server s;
	struct scram_creds c;
	char out[128];

	(void)state;
	assert_int_equal(scram_creds_make("s3cret \xC3\xA9", 9, 4096, &c), XS_OK);
	for (int h = 0; h < SCRAM_NHASH; h++) {
		/* Random server nonce: 24 base64 characters after the client's. */
		assert_int_equal(exchange((enum scram_hash)h, &c, "s3cret \xC3\xA9",
		                          "n,,n=romeo,r=abcdef", NULL, "", &s, out, sizeof(out)),
		                 XS_OK);
		assert_int_equal(strlen(s.nonce), 6 + 24);
		assert_memory_equal(s.nonce, "abcdef", 6);
		for (size_t i = 6; i < 30; i++)
			assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			                       "0123456789+/", s.nonce[i]));
		assert_memory_equal(out, "v=", 2);

		/* The "y" flag, an authzid with escapes, escaped username,
		 * extensions in both messages. */
		assert_int_equal(exchange((enum scram_hash)h, &c, "s3cret \xC3\xA9",
		                          "y,a=juliet=2Cx=3Dy,n=ro=2Cme=3Do,r=abc,e=ext,f=x=y",
		                          "srv", ",x=ext", &s, out, sizeof(out)),
		                 XS_OK);
		assert_string_equal(s.username, "ro,me=o");
		assert_string_equal(s.authzid, "juliet,x=y");
		assert_string_equal(s.gs2_header, "y,a=juliet=2Cx=3Dy,");

		/* Wrong password on the client side. */
		assert_int_equal(exchange((enum scram_hash)h, &c, "s3cret e",
		                          "n,,n=romeo,r=abcdef", NULL, "", &s, out, sizeof(out)),
		                 XS_ERROR);
	}
}

static void test_random_nonces_differ(void **state)
{
	static struct scram_server a, b;
	struct scram_creds c;
	char out[256];

	(void)state;
	vector_creds(&rfc7677, &c);
	assert_int_equal(scram_server_start(&a, SCRAM_SHA256, "n,,n=u,r=x", 10), XS_OK);
	assert_int_equal(scram_server_challenge(&a, &c, NULL, out, sizeof(out)), XS_OK);
	assert_int_equal(scram_server_start(&b, SCRAM_SHA256, "n,,n=u,r=x", 10), XS_OK);
	assert_int_equal(scram_server_challenge(&b, &c, NULL, out, sizeof(out)), XS_OK);
	assert_string_not_equal(a.nonce, b.nonce);
	assert_memory_equal(out, "r=x", 3);
}

/* ---- malformed client-first-message ----------------------------------- */

static void expect_start_bad_n(const char *msg, size_t len)
{
	static struct scram_server s;

	if (scram_server_start(&s, SCRAM_SHA256, msg, len) != XS_ERROR)
		fail_msg("client-first \"%.*s\" should be refused", (int)len, msg);
	/* Nothing half-parsed is left, and the exchange cannot go on. */
	assert_string_equal(s.username, "");
	assert_int_equal(scram_server_challenge(&s, &(struct scram_creds){ .iterations = 1 },
	                                        "x", (char[64]){ 0 }, 64),
	                 XS_ERROR);
}

static void expect_start_bad(const char *msg)
{
	expect_start_bad_n(msg, strlen(msg));
}

static void expect_start_ok(const char *msg, const char *user, const char *authzid)
{
	static struct scram_server s;

	if (scram_server_start(&s, SCRAM_SHA256, msg, strlen(msg)) != XS_OK)
		fail_msg("client-first \"%s\" should be accepted", msg);
	assert_string_equal(s.username, user);
	assert_string_equal(s.authzid, authzid);
}

static void test_start_valid(void **state)
{
	(void)state;
	expect_start_ok("n,,n=user,r=abc", "user", "");
	expect_start_ok("y,,n=user,r=abc", "user", "");
	expect_start_ok("n,a=admin,n=user,r=abc", "user", "admin");
	expect_start_ok("n,,n==3D=2C,r=abc", "=,", "");
	expect_start_ok("n,,n=j\xC3\xBCrgen,r=!\"#$%&'()*+-./~", "j\xC3\xBCrgen", "");
	expect_start_ok("n,,n=user,r=abc,e=1,X=y=z", "user", "");
}

static void test_start_malformed(void **state)
{
	static char big[8192];
	char *p;

	(void)state;
	expect_start_bad("");
	expect_start_bad("n");
	expect_start_bad("n,");
	expect_start_bad("n,,");
	expect_start_bad("n,,n=user");
	expect_start_bad("n,,n=user,");
	expect_start_bad("n,,r=abc");
	expect_start_bad("n,,r=abc,n=user");
	expect_start_bad("x,,n=user,r=abc");
	expect_start_bad("N,,n=user,r=abc");
	expect_start_bad("n,n=user,r=abc");
	expect_start_bad("nn,,n=user,r=abc");
	/* Channel binding requested. */
	expect_start_bad("p=tls-unique,,n=user,r=abc");
	expect_start_bad("p=tls-exporter,a=x,n=user,r=abc");
	/* Mandatory extension. */
	expect_start_bad("n,,m=ext,n=user,r=abc");
	/* authzid. */
	expect_start_bad("n,a=,n=user,r=abc");
	expect_start_bad("n,a=x=ZZ,n=user,r=abc");
	expect_start_bad("n,b=x,n=user,r=abc");
	expect_start_bad("n,a=x");
	expect_start_bad("n,a");
	/* Username and its escapes. */
	expect_start_bad("n,,n=,r=abc");
	expect_start_bad("n,,n=us=2cer,r=abc");
	expect_start_bad("n,,n=us=41er,r=abc");
	expect_start_bad("n,,n=user=,r=abc");
	expect_start_bad("n,,n=user=2,r=abc");
	expect_start_bad("n,,n=user=3,r=abc");
	expect_start_bad("n,,n=\xC3,r=abc");
	expect_start_bad("n,,n=\xED\xA0\x80,r=abc");
	expect_start_bad_n("n,,n=us\0er,r=abc", 16);
	/* Nonce. */
	expect_start_bad("n,,n=user,r=");
	expect_start_bad("n,,n=user,r=ab c");
	expect_start_bad("n,,n=user,r=ab\x7f");
	expect_start_bad("n,,n=user,r=\xC3\xA9");
	expect_start_bad("n,,n=user,r=abc,");
	expect_start_bad("n,,n=user,x=abc");
	/* Extensions. */
	expect_start_bad("n,,n=user,r=abc,x=");
	expect_start_bad("n,,n=user,r=abc,1=x");
	expect_start_bad("n,,n=user,r=abc,xx=y");
	expect_start_bad("n,,n=user,r=abc,,x=y");

	/* Overlong fields: nonce 128 passes, 129 does not. */
	strcpy(big, "n,,n=user,r=");
	p = big + strlen(big);
	memset(p, 'N', 128);
	p[128] = '\0';
	expect_start_ok(big, "user", "");
	p[128] = 'N';
	p[129] = '\0';
	expect_start_bad(big);

	/* Username 1023 bytes passes, 1024 do not. */
	strcpy(big, "n,,n=");
	p = big + 5;
	memset(p, 'u', 1023);
	strcpy(p + 1023, ",r=abc");
	{
		static struct scram_server s;
		assert_int_equal(scram_server_start(&s, SCRAM_SHA256, big, strlen(big)), XS_OK);
		assert_int_equal(strlen(s.username), 1023);
	}
	memset(p, 'u', 1024);
	strcpy(p + 1024, ",r=abc");
	expect_start_bad(big);
	/* Escapes count once decoded: 600 "=2C" make 600 bytes ... */
	strcpy(big, "n,,n=");
	for (int i = 0; i < 600; i++)
		strcat(big, "=2C");
	strcat(big, ",r=abc");
	{
		static struct scram_server s;
		assert_int_equal(scram_server_start(&s, SCRAM_SHA256, big, strlen(big)), XS_OK);
		assert_int_equal(strlen(s.username), 600);
	}
	/* ... but the message is kept verbatim for AuthMessage, so one longer
	 * than client_first_bare can hold is refused however it decodes. */
	strcpy(big, "n,,n=");
	for (int i = 0; i < 700; i++)
		strcat(big, "=2C");
	strcat(big, ",r=abc");
	expect_start_bad(big);
	/* authzid 1024 bytes. */
	strcpy(big, "n,a=");
	memset(big + 4, 'a', 1024);
	strcpy(big + 4 + 1024, ",n=user,r=abc");
	expect_start_bad(big);
	/* A long message made of extensions. */
	strcpy(big, "n,,n=user,r=abc,e=");
	memset(big + strlen(big), 'e', 3000);
	big[18 + 3000] = '\0';
	expect_start_bad(big);
	/* Bad hash. */
	{
		static struct scram_server s;
		assert_int_equal(scram_server_start(&s, (enum scram_hash)7, "n,,n=u,r=a", 10),
		                 XS_ERROR);
	}
}

/* ---- malformed client-final-message ----------------------------------- */

static void expect_finish_bad(const char *msg)
{
	static struct scram_server s;
	char out[128];

	vector_begin(&rfc7677, &s);
	strcpy(out, "junk");
	if (scram_server_finish(&s, msg, strlen(msg), out, sizeof(out)) != XS_ERROR)
		fail_msg("client-final \"%s\" should be refused", msg);
	assert_string_equal(out, "");
}

#define N7677 "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define P7677 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="

static void test_finish_malformed(void **state)
{
	static char big[8192];

	(void)state;
	expect_finish_bad("");
	expect_finish_bad("c=biws");
	expect_finish_bad("c=biws,r=" N7677);
	expect_finish_bad("c=biws,r=" N7677 ",");
	expect_finish_bad("c=biws,r=" N7677 ",p=");
	expect_finish_bad("r=" N7677 ",p=" P7677);
	expect_finish_bad("c=biws,p=" P7677);
	expect_finish_bad("c=biws,p=" P7677 ",r=" N7677);
	/* Nonce: only the client's half, one more character, one less. */
	expect_finish_bad("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=" P7677);
	expect_finish_bad("c=biws,r=" N7677 "x,p=" P7677);
	expect_finish_bad("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k,p=" P7677);
	/* Channel binding that is not the gs2 header sent: "y,," and
	 * "n,a=user," and a p= binding. */
	expect_finish_bad("c=eSws,r=" N7677 ",p=" P7677);
	expect_finish_bad("c=bixhPXVzZXIs,r=" N7677 ",p=" P7677);
	expect_finish_bad("c=cD10bHMtdW5pcXVlLCw=,r=" N7677 ",p=" P7677);
	expect_finish_bad("c=,r=" N7677 ",p=" P7677);
	/* Base64 that is not strictly base64. */
	expect_finish_bad("c=biw,r=" N7677 ",p=" P7677);
	expect_finish_bad("c=bi ws,r=" N7677 ",p=" P7677);
	expect_finish_bad("c=biws,r=" N7677 ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ");
	expect_finish_bad("c=biws,r=" N7677 ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVR=");
	expect_finish_bad("c=biws,r=" N7677 ",p=dHzbZapWIk4jUhN-Ute9ytag9zjfMHgsqmmiz7AndVQ=");
	expect_finish_bad("c=biws,r=" N7677 ",p= dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
	/* A proof of the wrong length (a SHA-1 sized one). */
	expect_finish_bad("c=biws,r=" N7677 ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
	/* The proof must be last, and extensions change AuthMessage. */
	expect_finish_bad("c=biws,r=" N7677 ",p=" P7677 ",x=y");
	expect_finish_bad("c=biws,r=" N7677 ",x=y,p=" P7677);
	expect_finish_bad("c=biws,r=" N7677 ",x=,p=" P7677);
	expect_finish_bad("c=biws,r=" N7677 ",p=" P7677 "\xC3");
	/* Overlong: a huge c= and a huge message. */
	strcpy(big, "c=");
	memset(big + 2, 'A', 4000);
	strcpy(big + 4002, ",r=" N7677 ",p=" P7677);
	expect_finish_bad(big);
	strcpy(big, "c=biws,r=" N7677 ",x=");
	memset(big + strlen(big), 'x', 5000);
	strcpy(big + strlen(big), ",p=" P7677);
	expect_finish_bad(big);
}

static void test_out_of_order(void **state)
{
	static struct scram_server s;
	struct scram_creds c;
	char out[256];

	(void)state;
	vector_creds(&rfc7677, &c);
	memset(&s, 0, sizeof(s));
	assert_int_equal(scram_server_challenge(&s, &c, "x", out, sizeof(out)), XS_ERROR);
	assert_int_equal(scram_server_finish(&s, rfc7677.client_final,
	                                     strlen(rfc7677.client_final), out, sizeof(out)),
	                 XS_ERROR);
	assert_int_equal(scram_server_start(&s, SCRAM_SHA256, rfc7677.client_first,
	                                    strlen(rfc7677.client_first)), XS_OK);
	assert_int_equal(scram_server_finish(&s, rfc7677.client_final,
	                                     strlen(rfc7677.client_final), out, sizeof(out)),
	                 XS_ERROR);
	/* The failed step ended the exchange. */
	assert_int_equal(scram_server_challenge(&s, &c, rfc7677.server_nonce, out, sizeof(out)),
	                 XS_ERROR);
	/* Challenge twice. */
	vector_begin(&rfc7677, &s);
	assert_int_equal(scram_server_challenge(&s, &c, "x", out, sizeof(out)), XS_ERROR);
}

static void test_challenge_errors(void **state)
{
	static struct scram_server s;
	struct scram_creds c;
	char out[512], nonce[200];

	(void)state;
	vector_creds(&rfc7677, &c);
#define START() assert_int_equal(scram_server_start(&s, SCRAM_SHA256, rfc7677.client_first, \
	                                            strlen(rfc7677.client_first)), XS_OK)
	START();
	assert_int_equal(scram_server_challenge(&s, &c, "a,b", out, sizeof(out)), XS_ERROR);
	START();
	assert_int_equal(scram_server_challenge(&s, &c, "", out, sizeof(out)), XS_ERROR);
	START();
	assert_int_equal(scram_server_challenge(&s, &c, "a b", out, sizeof(out)), XS_ERROR);
	START();
	memset(nonce, 'n', 129);
	nonce[129] = '\0';
	assert_int_equal(scram_server_challenge(&s, &c, nonce, out, sizeof(out)), XS_ERROR);
	START();
	nonce[128] = '\0';
	assert_int_equal(scram_server_challenge(&s, &c, nonce, out, sizeof(out)), XS_OK);
	/* Output buffer one byte short, then exactly right. */
	START();
	assert_int_equal(scram_server_challenge(&s, &c, rfc7677.server_nonce, out,
	                                        strlen(rfc7677.server_first)), XS_ERROR);
	START();
	assert_int_equal(scram_server_challenge(&s, &c, rfc7677.server_nonce, out,
	                                        strlen(rfc7677.server_first) + 1), XS_OK);
	/* Stored credentials that make no sense. */
	START();
	c.iterations = 0;
	assert_int_equal(scram_server_challenge(&s, &c, "x", out, sizeof(out)), XS_ERROR);
	c.iterations = 4096;
	c.salt_len = SCRAM_SALT_LEN + 1;
	START();
	assert_int_equal(scram_server_challenge(&s, &c, "x", out, sizeof(out)), XS_ERROR);
#undef START
}

static void test_finish_small_output(void **state)
{
	static struct scram_server s;
	char out[64];
	size_t need = strlen(rfc7677.server_final) + 1;

	(void)state;
	vector_begin(&rfc7677, &s);
	assert_int_equal(scram_server_finish(&s, rfc7677.client_final,
	                                     strlen(rfc7677.client_final), out, need - 1),
	                 XS_ERROR);
	vector_begin(&rfc7677, &s);
	assert_int_equal(scram_server_finish(&s, rfc7677.client_final,
	                                     strlen(rfc7677.client_final), out, need),
	                 XS_OK);
	assert_string_equal(out, rfc7677.server_final);
	/* The keys are wiped once the exchange is over. */
	for (size_t i = 0; i < sizeof(s.creds.keys); i++)
		assert_int_equal(((const uint8_t *)s.creds.keys)[i], 0);
}

/* ---- credentials ------------------------------------------------------- */

static void test_check_plain(void **state)
{
	struct scram_creds c;

	(void)state;
	assert_int_equal(scram_creds_make("pencil", 6, 4096, &c), XS_OK);
	assert_int_equal(scram_check_plain(&c, "pencil", 6), XS_OK);
	assert_int_equal(scram_check_plain(&c, "Pencil", 6), XS_ERROR);
	assert_int_equal(scram_check_plain(&c, "pencil ", 7), XS_ERROR);
	assert_int_equal(scram_check_plain(&c, "penci", 5), XS_ERROR);
	assert_int_equal(scram_check_plain(&c, "", 0), XS_ERROR);
	/* Length, not NUL, ends the password. */
	assert_int_equal(scram_check_plain(&c, "pencilXYZ", 6), XS_OK);

	/* An imported user with a 12-byte salt. */
	vector_creds(&rfc5802, &c);
	assert_int_equal(c.salt_len, 12);
	assert_int_equal(scram_check_plain(&c, "pencil", 6), XS_OK);
	assert_int_equal(scram_check_plain(&c, "pencil2", 7), XS_ERROR);

	/* Zero iterations in storage fail the login, not the process. */
	c.iterations = 0;
	assert_int_equal(scram_check_plain(&c, "pencil", 6), XS_ERROR);
}

static void test_creds_make(void **state)
{
	struct scram_creds a, b;
	struct scram_keys k;

	(void)state;
	assert_int_equal(scram_creds_make("pencil", 6, 4096, &a), XS_OK);
	assert_int_equal(scram_creds_make("pencil", 6, 4096, &b), XS_OK);
	assert_int_equal(a.iterations, 4096);
	assert_int_equal(a.salt_len, SCRAM_SALT_LEN);
	assert_memory_not_equal(a.salt, b.salt, SCRAM_SALT_LEN);
	assert_memory_not_equal(a.keys[SCRAM_SHA256].stored_key, b.keys[SCRAM_SHA256].stored_key,
	                        32);
	for (int h = 0; h < SCRAM_NHASH; h++) {
		assert_int_equal(scram_derive((enum scram_hash)h, "pencil", 6, a.salt,
		                              SCRAM_SALT_LEN, 4096, &k), XS_OK);
		assert_memory_equal(&k, &a.keys[h], sizeof(k));
	}
	assert_int_equal(scram_creds_make("pencil", 6, 0, &a), XS_ERROR);
}

static void test_derive(void **state)
{
	struct scram_keys k;
	uint8_t salt[4] = { 1, 2, 3, 4 };
	static const uint8_t zero[SCRAM_KEY_MAX - 20];

	(void)state;
	assert_int_equal(scram_derive(SCRAM_SHA1, "pw", 2, salt, 4, 1, &k), XS_OK);
	/* SHA-1 keys fill 20 bytes; the rest stays zero so structs compare. */
	assert_memory_equal(k.stored_key + 20, zero, sizeof(zero));
	assert_memory_equal(k.server_key + 20, zero, sizeof(zero));
	assert_int_equal(scram_derive(SCRAM_SHA1, "pw", 2, salt, 4, 0, &k), XS_ERROR);
	assert_int_equal(scram_derive(SCRAM_SHA1, "pw", 2, salt, 0, 1, &k), XS_ERROR);
	assert_int_equal(scram_derive((enum scram_hash)2, "pw", 2, salt, 4, 1, &k), XS_ERROR);
	assert_int_equal(scram_hash_len(SCRAM_SHA1), 20);
	assert_int_equal(scram_hash_len(SCRAM_SHA256), 32);
	assert_string_equal(scram_mech_name(SCRAM_SHA1), "SCRAM-SHA-1");
	assert_string_equal(scram_mech_name(SCRAM_SHA256), "SCRAM-SHA-256");
}

static void test_fake_creds(void **state)
{
	static struct scram_server s;
	struct scram_creds a, b, o;
	uint8_t secret[32], secret2[32];
	char out[256];

	(void)state;
	memset(secret, 0x5a, sizeof(secret));
	memset(secret2, 0x5b, sizeof(secret2));
	scram_creds_fake("nobody", secret, 4096, &a);
	scram_creds_fake("nobody", secret, 4096, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(a.iterations, 4096);
	assert_int_equal(a.salt_len, SCRAM_SALT_LEN);

	scram_creds_fake("nobody2", secret, 4096, &o);
	assert_memory_not_equal(a.salt, o.salt, SCRAM_SALT_LEN);
	scram_creds_fake("nobody", secret2, 4096, &o);
	assert_memory_not_equal(a.salt, o.salt, SCRAM_SALT_LEN);
	for (int h = 0; h < SCRAM_NHASH; h++) {
		assert_memory_not_equal(a.keys[h].stored_key, a.keys[h].server_key,
		                        scram_hash_len((enum scram_hash)h));
		assert_memory_not_equal(a.keys[h].stored_key, o.keys[h].stored_key,
		                        scram_hash_len((enum scram_hash)h));
	}

	/* The exchange runs to the proof and fails there. */
	for (int h = 0; h < SCRAM_NHASH; h++)
		assert_int_equal(exchange((enum scram_hash)h, &a, "", "n,,n=nobody,r=abc", NULL, "",
		                          &s, out, sizeof(out)),
		                 XS_ERROR);
	assert_int_equal(scram_check_plain(&a, "", 0), XS_ERROR);
	assert_int_equal(scram_check_plain(&a, "nobody", 6), XS_ERROR);
}

/* ---- base64 ------------------------------------------------------------ */

static void test_b64_vectors(void **state)
{
	/* RFC 4648 section 10. */
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char enc[32];
	uint8_t dec[32];

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t l = strlen(vec[i][0]);
		assert_int_equal(scram_b64_encode((const uint8_t *)vec[i][0], l, enc, sizeof(enc)),
		                 (int)strlen(vec[i][1]));
		assert_string_equal(enc, vec[i][1]);
		assert_int_equal(scram_b64_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof(dec)),
		                 (int)l);
		assert_memory_equal(dec, vec[i][0], l);
	}
}

static void test_b64_round_trip(void **state)
{
	uint8_t in[300], dec[300];
	char enc[420];

	(void)state;
	assert_int_equal(gnutls_rnd(GNUTLS_RND_NONCE, in, sizeof(in)), 0);
	for (size_t l = 0; l <= sizeof(in); l++) {
		int n = scram_b64_encode(in, l, enc, sizeof(enc));
		assert_int_equal(n, (int)(4 * ((l + 2) / 3)));
		assert_int_equal(strlen(enc), (size_t)n);
		assert_int_equal(scram_b64_decode(enc, (size_t)n, dec, l), (int)l);
		assert_memory_equal(dec, in, l);
		if (l > 0)
			assert_int_equal(scram_b64_decode(enc, (size_t)n, dec, l - 1), -1);
	}
	/* Every byte value survives. */
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	assert_int_equal(scram_b64_encode(in, 256, enc, sizeof(enc)), 344);
	assert_int_equal(scram_b64_decode(enc, 344, dec, sizeof(dec)), 256);
	assert_memory_equal(dec, in, 256);
}

static void test_b64_strict(void **state)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z", "Z===", "====", "Zg==Zg==", "Zm9v\n", "Zm 9v", " Zm9v",
		"Zh==", "Zm9=", "Zm9v-_==", "Zm9v*A==", "=Zm9",
	};
	char enc[8];
	uint8_t dec[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (scram_b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)) != -1)
			fail_msg("\"%s\" should not decode", bad[i]);
	assert_int_equal(scram_b64_decode("Zm9v\0Zm9v", 8, dec, sizeof(dec)), -1);
	/* Encoding needs room for the NUL too. */
	assert_int_equal(scram_b64_encode((const uint8_t *)"foo", 3, enc, 4), -1);
	assert_int_equal(scram_b64_encode((const uint8_t *)"foo", 3, enc, 5), 4);
	assert_int_equal(scram_b64_encode((const uint8_t *)"", 0, enc, 0), -1);
	assert_int_equal(scram_b64_encode((const uint8_t *)"", 0, enc, 1), 0);
	assert_int_equal(scram_b64_decode("Zm9v", 4, dec, 2), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5802_sha1),
		cmocka_unit_test(test_rfc7677_sha256),
		cmocka_unit_test(test_wrong_proof),
		cmocka_unit_test(test_exchange_variants),
		cmocka_unit_test(test_random_nonces_differ),
		cmocka_unit_test(test_start_valid),
		cmocka_unit_test(test_start_malformed),
		cmocka_unit_test(test_finish_malformed),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_challenge_errors),
		cmocka_unit_test(test_finish_small_output),
		cmocka_unit_test(test_check_plain),
		cmocka_unit_test(test_creds_make),
		cmocka_unit_test(test_derive),
		cmocka_unit_test(test_fake_creds),
		cmocka_unit_test(test_b64_vectors),
		cmocka_unit_test(test_b64_round_trip),
		cmocka_unit_test(test_b64_strict),
	};
	return cmocka_run_group_tests_name("scram", tests, NULL, NULL);
}

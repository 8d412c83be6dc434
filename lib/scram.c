/* scram.c — SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), server side,
 * over GnuTLS crypto.
 *
 * The messages parsed here come from unauthenticated clients: every field is
 * checked against the grammar and against the size of the buffer it lands
 * in before it is copied, and nothing is logged (the caller decides what a
 * failed login is worth saying). */
#include "lib/scram.h"
#include "lib/utf8.h"
#include "lib/xs.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Longest client message accepted: room for the largest gs2 header and
 * client-first-message-bare the state can hold, and far above any real
 * client-final-message. */
#define SCRAM_MSG_MAX 4096
/* 18 random bytes make 24 base64 characters and no padding. */
#define SERVER_NONCE_RAW 18

enum { ST_FRESH = 0, ST_STARTED, ST_CHALLENGED, ST_DONE };

struct span {
	const char *p;
	size_t n;
};

static bool hash_ok(enum scram_hash h)
{
	return h == SCRAM_SHA1 || h == SCRAM_SHA256;
}

static gnutls_mac_algorithm_t mac_of(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
}

static gnutls_digest_algorithm_t dig_of(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256;
}

size_t scram_hash_len(enum scram_hash h)
{
	switch (h) {
	case SCRAM_SHA1:   return 20;
	case SCRAM_SHA256: return 32;
	}
	return 0;
}

const char *scram_mech_name(enum scram_hash h)
{
	switch (h) {
	case SCRAM_SHA1:   return "SCRAM-SHA-1";
	case SCRAM_SHA256: return "SCRAM-SHA-256";
	}
	return NULL;
}

/* The accumulator is volatile so the compiler cannot turn the loop into an
 * early exit, which would leak through timing how many bytes matched. */
static bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static size_t creds_salt_len(const struct scram_creds *c)
{
	return c->salt_len ? c->salt_len : SCRAM_SALT_LEN;
}

/* ---- base64 ---------------------------------------------------------- */

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

int scram_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	gnutls_datum_t d, r = { NULL, 0 };
	size_t need;

	if (len > (size_t)INT_MAX / 2)
		goto fail;
	need = 4 * ((len + 2) / 3);
	if (need >= cap)
		goto fail;
	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	d.data = (unsigned char *)in;
	d.size = (unsigned)len;
	if (gnutls_base64_encode2(&d, &r) < 0)
		goto fail;
	/* GnuTLS does not wrap lines today; a future version that did would
	 * change the length, and this refuses rather than send a broken
	 * message. */
	if (r.size != need) {
		gnutls_free(r.data);
		goto fail;
	}
	memcpy(out, r.data, need);
	out[need] = '\0';
	gnutls_free(r.data);
	return (int)need;
fail:
	if (cap > 0)
		out[0] = '\0';
	return -1;
}

/* gnutls_base64_decode2 skips whitespace and allocates whatever the input
 * asks for, so the text is held to RFC 4648 here first: the alphabet only,
 * padding only at the end, unused bits zero (one encoding per value), and a
 * result that fits in cap. */
int scram_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	gnutls_datum_t d, r = { NULL, 0 };
	size_t pad = 0, outlen;
	int last;

	if (len == 0)
		return 0;
	if (len % 4 != 0 || len > (size_t)INT_MAX / 2)
		return -1;
	if (in[len - 1] == '=') {
		pad = 1;
		if (in[len - 2] == '=')
			pad = 2;
	}
	for (size_t i = 0; i < len - pad; i++)
		if (b64_value(in[i]) < 0)
			return -1;
	last = b64_value(in[len - pad - 1]);
	if ((pad == 1 && (last & 0x03)) || (pad == 2 && (last & 0x0F)))
		return -1;
	outlen = len / 4 * 3 - pad;
	if (outlen > cap)
		return -1;

	d.data = (unsigned char *)in;
	d.size = (unsigned)len;
	if (gnutls_base64_decode2(&d, &r) < 0)
		return -1;
	if (r.size != outlen) {
		gnutls_memset(r.data, 0, r.size);
		gnutls_free(r.data);
		return -1;
	}
	memcpy(out, r.data, outlen);
	gnutls_memset(r.data, 0, r.size);
	gnutls_free(r.data);
	return (int)outlen;
}

/* ---- key derivation --------------------------------------------------- */

int scram_derive(enum scram_hash h, const char *password, size_t plen,
                 const uint8_t *salt, size_t salt_len, uint32_t iterations,
                 struct scram_keys *out)
{
	uint8_t salted[SCRAM_KEY_MAX], client_key[SCRAM_KEY_MAX];
	gnutls_datum_t key, sd;
	size_t hl = scram_hash_len(h);
	int rc = XS_ERROR;

	memset(out, 0, sizeof(*out));
	/* Nettle asserts (aborts the process) on zero iterations, and a stored
	 * count of 0 must not take a worker down. */
	if (!hash_ok(h) || iterations == 0 || salt_len == 0 || plen > UINT_MAX ||
	    salt_len > UINT_MAX)
		return XS_ERROR;

	key.data = (unsigned char *)password;
	key.size = (unsigned)plen;
	sd.data = (unsigned char *)salt;
	sd.size = (unsigned)salt_len;
	if (gnutls_pbkdf2(mac_of(h), &key, &sd, iterations, salted, hl) < 0)
		goto out;
	if (gnutls_hmac_fast(mac_of(h), salted, hl, "Client Key", 10, client_key) < 0 ||
	    gnutls_hash_fast(dig_of(h), client_key, hl, out->stored_key) < 0 ||
	    gnutls_hmac_fast(mac_of(h), salted, hl, "Server Key", 10, out->server_key) < 0)
		goto out;
	rc = XS_OK;
out:
	gnutls_memset(salted, 0, sizeof(salted));
	gnutls_memset(client_key, 0, sizeof(client_key));
	if (rc != XS_OK)
		gnutls_memset(out, 0, sizeof(*out));
	return rc;
}

int scram_creds_make(const char *password, size_t plen, uint32_t iterations,
                     struct scram_creds *out)
{
	memset(out, 0, sizeof(*out));
	out->iterations = iterations;
	out->salt_len = SCRAM_SALT_LEN;
	if (gnutls_rnd(GNUTLS_RND_RANDOM, out->salt, SCRAM_SALT_LEN) < 0)
		goto fail;
	for (int h = 0; h < SCRAM_NHASH; h++)
		if (scram_derive((enum scram_hash)h, password, plen, out->salt, SCRAM_SALT_LEN,
		                 iterations, &out->keys[h]) != XS_OK)
			goto fail;
	return XS_OK;
fail:
	gnutls_memset(out, 0, sizeof(*out));
	return XS_ERROR;
}

/* The salt is what a client sees of an account before proving anything, so
 * it must be the same on every attempt and look like a random one.  The
 * keys come from the other half of the same HMAC, which the client never
 * sees, so no password can be found that matches them. */
void scram_creds_fake(const char *username, const uint8_t secret[32],
                      uint32_t iterations, struct scram_creds *out)
{
	static const char *const labels[SCRAM_NHASH][2] = {
		{ "xmppd fake SCRAM-SHA-1 StoredKey", "xmppd fake SCRAM-SHA-1 ServerKey" },
		{ "xmppd fake SCRAM-SHA-256 StoredKey", "xmppd fake SCRAM-SHA-256 ServerKey" },
	};
	uint8_t t[32], k[32];

	memset(out, 0, sizeof(*out));
	out->iterations = iterations;
	out->salt_len = SCRAM_SALT_LEN;
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret, 32, username, strlen(username), t) < 0) {
		/* Cannot happen with SHA-256 short of a broken library; keys of
		 * zeros still match no password (it would need H(x) = 0). */
		return;
	}
	memcpy(out->salt, t, SCRAM_SALT_LEN);
	for (int h = 0; h < SCRAM_NHASH; h++) {
		size_t hl = scram_hash_len((enum scram_hash)h);
		if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, t, sizeof(t), labels[h][0],
		                     strlen(labels[h][0]), k) == 0)
			memcpy(out->keys[h].stored_key, k, hl);
		if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, t, sizeof(t), labels[h][1],
		                     strlen(labels[h][1]), k) == 0)
			memcpy(out->keys[h].server_key, k, hl);
	}
	gnutls_memset(t, 0, sizeof(t));
	gnutls_memset(k, 0, sizeof(k));
}

int scram_check_plain(const struct scram_creds *c, const char *password, size_t plen)
{
	struct scram_keys k;
	size_t sl = creds_salt_len(c);
	bool ok;

	if (sl > SCRAM_SALT_LEN)
		return XS_ERROR;
	if (scram_derive(SCRAM_SHA256, password, plen, c->salt, sl, c->iterations, &k) != XS_OK)
		return XS_ERROR;
	ok = ct_equal(k.stored_key, c->keys[SCRAM_SHA256].stored_key, scram_hash_len(SCRAM_SHA256));
	gnutls_memset(&k, 0, sizeof(k));
	return ok ? XS_OK : XS_ERROR;
}

/* ---- message grammar (RFC 5802 section 7) ----------------------------- */


/* A walk over "k=value,k=value,...".  done is set once the last attribute
 * has been taken, so a trailing ',' is caught as an empty attribute. */
struct cursor {
	const char *p, *end;
	bool done;
};

static bool take_attr(struct cursor *c, char *key, struct span *val)
{
	size_t left;
	const char *comma;

	if (c->done)
		return false;
	left = (size_t)(c->end - c->p);
	if (left < 2 || c->p[1] != '=' ||
	    !((c->p[0] >= 'a' && c->p[0] <= 'z') || (c->p[0] >= 'A' && c->p[0] <= 'Z')))
		return false;
	*key = c->p[0];
	val->p = c->p + 2;
	comma = memchr(val->p, ',', left - 2);
	if (comma) {
		val->n = (size_t)(comma - val->p);
		c->p = comma + 1;
	} else {
		val->n = (size_t)(c->end - val->p);
		c->p = c->end;
		c->done = true;
	}
	return true;
}

/* saslname: ',' and '=' travel as "=2C" and "=3D"; any other use of '='
 * must fail the exchange (RFC 5802 section 5.1). */
static int saslname_decode(struct span v, char *out, size_t cap)
{
	size_t w = 0;

	if (v.n == 0)
		return XS_ERROR;
	for (size_t i = 0; i < v.n; i++) {
		char c = v.p[i];
		if (c == '=') {
			if (v.n - i < 3)
				return XS_ERROR;
			if (v.p[i + 1] == '2' && v.p[i + 2] == 'C')
				c = ',';
			else if (v.p[i + 1] == '3' && v.p[i + 2] == 'D')
				c = '=';
			else
				return XS_ERROR;
			i += 2;
		}
		if (w + 1 >= cap)
			return XS_ERROR;
		out[w++] = c;
	}
	out[w] = '\0';
	return XS_OK;
}

/* c-nonce and s-nonce: printable ASCII except ','. */
static bool nonce_ok(const char *p, size_t n)
{
	if (n == 0 || n > SCRAM_NONCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7E || p[i] == ',')
			return false;
	return true;
}

static void server_reset(struct scram_server *s)
{
	gnutls_memset(s, 0, sizeof(*s));
}

/* ---- exchange ---------------------------------------------------------- */

int scram_server_start(struct scram_server *s, enum scram_hash h,
                       const char *msg, size_t len)
{
	return scram_server_start_cb(s, h, msg, len, false, false);
}

int scram_server_set_cb(struct scram_server *s, const uint8_t *data, size_t len)
{
	if (!s->plus || len > sizeof(s->cb_data))
		return XS_ERROR;
	memcpy(s->cb_data, data, len);
	s->cb_len = len;
	return XS_OK;
}

int scram_server_start_cb(struct scram_server *s, enum scram_hash h, const char *msg,
                          size_t len, bool plus, bool y_downgrade)
{
	const char *p = msg, *end = msg + len;
	struct cursor cur;
	struct span v;
	size_t n;
	char key;

	server_reset(s);
	if (!hash_ok(h) || len < 3 || len > SCRAM_MSG_MAX ||
	    !utf8_valid((const unsigned char *)msg, len))
		goto bad;
	s->hash = h;

	/* gs2-cbind-flag.  "y" says the client could bind but believes we
	 * cannot; the caller knows when that cannot be true (a downgrade).
	 * "p=NAME" goes with a -PLUS mechanism and only with it. */
	s->plus = plus;
	if (plus) {
		const char *comma;
		if (end - p < 3 || p[0] != 'p' || p[1] != '=')
			goto bad;
		comma = memchr(p + 2, ',', (size_t)(end - p - 2));
		if (!comma || comma == p + 2 || (size_t)(comma - p - 2) >= sizeof(s->cb_name))
			goto bad;
		for (const char *q = p + 2; q < comma; q++)
			if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
			      (*q >= '0' && *q <= '9') || *q == '.' || *q == '-'))
				goto bad;
		memcpy(s->cb_name, p + 2, (size_t)(comma - p - 2));
		p = comma + 1;
	} else {
		if ((p[0] != 'n' && p[0] != 'y') || p[1] != ',' || (p[0] == 'y' && y_downgrade))
			goto bad;
		p += 2;
	}
	if (p < end && *p == 'a') {
		const char *comma;
		if (end - p < 2 || p[1] != '=')
			goto bad;
		comma = memchr(p + 2, ',', (size_t)(end - p - 2));
		if (!comma)
			goto bad;
		v.p = p + 2;
		v.n = (size_t)(comma - v.p);
		if (saslname_decode(v, s->authzid, sizeof(s->authzid)) != XS_OK)
			goto bad;
		p = comma;
	}
	if (p >= end || *p != ',')
		goto bad;
	p++;
	n = (size_t)(p - msg);
	if (n >= sizeof(s->gs2_header))
		goto bad;
	memcpy(s->gs2_header, msg, n);

	n = (size_t)(end - p);
	if (n >= sizeof(s->client_first_bare))
		goto bad;
	memcpy(s->client_first_bare, p, n);

	/* client-first-message-bare: [m=...,] n=user,r=nonce[,ext...].  A
	 * mandatory extension we do not know must fail the exchange, and we
	 * know none. */
	cur = (struct cursor){ p, end, false };
	if (!take_attr(&cur, &key, &v) || key != 'n')
		goto bad;
	if (saslname_decode(v, s->username, sizeof(s->username)) != XS_OK)
		goto bad;
	if (!take_attr(&cur, &key, &v) || key != 'r' || !nonce_ok(v.p, v.n))
		goto bad;
	memcpy(s->nonce, v.p, v.n);
	while (!cur.done)
		if (!take_attr(&cur, &key, &v) || v.n == 0)
			goto bad;

	s->step = ST_STARTED;
	return XS_OK;
bad:
	server_reset(s);
	return XS_ERROR;
}

int scram_server_challenge(struct scram_server *s, const struct scram_creds *creds,
                           const char *server_nonce, char *out, size_t cap)
{
	uint8_t raw[SERVER_NONCE_RAW];
	char rnd[4 * SERVER_NONCE_RAW / 3 + 1];
	char salt64[4 * ((SCRAM_SALT_LEN + 2) / 3) + 1];
	size_t cn, sn, sl;
	int n;

	if (cap > 0)
		out[0] = '\0';
	if (s->step != ST_STARTED)
		goto bad;
	sl = creds_salt_len(creds);
	if (creds->iterations == 0 || sl > SCRAM_SALT_LEN)
		goto bad;

	if (!server_nonce) {
		if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof(raw)) < 0 ||
		    scram_b64_encode(raw, sizeof(raw), rnd, sizeof(rnd)) < 0)
			goto bad;
		server_nonce = rnd;
	}
	cn = strlen(s->nonce);
	sn = strlen(server_nonce);
	if (!nonce_ok(server_nonce, sn))
		goto bad;
	memcpy(s->nonce + cn, server_nonce, sn);
	s->nonce[cn + sn] = '\0';

	if (scram_b64_encode(creds->salt, sl, salt64, sizeof(salt64)) < 0)
		goto bad;
	n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%lu",
	             s->nonce, salt64, (unsigned long)creds->iterations);
	if (n < 0 || (size_t)n >= sizeof(s->server_first) || (size_t)n >= cap)
		goto bad;
	memcpy(out, s->server_first, (size_t)n + 1);
	s->creds = *creds;
	s->step = ST_CHALLENGED;
	return XS_OK;
bad:
	/* A failed step ends the exchange; the caller starts over. */
	server_reset(s);
	return XS_ERROR;
}

/* HMAC(key, AuthMessage) without building AuthMessage, which could be
 * larger than any buffer worth keeping on the stack. */
static int auth_hmac(const struct scram_server *s, const uint8_t *key,
                     const char *final_bare, size_t final_len, uint8_t *out)
{
	gnutls_hmac_hd_t hd;
	int bad;

	if (gnutls_hmac_init(&hd, mac_of(s->hash), key, scram_hash_len(s->hash)) < 0)
		return XS_ERROR;
	bad = gnutls_hmac(hd, s->client_first_bare, strlen(s->client_first_bare)) < 0 ||
	      gnutls_hmac(hd, ",", 1) < 0 ||
	      gnutls_hmac(hd, s->server_first, strlen(s->server_first)) < 0 ||
	      gnutls_hmac(hd, ",", 1) < 0 ||
	      gnutls_hmac(hd, final_bare, final_len) < 0;
	gnutls_hmac_deinit(hd, out);
	if (bad) {
		gnutls_memset(out, 0, SCRAM_KEY_MAX);
		return XS_ERROR;
	}
	return XS_OK;
}

int scram_server_finish(struct scram_server *s, const char *msg, size_t len,
                        char *out, size_t cap)
{
	uint8_t cb[sizeof(s->gs2_header) + SCRAM_CB_MAX];
	uint8_t proof[SCRAM_KEY_MAX], sig[SCRAM_KEY_MAX], ckey[SCRAM_KEY_MAX];
	uint8_t stored[SCRAM_KEY_MAX];
	struct cursor cur;
	struct span v;
	const char *attr;
	size_t hl = scram_hash_len(s->hash), final_len = 0, nl;
	const struct scram_keys *keys;
	int rc = XS_ERROR, n;
	char key;

	if (cap > 0)
		out[0] = '\0';
	if (s->step != ST_CHALLENGED) {
		/* Out of order: the caller's state machine is lost, so is ours. */
		server_reset(s);
		return XS_ERROR;
	}
	/* One attempt per exchange, whatever its outcome. */
	s->step = ST_DONE;
	keys = &s->creds.keys[s->hash];

	if (len < 2 || len > SCRAM_MSG_MAX || !utf8_valid((const unsigned char *)msg, len))
		goto out;
	cur = (struct cursor){ msg, msg + len, false };

	/* c= must carry back exactly the gs2 header of client-first (that is
	 * what stops a man in the middle from rewriting the flag or authzid),
	 * followed with -PLUS by the binding of this TLS session (which is what
	 * stops one between two TLS sessions). */
	if (!take_attr(&cur, &key, &v) || key != 'c')
		goto out;
	n = scram_b64_decode(v.p, v.n, cb, sizeof(cb));
	size_t gl = strlen(s->gs2_header);
	if (n < 0 || (size_t)n != gl + (s->plus ? s->cb_len : 0) || memcmp(cb, s->gs2_header, gl))
		goto out;
	if (s->plus && (s->cb_len == 0 || gnutls_memcmp(cb + gl, s->cb_data, s->cb_len) != 0))
		goto out;

	if (!take_attr(&cur, &key, &v) || key != 'r')
		goto out;
	nl = strlen(s->nonce);
	if (v.n != nl || memcmp(v.p, s->nonce, nl))
		goto out;

	/* Extensions may sit between r= and p=; the proof is always last. */
	for (;;) {
		attr = cur.p;
		if (!take_attr(&cur, &key, &v))
			goto out;
		if (key == 'p')
			break;
		if (v.n == 0)
			goto out;
	}
	if (!cur.done)
		goto out;
	final_len = (size_t)(attr - 1 - msg);

	n = scram_b64_decode(v.p, v.n, proof, sizeof(proof));
	if (n < 0 || (size_t)n != hl)
		goto out;

	/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the client
	 * knew the password iff H(ClientKey) is the StoredKey. */
	if (auth_hmac(s, keys->stored_key, msg, final_len, sig) != XS_OK)
		goto out;
	for (size_t i = 0; i < hl; i++)
		ckey[i] = proof[i] ^ sig[i];
	if (gnutls_hash_fast(dig_of(s->hash), ckey, hl, stored) < 0 ||
	    !ct_equal(stored, keys->stored_key, hl))
		goto out;

	if (auth_hmac(s, keys->server_key, msg, final_len, sig) != XS_OK ||
	    cap < 3)
		goto out;
	memcpy(out, "v=", 2);
	if (scram_b64_encode(sig, hl, out + 2, cap - 2) < 0) {
		out[0] = '\0';
		goto out;
	}
	rc = XS_OK;
out:
	gnutls_memset(proof, 0, sizeof(proof));
	gnutls_memset(sig, 0, sizeof(sig));
	gnutls_memset(ckey, 0, sizeof(ckey));
	gnutls_memset(stored, 0, sizeof(stored));
	/* The username stays for the caller's log line; the keys go. */
	gnutls_memset(&s->creds, 0, sizeof(s->creds));
	return rc;
}

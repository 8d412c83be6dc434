/* sasl.c — client side of PLAIN and SCRAM-SHA-1/256 for the generator.
 *
 * SCRAM (RFC 5802 §3):
 *   SaltedPassword  = PBKDF2(password, salt, i)          (cached, keycache.h)
 *   ClientKey       = HMAC(SaltedPassword, "Client Key")
 *   StoredKey       = H(ClientKey)
 *   AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
 *   ClientSignature = HMAC(StoredKey, AuthMessage)
 *   ClientProof     = ClientKey XOR ClientSignature
 *   ServerSignature = HMAC(HMAC(SaltedPassword, "Server Key"), AuthMessage)
 * and the server's "v=" must equal ServerSignature. */
#include "bench/sasl.h"
#include "bench/bench.h"
#include "bench/keycache.h"
#include "lib/scram.h"

#include <gnutls/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NONCE_RAW 18 /* 24 base64 characters */

struct sasl_client {
	char first_bare[320];     /* "n=user,r=nonce" */
	char nonce[32];
	uint8_t server_sig[KC_KEY_MAX];
	bool have_sig;
};

const char *mech_name(enum mech m)
{
	switch (m) {
	case MECH_PLAIN: return "PLAIN";
	case MECH_SCRAM_SHA1: return "SCRAM-SHA-1";
	case MECH_SCRAM_SHA256: return "SCRAM-SHA-256";
	}
	return "?";
}

static int err_set(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int err_set(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -1;
}

/* Queues <NAME xmlns=SASL [mechanism=M]>base64(data)</NAME>. */
static int send_b64(struct client *c, const char *name, const char *mech,
                    const void *data, size_t len)
{
	char b64[1024];
	int n = len ? scram_b64_encode(data, len, b64, sizeof(b64)) : 0;
	if (n < 0)
		return -1;
	char head[160];
	if (mech)
		snprintf(head, sizeof(head), "<%s xmlns='" NS_SASL "' mechanism='%s'>", name, mech);
	else
		snprintf(head, sizeof(head), "<%s xmlns='" NS_SASL "'>", name);
	client_sendz(c, head);
	if (n > 0)
		client_send(c, b64, (size_t)n);
	else
		client_sendz(c, "="); /* an empty response, RFC 6120 §6.4.2 */
	snprintf(head, sizeof(head), "</%s>", name);
	client_sendz(c, head);
	return 0;
}

/* SCRAM's saslname: ',' and '=' escaped (RFC 5802 §5.1). */
static void saslname(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (; *in && o + 4 < cap; in++) {
		if (*in == ',') {
			memcpy(out + o, "=2C", 3);
			o += 3;
		} else if (*in == '=') {
			memcpy(out + o, "=3D", 3);
			o += 3;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

int sasl_auth(struct client *c, char *err, size_t errcap)
{
	char user[128];
	user_name(c->user, user, sizeof(user));
	if (opt.mech == MECH_PLAIN) {
		char msg[512];
		int n = snprintf(msg, sizeof(msg), "%c%s%c%s", 0, user, 0, opt.password);
		if (n < 0 || (size_t)n >= sizeof(msg))
			return err_set(err, errcap, "user name or password too long");
		int rc = send_b64(c, "auth", "PLAIN", msg, (size_t)n);
		explicit_bzero(msg, sizeof(msg));
		return rc == 0 ? 0 : err_set(err, errcap, "cannot encode PLAIN");
	}
	sasl_end(c);
	c->sasl = calloc(1, sizeof(*c->sasl));
	if (c->sasl == NULL)
		return err_set(err, errcap, "out of memory");
	uint8_t raw[NONCE_RAW];
	if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof(raw)) < 0 ||
	    scram_b64_encode(raw, sizeof(raw), c->sasl->nonce, sizeof(c->sasl->nonce)) < 0)
		return err_set(err, errcap, "no random nonce");
	char esc[256];
	saslname(user, esc, sizeof(esc));
	snprintf(c->sasl->first_bare, sizeof(c->sasl->first_bare), "n=%s,r=%s", esc, c->sasl->nonce);
	char first[400];
	int n = snprintf(first, sizeof(first), "n,,%s", c->sasl->first_bare);
	if (send_b64(c, "auth", mech_name(opt.mech), first, (size_t)n) != 0)
		return err_set(err, errcap, "cannot encode the client-first-message");
	return 0;
}

/* Finds "k=" at the start of an attribute of a SCRAM message. */
static bool scram_field(const char *msg, char k, const char **val, size_t *len)
{
	const char *p = msg;
	while (*p) {
		if (p[0] == k && p[1] == '=') {
			const char *e = strchr(p + 2, ',');
			*val = p + 2;
			*len = e ? (size_t)(e - (p + 2)) : strlen(p + 2);
			return true;
		}
		p = strchr(p, ',');
		if (p == NULL)
			break;
		p++;
	}
	return false;
}

static int derive(enum scram_hash h, const char *user, const uint8_t *salt, size_t sl,
                  uint32_t it, struct kc_keys *k)
{
	if (keycache_get(h, it, user, salt, sl, k))
		return 0;
	gnutls_mac_algorithm_t mac = h == SCRAM_SHA1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
	gnutls_digest_algorithm_t dig = h == SCRAM_SHA1 ? GNUTLS_DIG_SHA1 : GNUTLS_DIG_SHA256;
	size_t hl = scram_hash_len(h);
	uint8_t salted[KC_KEY_MAX];
	gnutls_datum_t key = { (unsigned char *)opt.password, (unsigned)strlen(opt.password) };
	gnutls_datum_t sd = { (unsigned char *)salt, (unsigned)sl };
	if (gnutls_pbkdf2(mac, &key, &sd, it, salted, hl) < 0 ||
	    gnutls_hmac_fast(mac, salted, hl, "Client Key", 10, k->client_key) < 0 ||
	    gnutls_hmac_fast(mac, salted, hl, "Server Key", 10, k->server_key) < 0 ||
	    gnutls_hash_fast(dig, k->client_key, hl, k->stored_key) < 0) {
		explicit_bzero(salted, sizeof(salted));
		return -1;
	}
	explicit_bzero(salted, sizeof(salted));
	keycache_put(h, it, user, salt, sl, k);
	return 0;
}

int sasl_challenge(struct client *c, struct xml_str b64, char *err, size_t errcap)
{
	if (opt.mech == MECH_PLAIN || c->sasl == NULL)
		return err_set(err, errcap, "unexpected <challenge/> for %s", mech_name(opt.mech));
	char sfirst[1024];
	int n = scram_b64_decode(b64.p, b64.n, (uint8_t *)sfirst, sizeof(sfirst) - 1);
	if (n <= 0)
		return err_set(err, errcap, "challenge is not valid base64");
	sfirst[n] = '\0';
	const char *r, *s, *i;
	size_t rl, sl, il;
	if (!scram_field(sfirst, 'r', &r, &rl) || !scram_field(sfirst, 's', &s, &sl) ||
	    !scram_field(sfirst, 'i', &i, &il))
		return err_set(err, errcap, "malformed server-first-message '%.80s'", sfirst);
	size_t cnl = strlen(c->sasl->nonce);
	if (rl <= cnl || memcmp(r, c->sasl->nonce, cnl) != 0)
		return err_set(err, errcap, "server nonce does not extend ours");
	uint8_t salt[KC_SALT_MAX];
	int saltl = scram_b64_decode(s, sl, salt, sizeof(salt));
	char itbuf[16];
	if (il == 0 || il >= sizeof(itbuf))
		return err_set(err, errcap, "bad iteration count");
	memcpy(itbuf, i, il);
	itbuf[il] = '\0';
	char *end;
	unsigned long it = strtoul(itbuf, &end, 10);
	if (saltl <= 0 || *end != '\0' || it == 0 || it > 10000000)
		return err_set(err, errcap, "bad salt or iteration count in '%.80s'", sfirst);

	enum scram_hash h = opt.mech == MECH_SCRAM_SHA1 ? SCRAM_SHA1 : SCRAM_SHA256;
	size_t hl = scram_hash_len(h);
	char user[128];
	user_name(c->user, user, sizeof(user));
	struct kc_keys k;
	if (derive(h, user, salt, (size_t)saltl, (uint32_t)it, &k) != 0)
		return err_set(err, errcap, "PBKDF2/HMAC failed");

	/* client-final-message-without-proof: c=biws is base64("n,,"). */
	char final[1400];
	int fl = snprintf(final, sizeof(final), "c=biws,r=%.*s", (int)rl, r);
	char auth_msg[2600];
	int al = snprintf(auth_msg, sizeof(auth_msg), "%s,%s,%s", c->sasl->first_bare, sfirst, final);
	if (fl < 0 || al < 0 || (size_t)al >= sizeof(auth_msg))
		return err_set(err, errcap, "SCRAM message too long");
	gnutls_mac_algorithm_t mac = h == SCRAM_SHA1 ? GNUTLS_MAC_SHA1 : GNUTLS_MAC_SHA256;
	uint8_t sig[KC_KEY_MAX], proof[KC_KEY_MAX];
	if (gnutls_hmac_fast(mac, k.stored_key, hl, auth_msg, (size_t)al, sig) < 0 ||
	    gnutls_hmac_fast(mac, k.server_key, hl, auth_msg, (size_t)al, c->sasl->server_sig) < 0)
		return err_set(err, errcap, "HMAC failed");
	c->sasl->have_sig = true;
	for (size_t j = 0; j < hl; j++)
		proof[j] = k.client_key[j] ^ sig[j];
	char proof64[64];
	if (scram_b64_encode(proof, hl, proof64, sizeof(proof64)) < 0)
		return err_set(err, errcap, "cannot encode the proof");
	fl += snprintf(final + fl, sizeof(final) - (size_t)fl, ",p=%s", proof64);
	explicit_bzero(&k, sizeof(k));
	if (send_b64(c, "response", NULL, final, (size_t)fl) != 0)
		return err_set(err, errcap, "cannot encode the client-final-message");
	return 0;
}

int sasl_success(struct client *c, struct xml_str b64, char *err, size_t errcap)
{
	if (opt.mech == MECH_PLAIN)
		return 0;
	if (c->sasl == NULL || !c->sasl->have_sig)
		return err_set(err, errcap, "<success/> before the SCRAM exchange finished");
	char final[256];
	int n = scram_b64_decode(b64.p, b64.n, (uint8_t *)final, sizeof(final) - 1);
	if (n <= 0)
		return err_set(err, errcap, "<success/> without a server-final-message");
	final[n] = '\0';
	const char *v;
	size_t vl;
	if (!scram_field(final, 'v', &v, &vl))
		return err_set(err, errcap, "server-final-message '%.80s' has no verifier", final);
	uint8_t sig[KC_KEY_MAX];
	size_t hl = scram_hash_len(opt.mech == MECH_SCRAM_SHA1 ? SCRAM_SHA1 : SCRAM_SHA256);
	if (scram_b64_decode(v, vl, sig, sizeof(sig)) != (int)hl ||
	    memcmp(sig, c->sasl->server_sig, hl) != 0)
		return err_set(err, errcap, "the server's SCRAM signature is wrong");
	return 0;
}

void sasl_end(struct client *c)
{
	if (c->sasl) {
		explicit_bzero(c->sasl, sizeof(*c->sasl));
		free(c->sasl);
		c->sasl = NULL;
	}
}

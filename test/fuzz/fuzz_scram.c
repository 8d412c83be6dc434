/* fuzz_scram.c — the server side of SCRAM (RFC 5802, RFC 7677), whose
 * messages come from clients that have not authenticated yet.
 *
 * Input: one byte of flags, then client-first-message NUL
 * client-final-message [NUL channel-binding data].  NUL separates because
 * both messages must be UTF-8 without NUL, so no valid message is lost.
 *   flags bit 0: SCRAM-SHA-256 (else SHA-1)   bit 1: a -PLUS mechanism
 *         bit 2: the server offered -PLUS     bit 3: unknown user (fake creds)
 *         bit 4: random server nonce (else the RFC's, so that the RFC
 *                examples in the corpus complete a whole exchange)
 * The credentials are those of the RFC examples (user "user", password
 * "pencil"), derived once: PBKDF2 per input would leave no time to fuzz.
 * Then scram_b64_decode runs on the raw input: whatever it accepts must
 * encode back to the very same text (it promises one encoding per value). */
#include "lib/scram.h"
#include "lib/xs.h"
#include "test/fuzz/fuzz.h"

static struct scram_creds creds[SCRAM_NHASH];
static const char *const salt64[SCRAM_NHASH] = {
	"QSXCR+Q6sek8bf92",         /* RFC 5802 section 5 */
	"W22ZaJ0SNY7soEsUEjb6gQ==", /* RFC 7677 section 3 */
};
static const char *const server_nonce[SCRAM_NHASH] = {
	"3rfcNHYJY1ZVvWVs7j",
	"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
};
static const uint8_t fake_secret[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (int h = 0; h < SCRAM_NHASH; h++) {
		struct scram_creds *c = &creds[h];
		int n = scram_b64_decode(salt64[h], strlen(salt64[h]), c->salt, sizeof(c->salt));
		FUZZ_CHECK(n > 0);
		c->salt_len = (uint8_t)n;
		c->iterations = 4096;
		for (int k = 0; k < SCRAM_NHASH; k++)
			FUZZ_CHECK(scram_derive((enum scram_hash)k, "pencil", 6, c->salt, (size_t)n,
			                        c->iterations, &c->keys[k]) == XS_OK);
	}
	return 0;
}

/* Cuts the next NUL-terminated field off [*p, end). */
static void field(const char **p, const char *end, const char **f, size_t *n)
{
	const char *nul = memchr(*p, '\0', (size_t)(end - *p));
	*f = *p;
	*n = (size_t)((nul ? nul : end) - *p);
	*p = nul ? nul + 1 : end;
}

static void exchange(uint8_t flags, const char *p, const char *end)
{
	static struct scram_server s; /* 8 KB of state */
	enum scram_hash h = (flags & 1) ? SCRAM_SHA256 : SCRAM_SHA1;
	bool plus = flags & 2, offered = flags & 4, fake = flags & 8;
	const char *first, *final, *cb;
	size_t first_len, final_len, cb_len;
	char out[4096], v[128];

	field(&p, end, &first, &first_len);
	field(&p, end, &final, &final_len);
	field(&p, end, &cb, &cb_len);

	int started = scram_server_start_cb(&s, h, first, first_len, plus, offered);
	if (started == XS_OK) {
		FUZZ_CHECK(s.username[0] != '\0' && s.nonce[0] != '\0');
		if (plus && cb_len > 0)
			(void)scram_server_set_cb(&s, (const uint8_t *)cb, cb_len);
	}
	struct scram_creds fc;
	const struct scram_creds *c = &creds[h];
	if (fake) {
		scram_creds_fake(s.username, fake_secret, 4096, &fc);
		c = &fc;
	}
	const char *sn = (flags & 16) ? NULL : server_nonce[h];
	int challenged = scram_server_challenge(&s, c, sn, out, sizeof(out));
	/* No challenge without a good client-first-message. */
	FUZZ_CHECK(started == XS_OK || challenged == XS_ERROR);
	if (challenged == XS_OK)
		FUZZ_CHECK(strncmp(out, "r=", 2) == 0 && strlen(out) < sizeof(out));

	int done = scram_server_finish(&s, final, final_len, v, sizeof(v));
	if (done == XS_OK) {
		/* Only a real password proves anything, and only once. */
		FUZZ_CHECK(challenged == XS_OK && !fake);
		size_t b64 = 4 * ((scram_hash_len(h) + 2) / 3);
		FUZZ_CHECK(strncmp(v, "v=", 2) == 0 && strlen(v) == 2 + b64);
		FUZZ_CHECK(scram_server_finish(&s, final, final_len, v, sizeof(v)) == XS_ERROR);
	}
}

static void b64_round_trip(const char *in, size_t len)
{
	uint8_t raw[3072];
	char back[4097];
	if (len > 4096)
		return;
	int n = scram_b64_decode(in, len, raw, sizeof(raw));
	if (n < 0)
		return;
	FUZZ_CHECK((size_t)n == len / 4 * 3 - (len && in[len - 1] == '=') -
	                        (len > 1 && in[len - 2] == '='));
	FUZZ_CHECK(scram_b64_encode(raw, (size_t)n, back, sizeof(back)) == (int)len);
	FUZZ_CHECK(memcmp(back, in, len) == 0);
	/* One byte short of room is refused, not overrun. */
	if (n > 0)
		FUZZ_CHECK(scram_b64_decode(in, len, raw, (size_t)n - 1) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *text = (const char *)data;
	exchange(data[0], text + 1, text + size);
	b64_round_trip(text, size);
	return 0;
}

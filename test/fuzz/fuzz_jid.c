/* fuzz_jid.c — JID parsing and preparation (RFC 6122) on any bytes.
 *
 * Every 'to' a client writes goes through jid_parse, and prepared JIDs are
 * compared byte for byte to route and to check permissions, so preparation
 * must be idempotent: a prepared JID written out and parsed again gives the
 * same parts.  If it did not, two spellings of one address could be told
 * apart by one check and merged by the next.  The three profiles are also
 * run alone on the whole input (with the same property), which reaches
 * their code with bytes jid_parse would have split off. */
#include "lib/jid.h"
#include "lib/xs.h"
#include "test/fuzz/fuzz.h"

static void check_reparse(const char *text, int len, const struct jid *want, bool resource)
{
	static struct jid again; /* three 1 KB parts: off the stack */
	FUZZ_CHECK(len > 0 && (size_t)len == strlen(text));
	FUZZ_CHECK(jid_parse(text, (size_t)len, &again) == XS_OK);
	FUZZ_CHECK(strcmp(again.node, want->node) == 0);
	FUZZ_CHECK(strcmp(again.domain, want->domain) == 0);
	FUZZ_CHECK(strcmp(again.resource, resource ? want->resource : "") == 0);
}

typedef int prep_fn(const char *in, size_t len, char *out, size_t cap);

static void check_prep(prep_fn *prep, const uint8_t *data, size_t size)
{
	char once[JID_PART_MAX + 1], twice[JID_PART_MAX + 1];
	if (prep((const char *)data, size, once, sizeof(once)) != XS_OK)
		return;
	size_t n = strlen(once);
	FUZZ_CHECK(n > 0 && n <= JID_PART_MAX);
	FUZZ_CHECK(prep(once, n, twice, sizeof(twice)) == XS_OK);
	FUZZ_CHECK(strcmp(once, twice) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct jid j;
	char text[JID_MAX + 1];

	if (jid_parse((const char *)data, size, &j) == XS_OK) {
		FUZZ_CHECK(j.domain[0] != '\0');
		int n = jid_full(&j, text, sizeof(text));
		check_reparse(text, n, &j, true);
		/* A buffer one byte short (no room for the NUL) is refused. */
		FUZZ_CHECK(jid_full(&j, text, (size_t)n) == -1 && text[0] == '\0');
		check_reparse(text, jid_bare(&j, text, sizeof(text)), &j, false);
	} else {
		FUZZ_CHECK(j.node[0] == '\0' && j.domain[0] == '\0' && j.resource[0] == '\0');
	}
	check_prep(jid_nodeprep, data, size);
	check_prep(jid_nameprep, data, size);
	check_prep(jid_resourceprep, data, size);
	return 0;
}

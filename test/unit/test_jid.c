/* test_jid.c — JID parsing and preparation (lib/jid.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <stringprep.h>

#include "lib/jid.h"
#include "lib/xs.h"

static int parse(const char *s, struct jid *j)
{
	return jid_parse(s, strlen(s), j);
}

static void expect_jid(const char *in, const char *node, const char *domain,
                       const char *resource)
{
	struct jid j;

	if (parse(in, &j) != XS_OK)
		fail_msg("\"%s\" should parse", in);
	assert_string_equal(j.node, node);
	assert_string_equal(j.domain, domain);
	assert_string_equal(j.resource, resource);
}

static void expect_bad_n(const char *in, size_t len)
{
	struct jid j;

	if (jid_parse(in, len, &j) != XS_ERROR)
		fail_msg("\"%.*s\" should be refused", (int)len, in);
	/* A refused address leaves nothing half-filled behind. */
	assert_string_equal(j.node, "");
	assert_string_equal(j.domain, "");
	assert_string_equal(j.resource, "");
}

static void expect_bad(const char *in)
{
	expect_bad_n(in, strlen(in));
}

static void test_valid_plain(void **state)
{
	(void)state;
	expect_jid("user@example.com", "user", "example.com", "");
	expect_jid("user@example.com/laptop", "user", "example.com", "laptop");
	expect_jid("juliet@capulet.lit/balcony", "juliet", "capulet.lit", "balcony");
	expect_jid("a@localhost", "a", "localhost", "");
	expect_jid("x-y_z.1+2@sub-1.example.org", "x-y_z.1+2", "sub-1.example.org", "");
}

static void test_resource_with_at_and_slash(void **state)
{
	(void)state;
	expect_jid("user@example.com/a@b/c", "user", "example.com", "a@b/c");
	expect_jid("example.com/user@host", "", "example.com", "user@host");
	expect_jid("u@d/ spaced out ", "u", "d", " spaced out ");
	expect_jid("u@d//", "u", "d", "/");
	/* Resources keep their case: resourceprep does no case folding. */
	expect_jid("u@d/MixedCase", "u", "d", "MixedCase");
}

static void test_domain_only(void **state)
{
	(void)state;
	expect_jid("example.com", "", "example.com", "");
	expect_jid("conference.example.com/room", "", "conference.example.com", "room");
	expect_jid("localhost", "", "localhost", "");
}

static void test_ip_literals(void **state)
{
	(void)state;
	expect_jid("u@192.0.2.1", "u", "192.0.2.1", "");
	expect_jid("u@[2001:db8::1]/r", "u", "[2001:db8::1]", "r");
	expect_jid("[::1]", "", "[::1]", "");
	/* One spelling per address. */
	expect_jid("u@[2001:DB8:0:0::0001]", "u", "[2001:db8::1]", "");
	expect_jid("u@[::ffff:192.0.2.1]", "u", "[::ffff:192.0.2.1]", "");
	expect_bad("u@[::1");
	expect_bad("u@::1");
	expect_bad("u@[]");
	expect_bad("u@[192.0.2.1]");
	expect_bad("u@[fe80::1%eth0]");
	expect_bad("u@[v1.x]");
	expect_bad("u@[::1]x");
	expect_bad("u@[::1].");
	/* Dotted digits that are not an address are not a host name either. */
	expect_bad("u@192.0.2.256");
	expect_bad("u@1.2.3");
	expect_bad("u@12345");
	expect_bad("u@01.2.3.4");
}

static void test_case_folding(void **state)
{
	(void)state;
	expect_jid("JULIET@CAPULET.LIT/Balcony", "juliet", "capulet.lit", "Balcony");
	expect_jid("MiXeD@ExAmPlE.CoM", "mixed", "example.com", "");
	/* Non-ASCII case folding, in node and domain. */
	expect_jid("\xC3\x84rger@\xC3\x96L.example", "\xC3\xA4rger", "\xC3\xB6l.example", "");
	expect_jid("\xCE\xA3\xCE\xA9@x", "\xCF\x83\xCF\x89", "x", "");
}

static void test_unicode_prep(void **state)
{
	(void)state;
	/* Stringprep B.2 folds sharp s to "ss". */
	expect_jid("stra\xC3\x9F" "e@example.com", "strasse", "example.com", "");
	/* NFKC turns the "fi" ligature into two letters. */
	expect_jid("\xEF\xAC\x81@x", "fi", "x", "");
	/* Soft hyphen is mapped to nothing (B.1). */
	expect_jid("a\xC2\xAD" "b@x", "ab", "x", "");
	/* Fullwidth letters and dots in the domain come out as ASCII. */
	expect_jid("u@\xEF\xBC\xA5\xEF\xBC\xB8\xEF\xBC\x8E" "com", "u", "ex.com", "");
	/* Ideographic full stop separates labels as '.' does (IDNA). */
	expect_jid("u@ex\xE3\x80\x82" "com", "u", "ex.com", "");
	expect_jid("u@\xC3\xA4\xC3\xB6\xC3\xBC.example", "u", "\xC3\xA4\xC3\xB6\xC3\xBC.example", "");
	/* Resources keep newer characters (emoji) ... */
	expect_jid("u@x/\xF0\x9F\x98\x80", "u", "x", "\xF0\x9F\x98\x80");
	/* ... nodes, stored for good, do not: U+0221 is unassigned in 3.2. */
	expect_bad("\xC8\xA1@x");
	expect_jid("u@x/\xC8\xA1", "u", "x", "\xC8\xA1");
	/* A fullwidth '@' becomes '@' under NFKC and is then prohibited. */
	expect_bad("a\xEF\xBC\xA0" "b@x");
	expect_bad("u@ex\xEF\xBC\xA0" "com");
	/* Bidi: a right-to-left letter next to a left-to-right one. */
	expect_bad("u@x/\xD7\x90" "a");
	/* Non-ASCII control in a resource (C.2.2). */
	expect_bad("u@x/a\xC2\x85");
	/* A node of characters all mapped to nothing is empty. */
	expect_bad("\xC2\xAD@x");
}

static void test_trailing_dot(void **state)
{
	(void)state;
	expect_jid("u@example.com.", "u", "example.com", "");
	expect_jid("u@example.com./r", "u", "example.com", "r");
	expect_jid("example.com.", "", "example.com", "");
	expect_jid("u@192.0.2.1.", "u", "192.0.2.1", "");
	expect_bad("u@example.com..");
	expect_bad("u@.");
	expect_bad(".");
}

static void test_invalid(void **state)
{
	(void)state;
	expect_bad("");
	expect_bad("@");
	expect_bad("/");
	expect_bad("@domain");
	expect_bad("@domain/r");
	expect_bad("user@");
	expect_bad("user@/r");
	expect_bad("user@domain/");
	expect_bad("domain/");
	expect_bad("a@b@c");
	expect_bad("a\"b@x");
	expect_bad("a&b@x");
	expect_bad("a'b@x");
	expect_bad("a:b@x");
	expect_bad("a<b@x");
	expect_bad("a>b@x");
	expect_bad("a b@x");
	expect_bad("a\tb@x");
	expect_bad("a\x7f" "b@x");
	expect_bad("u@a b");
	expect_bad("u@a..b");
	expect_bad("u@.a");
	expect_bad("u@-a.com");
	expect_bad("u@a-.com");
	expect_bad("u@a_b.com");
	expect_bad("u@a,b");
	expect_bad("u@a:5222");
	expect_bad("u@x/a\x01" "b");
	expect_bad("u@x/a\x7f" "b");
	expect_bad_n("a\0b@x", 5);
	expect_bad_n("a@x\0y", 5);
	expect_bad_n("a@x/\0", 5);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	expect_bad("\xC3@x");                  /* truncated */
	expect_bad("u@x/\xC3");
	expect_bad("\xC0\xAF@x");              /* overlong '/' */
	expect_bad("u@\xE0\x80\xAF");          /* overlong, 3 bytes */
	expect_bad("u@x/\xED\xA0\x80");        /* surrogate */
	expect_bad("u@x/\xF4\x90\x80\x80");    /* above U+10FFFF */
	expect_bad("\xFF@x");
	expect_bad("u@x/\x80");                /* stray continuation */
	expect_bad("u@x/\xF8\x88\x80\x80\x80"); /* 5-byte form */
}

static void fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

static void test_length_limits(void **state)
{
	static char in[8192], label[64];
	struct jid j;
	size_t n;

	(void)state;
	/* Node and resource: 1023 bytes pass, 1024 do not. */
	fill(in, 'a', 1023);
	strcat(in, "@x");
	assert_int_equal(parse(in, &j), XS_OK);
	assert_int_equal(strlen(j.node), 1023);
	fill(in, 'a', 1024);
	strcat(in, "@x");
	expect_bad(in);

	strcpy(in, "u@x/");
	fill(in + 4, 'r', 1023);
	assert_int_equal(parse(in, &j), XS_OK);
	assert_int_equal(strlen(j.resource), 1023);
	fill(in + 4, 'r', 1024);
	expect_bad(in);

	/* The limit is on the prepared form: 512 sharp s grow to 1024 bytes. */
	in[0] = '\0';
	for (int i = 0; i < 512; i++)
		strcat(in, "\xC3\x9F");
	strcat(in, "@x");
	expect_bad(in);
	in[0] = '\0';
	for (int i = 0; i < 511; i++)
		strcat(in, "\xC3\x9F");
	strcat(in, "a@x");
	assert_int_equal(parse(in, &j), XS_OK);
	assert_int_equal(strlen(j.node), 1023);

	/* Domain: 16 labels of 63 joined by dots are 1023 bytes. */
	fill(label, 'd', 63);
	in[0] = '\0';
	for (int i = 0; i < 16; i++) {
		if (i)
			strcat(in, ".");
		strcat(in, label);
	}
	assert_int_equal(parse(in, &j), XS_OK);
	assert_int_equal(strlen(j.domain), 1023);
	/* ... and a trailing dot on top of that is still fine. */
	strcat(in, ".");
	assert_int_equal(parse(in, &j), XS_OK);
	n = strlen(in);
	in[n - 1] = 'x';
	expect_bad(in);

	/* Labels: 63 pass, 64 do not. */
	strcpy(in, "u@");
	fill(in + 2, 'l', 63);
	strcat(in, ".com");
	assert_int_equal(parse(in, &j), XS_OK);
	strcpy(in, "u@");
	fill(in + 2, 'l', 64);
	strcat(in, ".com");
	expect_bad(in);

	/* Huge inputs are refused outright, not truncated. */
	fill(in, 'a', sizeof(in) - 10);
	expect_bad(in);
}

static void test_bare_full(void **state)
{
	struct jid j;
	char out[JID_MAX + 1];

	(void)state;
	assert_int_equal(parse("Juliet@Capulet.lit/Balcony", &j), XS_OK);
	assert_int_equal(jid_bare(&j, out, sizeof(out)), 18);
	assert_string_equal(out, "juliet@capulet.lit");
	assert_int_equal(jid_full(&j, out, sizeof(out)), 26);
	assert_string_equal(out, "juliet@capulet.lit/Balcony");

	assert_int_equal(parse("capulet.lit", &j), XS_OK);
	assert_int_equal(jid_bare(&j, out, sizeof(out)), 11);
	assert_string_equal(out, "capulet.lit");
	assert_int_equal(jid_full(&j, out, sizeof(out)), 11);
	assert_string_equal(out, "capulet.lit");

	assert_int_equal(parse("capulet.lit/r", &j), XS_OK);
	assert_int_equal(jid_bare(&j, out, sizeof(out)), 11);
	assert_string_equal(out, "capulet.lit");
	assert_int_equal(jid_full(&j, out, sizeof(out)), 13);
	assert_string_equal(out, "capulet.lit/r");
}

static void test_bare_full_cap(void **state)
{
	static struct jid j;
	static char big[JID_MAX + 1];
	char out[32];
	int n;

	(void)state;
	assert_int_equal(parse("a@b/c", &j), XS_OK);
	/* Exactly enough: 5 characters and the NUL. */
	assert_int_equal(jid_full(&j, out, 6), 5);
	assert_string_equal(out, "a@b/c");
	strcpy(out, "junk");
	assert_int_equal(jid_full(&j, out, 5), -1);
	assert_string_equal(out, "");
	assert_int_equal(jid_bare(&j, out, 4), 3);
	assert_int_equal(jid_bare(&j, out, 3), -1);
	assert_int_equal(jid_bare(&j, out, 0), -1);

	/* The longest JID fits in JID_MAX + 1. */
	memset(j.node, 'n', JID_PART_MAX);
	j.node[JID_PART_MAX] = '\0';
	memset(j.domain, 'd', JID_PART_MAX);
	j.domain[JID_PART_MAX] = '\0';
	memset(j.resource, 'r', JID_PART_MAX);
	j.resource[JID_PART_MAX] = '\0';
	n = jid_full(&j, big, sizeof(big));
	assert_int_equal(n, JID_MAX);
	assert_int_equal(jid_full(&j, big, sizeof(big) - 1), -1);

	/* A hand-filled struct without terminators is refused, not overread. */
	memset(j.domain, 'd', sizeof(j.domain));
	assert_int_equal(jid_bare(&j, big, sizeof(big)), -1);
}

static void test_prep_functions(void **state)
{
	char out[JID_PART_MAX + 1];

	(void)state;
	assert_int_equal(jid_nodeprep("User", 4, out, sizeof(out)), XS_OK);
	assert_string_equal(out, "user");
	assert_int_equal(jid_nodeprep("User", 4, out, 4), XS_ERROR);
	assert_int_equal(jid_nodeprep("User", 4, out, 5), XS_OK);
	assert_int_equal(jid_nodeprep("", 0, out, sizeof(out)), XS_ERROR);
	assert_int_equal(jid_nodeprep("Stra\xC3\x9F" "e", 7, out, 8), XS_OK);
	assert_string_equal(out, "strasse");
	assert_int_equal(jid_nodeprep("Stra\xC3\x9F" "e", 7, out, 7), XS_ERROR);

	assert_int_equal(jid_nameprep("Example.COM.", 12, out, sizeof(out)), XS_OK);
	assert_string_equal(out, "example.com");
	assert_int_equal(jid_nameprep("Example.COM", 11, out, 11), XS_ERROR);
	assert_int_equal(jid_nameprep("[::1]", 5, out, 5), XS_ERROR);
	assert_int_equal(jid_nameprep("[::1]", 5, out, 6), XS_OK);
	assert_int_equal(jid_nameprep("", 0, out, sizeof(out)), XS_ERROR);

	assert_int_equal(jid_resourceprep("Res ource", 9, out, sizeof(out)), XS_OK);
	assert_string_equal(out, "Res ource");
	assert_int_equal(jid_resourceprep("Res", 3, out, 3), XS_ERROR);
	assert_int_equal(jid_resourceprep("", 0, out, sizeof(out)), XS_ERROR);
	/* Length given, not NUL: only the first 3 bytes are the part. */
	assert_int_equal(jid_resourceprep("abcdef", 3, out, sizeof(out)), XS_OK);
	assert_string_equal(out, "abc");
}

/* jid.c prepares ASCII without libidn; for every ASCII character the result
 * must be what libidn's profiles give. */
static void test_ascii_shortcut_matches_libidn(void **state)
{
	(void)state;
	for (int c = 1; c < 128; c++) {
		char in[4] = { 'A', (char)c, 'b', '\0' };
		char ref[16], out[16];
		int want, got;

		strcpy(ref, in);
		want = stringprep(ref, sizeof(ref), STRINGPREP_NO_UNASSIGNED,
		                  stringprep_xmpp_nodeprep) == STRINGPREP_OK;
		got = jid_nodeprep(in, 3, out, sizeof(out)) == XS_OK;
		if (want != got)
			fail_msg("nodeprep disagrees with libidn on 0x%02x", c);
		if (want)
			assert_string_equal(out, ref);

		strcpy(ref, in);
		want = stringprep(ref, sizeof(ref), 0, stringprep_xmpp_resourceprep) ==
		       STRINGPREP_OK;
		got = jid_resourceprep(in, 3, out, sizeof(out)) == XS_OK;
		if (want != got)
			fail_msg("resourceprep disagrees with libidn on 0x%02x", c);
		if (want)
			assert_string_equal(out, ref);

		/* Host names: letters, digits, inner hyphens, and dots. */
		got = jid_nameprep(in, 3, out, sizeof(out)) == XS_OK;
		want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		       (c >= '0' && c <= '9') || c == '-' || c == '.';
		if (want != got)
			fail_msg("nameprep verdict on 0x%02x", c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_plain),
		cmocka_unit_test(test_resource_with_at_and_slash),
		cmocka_unit_test(test_domain_only),
		cmocka_unit_test(test_ip_literals),
		cmocka_unit_test(test_case_folding),
		cmocka_unit_test(test_unicode_prep),
		cmocka_unit_test(test_trailing_dot),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_bare_full),
		cmocka_unit_test(test_bare_full_cap),
		cmocka_unit_test(test_prep_functions),
		cmocka_unit_test(test_ascii_shortcut_matches_libidn),
	};
	return cmocka_run_group_tests_name("jid", tests, NULL, NULL);
}

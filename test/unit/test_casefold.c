/* test_casefold.c — case folding for matching (lib/casefold): the mappings
 * by block, what is left alone, and the two promises its users build on:
 * the UTF-8 length never changes and folding twice is folding once. */
#include "lib/casefold.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* The UTF-8 length of code point c (c below 0x110000). */
static size_t utf8_len(uint32_t c)
{
	return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

static void assert_folds(const char *in, const char *want)
{
	char out[256];
	size_t n = strlen(in);
	assert_true(n < sizeof(out));
	memset(out, '#', sizeof(out));
	casefold_utf8(in, n, out);
	assert_memory_equal(out, want, n);
	assert_int_equal(out[n], '#'); /* nothing written past len */
	assert_int_equal(strlen(want), n);
}

static void test_ascii(void **state)
{
	(void)state;
	assert_folds("Hello, World 123 @[`{", "hello, world 123 @[`{");
	assert_folds("", "");
}

static void test_latin(void **state)
{
	(void)state;
	assert_folds("ÀÉÎÕÜÞ", "àéîõüþ");
	assert_folds("×ß", "×ß");                 /* the sign and sharp s stay */
	assert_folds("ĀĹŊŸŹ", "āĺŋÿź");           /* Latin Extended-A, odd and even runs */
	assert_folds("İıĸŉſ", "İıĸŉſ");           /* no one-to-one simple lowercase here */
	assert_folds("ḀẠỸ", "ḁạỹ");                /* Latin Extended Additional */
	assert_folds("ＡＺ", "ａｚ");                /* fullwidth */
}

static void test_greek_cyrillic_armenian(void **state)
{
	(void)state;
	assert_folds("ΆΈΌΏΣΩ", "άέόώσω");
	assert_folds("ς", "σ");                   /* final sigma folds to sigma */
	assert_folds("ἈᾸ", "ἀᾰ");                 /* Greek Extended */
	assert_folds("ЁЯѢӀӁ", "ёяѣӏӂ");
	assert_folds("ԱՖ", "աֆ");
}

static void test_bytes_left_alone(void **state)
{
	(void)state;
	/* four-byte sequences, stray continuation bytes, an overlong 'A'
	 * (C1 81) and a sequence cut by the end are copied as they are */
	assert_folds("\xF0\x9F\x98\x80" "A", "\xF0\x9F\x98\x80" "a");
	assert_folds("\x80" "B\xBF", "\x80" "b\xBF");
	assert_folds("\xC1\x81", "\xC1\x81");
	assert_folds("A\xC3", "a\xC3");
	assert_folds("\xE1\xB8", "\xE1\xB8");
}

static void test_prefix_of_folded(void **state)
{
	(void)state;
	/* A prefix that ends between characters folds to the prefix of the
	 * folded text (the search index cuts values so before folding). */
	const char *s = "ÀlÉxΣ\xE1\xB8\x80z";
	char whole[32], part[32];
	size_t n = strlen(s);
	casefold_utf8(s, n, whole);
	for (size_t k = 0; k <= n; k++) {
		if (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
			continue; /* inside a character */
		casefold_utf8(s, k, part);
		assert_memory_equal(part, whole, k);
	}
	/* A cut inside a character leaves it as it is: here its lead byte
	 * differs from the folded one (Σ is CE A3, σ is CF 83). */
	casefold_utf8("\xCE\xA3", 1, part);
	assert_int_equal((unsigned char)part[0], 0xCE);
}

static void test_every_bmp_code_point(void **state)
{
	(void)state;
	for (uint32_t c = 0; c < 0x10000; c++) {
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		uint32_t f = casefold_cp(c);
		assert_true(f < 0xD800 || f > 0xDFFF);
		assert_int_equal(utf8_len(f), utf8_len(c));
		assert_int_equal(casefold_cp(f), f);
	}
	assert_int_equal(casefold_cp(0x1F600), 0x1F600);
	assert_int_equal(casefold_cp(0x10FFFF), 0x10FFFF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ascii),
		cmocka_unit_test(test_latin),
		cmocka_unit_test(test_greek_cyrillic_armenian),
		cmocka_unit_test(test_bytes_left_alone),
		cmocka_unit_test(test_prefix_of_folded),
		cmocka_unit_test(test_every_bmp_code_point),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

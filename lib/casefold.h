/* casefold.h — case folding for case-insensitive matching of user text
 * (the vCard directory's search index and queries).
 *
 * The mappings are Unicode's simple lowercase mappings, one code point to
 * one code point, for ASCII, Latin-1, Latin Extended-A, Latin Extended
 * Additional, Greek (and Greek Extended), Cyrillic (and Cyrillic
 * Supplement), Armenian and fullwidth Latin; every mapping keeps the UTF-8
 * length of the character, so folded text has the length of its input and
 * a prefix of the input that ends between two characters folds to a prefix
 * of the folded text (a character cut by the end is copied, not folded:
 * cut text at a character boundary before folding it).  Final sigma
 * folds to sigma.  Not done: full case folding (German sharp s stays),
 * Turkish dotted and dotless i (unchanged), titlecase digraphs, scripts
 * not named above, and normalisation ("e" + U+0301 is not U+00E9).
 * Pure functions: no state, no allocation, thread-safe. */
#ifndef XMPPD_LIB_CASEFOLD_H
#define XMPPD_LIB_CASEFOLD_H

#include <stddef.h>
#include <stdint.h>

/* The folded form of code point c (c itself when it has none here). */
uint32_t casefold_cp(uint32_t c);

/* Folds the UTF-8 text in[0..len) into out[0..len), which must not
 * overlap it.
 * One-byte and well-formed two- and three-byte sequences are folded; every
 * other byte (a four-byte sequence, a stray continuation byte, a sequence
 * cut by len) is copied as it is.  Never reads or writes past len. */
void casefold_utf8(const char *in, size_t len, char *out);

#endif

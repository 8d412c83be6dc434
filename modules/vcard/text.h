/* text.h — text of vCard and search elements, bounded and trimmed, and
 * UTF-8-safe cuts.  Pure functions over their arguments. */
#ifndef XMPPD_MODULES_VCARD_TEXT_H
#define XMPPD_MODULES_VCARD_TEXT_H

#include "lib/stz.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Space, tab, CR or LF (XML whitespace). */
bool vcard_is_ws(char c);

/* The largest length <= n that does not split a UTF-8 sequence of p, which
 * holds more than n bytes. */
size_t vcard_utf8_cut(const char *p, size_t n);

/* The text directly inside element `el` of s, trimmed of surrounding
 * whitespace, into out (at most cap bytes, not NUL-terminated; a character
 * that would be split is dropped).  Returns its length; *cut: there was
 * more non-blank text. */
size_t vcard_elem_text(const struct stz *s, uint32_t el, char *out, size_t cap, bool *cut);

#endif

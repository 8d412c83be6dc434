/* utf8.h — strict UTF-8 validation (RFC 3629) for text that leaves as C
 * strings: no overlong forms, no surrogates, nothing above U+10FFFF, and no
 * NUL (it would end the string early).  libidn's and libxml2's decoders are
 * not relied on for this. */
#ifndef XMPPD_LIB_UTF8_H
#define XMPPD_LIB_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const unsigned char *s, size_t len);

#endif

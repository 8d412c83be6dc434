/* utf8.c — strict UTF-8 validation. */
#include "lib/utf8.h"

#include <stdint.h>

bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t more;
		uint32_t cp, min;
		if ((c & 0xE0) == 0xC0) {
			more = 1; cp = c & 0x1F; min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			more = 2; cp = c & 0x0F; min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			more = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			unsigned cc = s[i + k];
			if ((cc & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (cc & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += more + 1;
	}
	return true;
}

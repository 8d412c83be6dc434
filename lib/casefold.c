/* casefold.c — simple one-to-one case folding that keeps UTF-8 lengths
 * (casefold.h): ranges of Unicode's simple lowercase mappings, by block. */
#include "lib/casefold.h"

#include <stdbool.h>
#include <string.h>

uint32_t casefold_cp(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17F) {
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F)
			return c;
		if (c == 0x178)
			return 0xFF;
		bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
		if (odd_upper)
			return (c & 1) ? c + 1 : c;
		return (c & 1) ? c : c + 1;
	}
	if (c >= 0x386 && c <= 0x3AB) {
		if (c == 0x386)
			return 0x3AC;
		if (c >= 0x388 && c <= 0x38A)
			return c + 37;
		if (c == 0x38C)
			return 0x3CC;
		if (c == 0x38E || c == 0x38F)
			return c + 63;
		if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
			return c + 32;
		return c;
	}
	if (c == 0x3C2) /* final sigma folds to sigma */
		return 0x3C3;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F))
		return (c & 1) ? c : c + 1;
	if (c == 0x4C0)
		return 0x4CF;
	if (c >= 0x4C1 && c <= 0x4CE)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x531 && c <= 0x556)
		return c + 48;
	if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF))
		return (c & 1) ? c : c + 1;
	if (c >= 0x1F08 && c <= 0x1FAF) { /* Greek Extended: capitals are 8 above */
		unsigned lo = c & 0xF;
		uint32_t row = c & 0xFFF0;
		bool caps = lo >= 8 && (row == 0x1F00 || row == 0x1F10 || row == 0x1F20 ||
		                        row == 0x1F30 || row == 0x1F40 || row == 0x1F60 ||
		                        row == 0x1F80 || row == 0x1F90 || row == 0x1FA0 ||
		                        (row == 0x1F50 && (lo & 1)));
		if ((row == 0x1F10 || row == 0x1F40) && lo >= 0xE)
			caps = false; /* unassigned */
		return caps ? c - 8 : c;
	}
	if (c == 0x1FB8 || c == 0x1FB9 || c == 0x1FD8 || c == 0x1FD9 || c == 0x1FE8 || c == 0x1FE9)
		return c - 8;
	if (c >= 0xFF21 && c <= 0xFF3A)
		return c + 32;
	return c;
}

void casefold_utf8(const char *in, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned char *o = (unsigned char *)out;
	size_t i = 0;
	while (i < len) {
		unsigned char b = p[i];
		if (b < 0x80) {
			o[i] = (unsigned char)casefold_cp(b);
			i++;
		} else if ((b & 0xE0) == 0xC0 && i + 1 < len && (p[i + 1] & 0xC0) == 0x80) {
			uint32_t c = casefold_cp(((uint32_t)(b & 0x1F) << 6) | (p[i + 1] & 0x3F));
			if (c < 0x80 || c > 0x7FF) { /* never happens: mappings keep the length */
				o[i] = b;
				o[i + 1] = p[i + 1];
			} else {
				o[i] = (unsigned char)(0xC0 | (c >> 6));
				o[i + 1] = (unsigned char)(0x80 | (c & 0x3F));
			}
			i += 2;
		} else if ((b & 0xF0) == 0xE0 && i + 2 < len && (p[i + 1] & 0xC0) == 0x80 &&
		           (p[i + 2] & 0xC0) == 0x80) {
			uint32_t c = casefold_cp(((uint32_t)(b & 0x0F) << 12) |
			                         ((uint32_t)(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F));
			if (c < 0x800 || c > 0xFFFF) {
				memcpy(o + i, p + i, 3);
			} else {
				o[i] = (unsigned char)(0xE0 | (c >> 12));
				o[i + 1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
				o[i + 2] = (unsigned char)(0x80 | (c & 0x3F));
			}
			i += 3;
		} else {
			o[i] = b;
			i++;
		}
	}
}

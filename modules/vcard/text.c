/* text.c — element text and UTF-8 cuts (text.h). */
#include "modules/vcard/text.h"

bool vcard_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t vcard_utf8_cut(const char *p, size_t n)
{
	while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* p[0..n) ends inside a UTF-8 sequence: the length without it. */
static size_t drop_partial(const char *p, size_t n)
{
	while (n > 0 && ((unsigned char)p[n - 1] & 0xC0) == 0x80)
		n--;
	return n > 0 ? n - 1 : 0;
}


size_t vcard_elem_text(const struct stz *s, uint32_t el, char *out, size_t cap, bool *cut)
{
	size_t n = 0;
	bool lead = true;
	*cut = false;
	for (uint32_t c = stz_first_child(s, el); c != 0; c = stz_next_sibling(s, el, c)) {
		if (!s->nodes[c].is_text)
			continue;
		const char *t = stz_str(s, s->nodes[c].name);
		for (uint32_t i = 0; i < s->nodes[c].name.len; i++) {
			if (lead && vcard_is_ws(t[i]))
				continue;
			lead = false;
			if (n == cap) {
				if (vcard_is_ws(t[i]))
					continue;
				*cut = true;
				if (((unsigned char)t[i] & 0xC0) == 0x80) /* drop the split character */
					n = drop_partial(out, n);
				goto done;
			}
			out[n++] = t[i];
		}
	}
done:
	while (n > 0 && vcard_is_ws(out[n - 1]))
		n--;
	return n;
}

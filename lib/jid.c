/* jid.c — XMPP address preparation (RFC 6122) over libidn stringprep.
 *
 * Every input here comes from a client, so nothing is logged: a bad address
 * is an ordinary outcome that the caller turns into jid-malformed.
 *
 * Pure-ASCII parts, which are nearly all of them, are prepared without
 * calling libidn: for ASCII the three profiles reduce to a case map and a
 * short list of prohibited characters, and libidn would convert every part
 * to UCS-4 on the heap.  test_jid checks the shortcut against libidn for
 * every ASCII character. */
#include "lib/jid.h"
#include "lib/utf8.h"
#include "lib/xs.h"

#include <arpa/inet.h>
#include <idn-free.h>
#include <idna.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stringprep.h>

/* stringprep() prepares in place, so the input must fit in the buffer too.
 * A part this long could only shrink to the 1023-byte limit by being mostly
 * characters mapped to nothing; refusing it costs no real address. */
#define PREP_BUF 4096

#define LABEL_MAX 63


static bool all_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

static char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int run_stringprep(const char *in, size_t len, const Stringprep_profile *profile,
                          Stringprep_profile_flags flags, char *buf)
{
	if (len >= PREP_BUF)
		return XS_ERROR;
	memcpy(buf, in, len);
	buf[len] = '\0';
	if (stringprep(buf, PREP_BUF, flags, profile) != STRINGPREP_OK)
		return XS_ERROR;
	return XS_OK;
}

/* The limits apply to the prepared form (RFC 6122 section 2.1), which may be
 * longer or shorter than what the client sent. */
static int emit_part(const char *buf, size_t n, char *out, size_t cap)
{
	if (n == 0 || n > JID_PART_MAX || n >= cap)
		return XS_ERROR;
	memcpy(out, buf, n);
	out[n] = '\0';
	return XS_OK;
}

/* Node and domain name accounts and hosts, which are stored and compared for
 * years: a code point unassigned in Unicode 3.2 might later be given a case
 * mapping, so such names are refused (stringprep "stored strings"). */
int jid_nodeprep(const char *in, size_t len, char *out, size_t cap)
{
	char buf[PREP_BUF];
	int rc;

	if (len == 0 || len >= PREP_BUF || !utf8_valid((const unsigned char *)in, len))
		return XS_ERROR;
	if (all_ascii(in, len)) {
		/* Nodeprep on ASCII: controls and space are prohibited (C.1.1,
		 * C.2.1), so are the eight characters of its own table, and
		 * letters are case-folded. */
		for (size_t i = 0; i < len; i++) {
			char c = in[i];
			if ((unsigned char)c <= 0x20 || c == 0x7F || strchr("\"&'/:<>@", c))
				return XS_ERROR;
			buf[i] = ascii_lower(c);
		}
		buf[len] = '\0';
		return emit_part(buf, len, out, cap);
	}
	rc = run_stringprep(in, len, stringprep_xmpp_nodeprep, STRINGPREP_NO_UNASSIGNED, buf);
	if (rc != XS_OK)
		return rc;
	return emit_part(buf, strlen(buf), out, cap);
}

/* Resources are transient (a session, a MUC nickname) and clients put emoji
 * and other characters newer than Unicode 3.2 in them; treating them as
 * stringprep "queries" keeps those working. */
int jid_resourceprep(const char *in, size_t len, char *out, size_t cap)
{
	char buf[PREP_BUF];
	int rc;

	if (len == 0 || len >= PREP_BUF || !utf8_valid((const unsigned char *)in, len))
		return XS_ERROR;
	if (all_ascii(in, len)) {
		/* Resourceprep maps no ASCII character and prohibits only the
		 * controls (C.2.1); the ASCII space is allowed. */
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)in[i] < 0x20 || in[i] == 0x7F)
				return XS_ERROR;
		return emit_part(in, len, out, cap);
	}
	rc = run_stringprep(in, len, stringprep_xmpp_resourceprep, 0, buf);
	if (rc != XS_OK)
		return rc;
	return emit_part(buf, strlen(buf), out, cap);
}

static int ip6_literal(const char *in, size_t len, char *out, size_t cap)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr a;
	int n;

	if (len < 3 || in[len - 1] != ']' || len - 2 >= sizeof(addr))
		return XS_ERROR;
	memcpy(addr, in + 1, len - 2);
	addr[len - 2] = '\0';
	if (inet_pton(AF_INET6, addr, &a) != 1)
		return XS_ERROR;
	/* One spelling per address, so "[::1]" and "[0:0::1]" route alike. */
	if (!inet_ntop(AF_INET6, &a, addr, sizeof(addr)))
		return XS_ERROR;
	n = snprintf(out, cap, "[%s]", addr);
	if (n < 0 || (size_t)n >= cap)
		return XS_ERROR;
	return XS_OK;
}

/* IDNA (RFC 3490 section 3.1) treats U+3002 as a label separator too;
 * nameprep has already folded the other two (U+FF0E, U+FF61) into '.' and
 * U+3002. */
static size_t fold_ideographic_dots(char *s, size_t n)
{
	size_t r = 0, w = 0;

	while (r < n) {
		if (n - r >= 3 && (unsigned char)s[r] == 0xE3 &&
		    (unsigned char)s[r + 1] == 0x80 && (unsigned char)s[r + 2] == 0x82) {
			s[w++] = '.';
			r += 3;
		} else {
			s[w++] = s[r++];
		}
	}
	s[w] = '\0';
	return w;
}

/* STD3 host name rules (RFC 1123) for an ASCII label: letters, digits and
 * hyphens, no hyphen at either end. */
static bool ldh_label_ok(const char *l, size_t n)
{
	if (n == 0 || n > LABEL_MAX || l[0] == '-' || l[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = l[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* RFC 6122 section 2.2: an internationalized label is valid when ToASCII
 * with UseSTD3ASCIIRules (and without AllowUnassigned) succeeds on it; the
 * 63-octet limit then applies to the ACE form.  label is NUL-terminated. */
static bool idn_label_ok(const char *label)
{
	char *ace = NULL;
	bool ok;

	if (idna_to_ascii_8z(label, &ace, IDNA_USE_STD3_ASCII_RULES) != IDNA_SUCCESS)
		return false;
	ok = ace && ace[0] != '\0' && strlen(ace) <= LABEL_MAX;
	idn_free(ace);
	return ok;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Checks every label of a prepared, NUL-terminated name of length n.  The
 * buffer is written to (a NUL per label, put back) so that libidn can be
 * given each label as a C string without a copy. */
static bool host_name_ok(char *name, size_t n)
{
	size_t start = 0, last_start = 0;

	while (start <= n) {
		char *dot = memchr(name + start, '.', n - start);
		size_t end = dot ? (size_t)(dot - name) : n;
		size_t ln = end - start;
		bool ok;

		if (ln == 0)
			return false;
		if (all_ascii(name + start, ln)) {
			ok = ldh_label_ok(name + start, ln);
		} else {
			char saved = name[end];
			name[end] = '\0';
			ok = idn_label_ok(name + start);
			name[end] = saved;
		}
		if (!ok)
			return false;
		last_start = start;
		start = end + 1;
	}
	/* A top label of digits only is never a host name (RFC 1123 section
	 * 2.1); reaching here, the name did not parse as an IPv4 address, so
	 * "1.2.3.256" or "12345" is refused rather than taken for a host. */
	return !all_digits(name + last_start, n - last_start);
}

int jid_nameprep(const char *in, size_t len, char *out, size_t cap)
{
	char buf[PREP_BUF];
	struct in_addr v4;
	size_t n;

	if (len == 0 || len >= PREP_BUF || !utf8_valid((const unsigned char *)in, len))
		return XS_ERROR;
	if (in[0] == '[')
		return ip6_literal(in, len, out, cap);

	if (all_ascii(in, len)) {
		/* Nameprep on ASCII is the case map alone; the STD3 label rules
		 * below reject what it lets through (controls, space, '@'...). */
		for (size_t i = 0; i < len; i++)
			buf[i] = ascii_lower(in[i]);
		buf[len] = '\0';
		n = len;
	} else {
		if (run_stringprep(in, len, stringprep_nameprep, STRINGPREP_NO_UNASSIGNED,
		                   buf) != XS_OK)
			return XS_ERROR;
		/* Nameprep folds case already; lower ASCII again so the result
		 * never depends on which path was taken. */
		for (char *p = buf; *p; p++)
			*p = ascii_lower(*p);
		n = fold_ideographic_dots(buf, strlen(buf));
	}

	/* "example.com." is the fully qualified spelling of "example.com". */
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	if (n == 0 || n > JID_PART_MAX)
		return XS_ERROR;

	if (inet_pton(AF_INET, buf, &v4) != 1 && !host_name_ok(buf, n))
		return XS_ERROR;
	return emit_part(buf, n, out, cap);
}

static void jid_clear(struct jid *j)
{
	j->node[0] = '\0';
	j->domain[0] = '\0';
	j->resource[0] = '\0';
}

int jid_parse(const char *text, size_t len, struct jid *out)
{
	const char *end = text + len;
	const char *slash, *at, *dom;
	size_t host_len;

	jid_clear(out);
	if (len == 0)
		return XS_ERROR;

	/* The resource starts at the first '/' and may itself contain '@' and
	 * '/'; only the text before it holds node and domain. */
	slash = memchr(text, '/', len);
	host_len = slash ? (size_t)(slash - text) : len;
	at = memchr(text, '@', host_len);
	dom = at ? at + 1 : text;

	if (at && jid_nodeprep(text, (size_t)(at - text), out->node, sizeof(out->node)) != XS_OK)
		goto bad;
	if (jid_nameprep(dom, (size_t)(text + host_len - dom), out->domain,
	                 sizeof(out->domain)) != XS_OK)
		goto bad;
	if (slash && jid_resourceprep(slash + 1, (size_t)(end - slash - 1), out->resource,
	                              sizeof(out->resource)) != XS_OK)
		goto bad;
	return XS_OK;
bad:
	/* Never leave a half-parsed address behind for a caller that forgets
	 * to check. */
	jid_clear(out);
	return XS_ERROR;
}

/* strnlen keeps a struct jid filled by hand without a terminator from being
 * read past its arrays. */
static int part_len(const char *p, size_t size, size_t *n)
{
	*n = strnlen(p, size);
	return *n < size ? XS_OK : XS_ERROR;
}

static int jid_write(const struct jid *j, bool full, char *out, size_t cap)
{
	size_t nl, dl, rl = 0, total, pos = 0;

	if (part_len(j->node, sizeof(j->node), &nl) != XS_OK ||
	    part_len(j->domain, sizeof(j->domain), &dl) != XS_OK ||
	    (full && part_len(j->resource, sizeof(j->resource), &rl) != XS_OK))
		goto small;
	total = (nl ? nl + 1 : 0) + dl + (rl ? rl + 1 : 0);
	if (total >= cap)
		goto small;
	if (nl) {
		memcpy(out, j->node, nl);
		out[nl] = '@';
		pos = nl + 1;
	}
	memcpy(out + pos, j->domain, dl);
	pos += dl;
	if (rl) {
		out[pos++] = '/';
		memcpy(out + pos, j->resource, rl);
		pos += rl;
	}
	out[pos] = '\0';
	return (int)pos;
small:
	if (cap > 0)
		out[0] = '\0';
	return -1;
}

int jid_bare(const struct jid *j, char *out, size_t cap)
{
	return jid_write(j, false, out, cap);
}

int jid_full(const struct jid *j, char *out, size_t cap)
{
	return jid_write(j, true, out, cap);
}

size_t jid_bare_len(const char *jid)
{
	return strcspn(jid, "/");
}

int jid_bare_copy(const char *jid, char *out, size_t cap)
{
	size_t n = jid_bare_len(jid);
	if (n >= cap || n > INT_MAX)
		return -1;
	memcpy(out, jid, n);
	out[n] = '\0';
	return (int)n;
}

bool jid_has_node(const char *jid)
{
	return memchr(jid, '@', jid_bare_len(jid)) != NULL;
}

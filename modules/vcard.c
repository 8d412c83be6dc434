/* vcard.c — vcard-temp (XEP-0054) and the user directory (XEP-0055,
 * jabber:iq:search, with XEP-0004 data forms) over the stored vCards.
 *
 * vcard-temp (IQ handler for every host; disco feature "vcard-temp" of the
 * server and, through the disco_info hook, of every account):
 *   get, no 'to' or to = own bare JID  -> the account's own vCard
 *   get, to = another local bare JID    -> that account's vCard (anyone may read,
 *                                          XEP-0054 §3.3); an account without a vCard
 *                                          -> an empty <vCard xmlns='vcard-temp'/>
 *                                          result (as ejabberd; XEP-0054 allows it);
 *                                          no such account -> service-unavailable
 *                                          (RFC 6121 §8.5.1, XEP-0054 §3.3)
 *   get, to = the server itself         -> an empty vCard
 *   set by the account itself           -> stored whole (no partial updates);
 *                                          a vCard with no child element clears it
 *                                          (and takes the account out of the directory)
 *   set by a session without an account -> not-allowed (SASL ANONYMOUS: nothing
 *                                          would ever remove it); its own get is an
 *                                          empty vCard
 *   set on any other JID                -> forbidden (XEP-0054 §3.2)
 *   set larger than max_size            -> not-acceptable (modify) with a <text/>:
 *                                          XEP-0054 names no condition and ejabberd has
 *                                          no limit; RFC 6120 §8.3.3.9 not-acceptable
 *                                          is "does not meet criteria defined by the
 *                                          server" and is permanent, unlike
 *                                          resource-constraint (type wait, "retry"),
 *                                          and is what XEP-0060 uses for too-big items.
 *
 * Directory (XEP-0055), like ejabberd's mod_vcard: a service domain per host,
 * `search_host` with @HOST@ replaced (default vjud.HOST), listed in the host's
 * disco#items; its disco#info is identity directory/user + features
 * disco#info, disco#items, jabber:iq:search, vcard-temp.
 *   get -> instructions + the legacy fields <first/><last/><nick/><email/> and a
 *          type='form' data form (FORM_TYPE jabber:iq:search) with the fields
 *          user fn first middle last nick bday ctry locality email orgname orgunit
 *          (ejabberd's set).
 *   set -> a submitted form (<x type='submit'/>, answered with a type='result'
 *          form: <reported/> + one <item/> per match) or legacy fields (answered
 *          with <item jid='...'><first/><last/><nick/><email/></item>).  Each
 *          non-empty field must match (AND), case-insensitively; a trailing '*'
 *          makes it a prefix match (as ejabberd); a field of only "*" is no
 *          condition.  Unknown form fields are ignored (as ejabberd).  A query
 *          with no condition gives an empty result, as ejabberd does (XEP-0055
 *          defines no error for it), unless allow_return_all is true.  At most
 *          `matches` items, and never more than fits in max_stanza_size.  Only
 *          accounts of the service's parent host that have published a vCard are
 *          in the directory (publishing one is the opt-in, as in ejabberd).
 *   Matching folds case for ASCII, Latin-1, Latin Extended-A and Additional,
 *   Greek (and Greek Extended), Cyrillic, Armenian and fullwidth Latin (simple
 *   one-to-one mappings that keep the UTF-8 length); no full Unicode case
 *   folding and no normalisation (a decomposed "e + U+0301" is not "é").
 *   Searchable values are the first VALUE_MAX (256) bytes of a field, trimmed
 *   (longer values match by prefix only); a longer query value, or more than
 *   TERMS_MAX (16) conditions -> not-acceptable; a form not of type submit ->
 *   bad-request.
 *
 * Fields taken from a vCard (every occurrence, up to VALUES_PER_FIELD each):
 *   fn FN; first/middle/last N/GIVEN, N/MIDDLE, N/FAMILY; nick NICKNAME;
 *   bday BDAY; ctry/locality ADR/CTRY, ADR/LOCALITY; email EMAIL/USERID (or
 *   EMAIL's own text); orgname/orgunit ORG/ORGNAME, ORG/ORGUNIT; user = the
 *   node of the account's JID.
 *
 * Options (modules: {vcard: {...}}):
 *   max_size: bytes (1024..16777216)  [65536]  encoded size of a stored vCard
 *   search: true|false                [true]   offer the directory service
 *   search_host: domain               [vjud.@HOST@]
 *   name: text                        [vCard User Search]  disco identity name
 *   matches: N (1..10000) | infinity  [30]     items in one search result
 *                                               (infinity: 10000)
 *   allow_return_all: true|false      [false]  a query with no condition lists all
 *   max_scan: N (100..1000000)        [10000]  index entries one search may examine
 *     (bounds the router's time per search; a search that reaches it returns
 *     the matches found so far)
 * max_size, matches, allow_return_all and max_scan change on reload; search,
 * search_host and name need a restart.
 *
 * Storage (data env):
 *   "vcard"     bare JID -> the stz encoding of the <vCard/> element as sent
 *   "vcard_sum" bare JID -> summary record: u8 version (1), u8 count, then count
 *               entries {u8 field id, u8 flags (1: cut), u16 LE length, bytes}:
 *               the trimmed original text of each searchable value (<= VALUE_MAX)
 *   "vcard_idx" (MDB_DUPSORT) key = u8 field id, host, NUL, folded value (cut at
 *               a UTF-8 boundary to fit LMDB's 511-byte keys); data = bare JID.
 *               One entry per summary value plus one for "user".
 * Field ids are on-disk values: never renumber enum field.  Bare JIDs of
 * accounts are at most 511 bytes (the accounts table is keyed by them).
 *
 * Search plan: every condition is a range of vcard_idx within the host: an
 * exact value is one key (MDB_SET, its duplicate count is O(1)), a prefix is
 * the keys from MDB_SET_RANGE while they start with it.  The range with the
 * fewest entries (prefix ranges are counted only up to the best so far) drives
 * the walk; each candidate's summary is checked against every condition (also
 * the driving one: keys may be cut), so the summary is the truth and index
 * entries are hints (a stale one costs a lookup, never a wrong answer).  Items
 * come in the driving range's order.  Work per search is bounded by max_scan
 * (about 1 us per examined entry; 20-200 us per search measured over 2000
 * accounts).  A set rewrites the account's entries in the same child
 * transaction as the vCard, so index and vCards never disagree on disk. */
#include "router/module.h"
#include "lib/db.h"
#include "lib/jid.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_VCARD  "vcard-temp"
#define NS_SEARCH "jabber:iq:search"
#define NS_XDATA  "jabber:x:data"

#define KEY_MAX          511   /* LMDB's default MDB_MAXKEYSIZE (Debian's liblmdb) */
#define VALUE_MAX        256   /* searchable bytes of one value */
#define VALUES_PER_FIELD 8
#define TERMS_MAX        16    /* conditions in one query */
#define MATCHES_CAP      10000
#define HOST_KEY_MAX     (KEY_MAX - 2 - 64) /* leaves >= 64 bytes of value in a key */
#define SUM_VERSION      1

/* Field ids: stored in vcard_idx keys and vcard_sum records, so fixed. */
enum field {
	F_USER = 1, F_FN = 2, F_FIRST = 3, F_MIDDLE = 4, F_LAST = 5, F_NICK = 6, F_BDAY = 7,
	F_CTRY = 8, F_LOCALITY = 9, F_EMAIL = 10, F_ORGNAME = 11, F_ORGUNIT = 12, F_END
};

struct field_def {
	const char *var;     /* data form variable */
	const char *label;
	const char *legacy;  /* XEP-0055 legacy element, or NULL */
};

static const struct field_def FIELDS[F_END] = {
	[F_USER] = { "user", "User", NULL },
	[F_FN] = { "fn", "Full Name", NULL },
	[F_FIRST] = { "first", "Given Name", "first" },
	[F_MIDDLE] = { "middle", "Middle Name", NULL },
	[F_LAST] = { "last", "Family Name", "last" },
	[F_NICK] = { "nick", "Nickname", "nick" },
	[F_BDAY] = { "bday", "Birthday", NULL },
	[F_CTRY] = { "ctry", "Country", NULL },
	[F_LOCALITY] = { "locality", "City", NULL },
	[F_EMAIL] = { "email", "Email", "email" },
	[F_ORGNAME] = { "orgname", "Organization Name", NULL },
	[F_ORGUNIT] = { "orgunit", "Organization Unit", NULL },
};

#define SUM_VALUES_MAX ((F_END - 2) * VALUES_PER_FIELD)
#define SUM_BYTES_MAX  (2 + SUM_VALUES_MAX * (4 + VALUE_MAX))

struct opts {
	size_t max_size;
	bool search;
	char *search_host;
	char *name;
	unsigned matches;
	bool allow_return_all;
	unsigned max_scan;
};

struct vjud {
	char *domain;
	char *host;          /* the parent host whose accounts it lists */
};

struct sval {
	uint8_t fid;
	bool cut;
	uint16_t len;
	const char *p;
};

struct summary {
	struct sval v[SUM_VALUES_MAX];
	size_t n;
};

struct term {
	uint8_t fid;
	bool prefix;
	size_t len;
	char val[VALUE_MAX];  /* folded */
};

struct query {
	struct term t[TERMS_MAX];
	size_t n;
	bool form;
};

static struct {
	MDB_dbi vcard, sum, idx;
	struct opts o;
	struct vjud *vjuds;
	size_t nvjuds;
	struct stz_builder vb;   /* copies of vCards being stored, bounded by max_size */
	unsigned char sumbuf[SUM_BYTES_MAX];
} V;

/* ---------------------------------------------------------------- text */

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The largest length <= n that does not split a UTF-8 sequence of p, which
 * holds more than n bytes. */
static size_t utf8_cut(const char *p, size_t n)
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

/* Simple lowercase mappings that keep the UTF-8 length of the character. */
static uint32_t fold_cp(uint32_t c)
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

/* Folds UTF-8 text into out (same length).  Bytes that are not a well-formed
 * two- or three-byte sequence are copied as they are. */
static void fold(const char *in, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned char *o = (unsigned char *)out;
	size_t i = 0;
	while (i < len) {
		unsigned char b = p[i];
		if (b < 0x80) {
			o[i] = (unsigned char)fold_cp(b);
			i++;
		} else if ((b & 0xE0) == 0xC0 && i + 1 < len && (p[i + 1] & 0xC0) == 0x80) {
			uint32_t c = fold_cp(((uint32_t)(b & 0x1F) << 6) | (p[i + 1] & 0x3F));
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
			uint32_t c = fold_cp(((uint32_t)(b & 0x0F) << 12) |
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

/* The text directly inside element `el`, trimmed of surrounding whitespace,
 * into out (at most cap bytes).  *cut: there was more non-blank text. */
static size_t elem_text(const struct stz *s, uint32_t el, char *out, size_t cap, bool *cut)
{
	size_t n = 0;
	bool lead = true;
	*cut = false;
	for (uint32_t c = stz_first_child(s, el); c != 0; c = stz_next_sibling(s, el, c)) {
		if (!s->nodes[c].is_text)
			continue;
		const char *t = stz_str(s, s->nodes[c].name);
		for (uint32_t i = 0; i < s->nodes[c].name.len; i++) {
			if (lead && is_ws(t[i]))
				continue;
			lead = false;
			if (n == cap) {
				if (is_ws(t[i]))
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
	while (n > 0 && is_ws(out[n - 1]))
		n--;
	return n;
}

/* ---------------------------------------------------------------- options */

/* The directory (search, search_host, name) is registered once, at start. */
static const struct cfgopt OPTS[] = {
	CFGOPT_UINT("max_size", struct opts, max_size, 65536, 1024, 16777216),
	CFGOPT_BOOL("search", struct opts, search, true, .restart = true),
	CFGOPT_STRING("search_host", struct opts, search_host, "vjud.@HOST@", .restart = true),
	CFGOPT_STRING("name", struct opts, name, "vCard User Search", .restart = true),
	CFGOPT_UINT("matches", struct opts, matches, 30, 1, MATCHES_CAP, .max_word = "infinity"),
	CFGOPT_BOOL("allow_return_all", struct opts, allow_return_all, false),
	CFGOPT_UINT("max_scan", struct opts, max_scan, 10000, 100, 1000000),
	CFGOPT_END
};

/* ---------------------------------------------------------------- summary records */

static void sum_put_value(struct summary *sm, uint8_t fid, const char *p, size_t len, bool cut)
{
	size_t have = 0;
	for (size_t i = 0; i < sm->n; i++)
		if (sm->v[i].fid == fid)
			have++;
	if (len == 0 || have >= VALUES_PER_FIELD || sm->n >= SUM_VALUES_MAX)
		return;
	sm->v[sm->n++] = (struct sval){ .fid = fid, .cut = cut, .len = (uint16_t)len, .p = p };
}

/* Text storage for the values of one summary being built. */
struct sum_text {
	char buf[SUM_VALUES_MAX][VALUE_MAX];
	size_t used;
};

static void sum_take(struct summary *sm, struct sum_text *st, uint8_t fid, const struct stz *s,
                     uint32_t el)
{
	if (st->used >= SUM_VALUES_MAX)
		return;
	bool cut;
	char *dst = st->buf[st->used];
	size_t len = elem_text(s, el, dst, VALUE_MAX, &cut);
	size_t before = sm->n;
	sum_put_value(sm, fid, dst, len, cut);
	if (sm->n > before)
		st->used++;
}

static bool is_vc(const struct stz *s, uint32_t n, const char *name)
{
	return stz_node_is(s, n, name, NS_VCARD);
}

/* Children of `parent` named `name` in vcard-temp go to field fid. */
static void sum_child(struct summary *sm, struct sum_text *st, const struct stz *s,
                      uint32_t parent, const char *name, uint8_t fid)
{
	for (uint32_t c = stz_first_child(s, parent); c != 0; c = stz_next_sibling(s, parent, c))
		if (is_vc(s, c, name))
			sum_take(sm, st, fid, s, c);
}

/* The searchable values of the <vCard/> element vc. */
static void sum_from_vcard(const struct stz *s, uint32_t vc, struct summary *sm,
                           struct sum_text *st)
{
	sm->n = 0;
	st->used = 0;
	for (uint32_t c = stz_first_child(s, vc); c != 0; c = stz_next_sibling(s, vc, c)) {
		if (is_vc(s, c, "FN")) {
			sum_take(sm, st, F_FN, s, c);
		} else if (is_vc(s, c, "N")) {
			sum_child(sm, st, s, c, "GIVEN", F_FIRST);
			sum_child(sm, st, s, c, "MIDDLE", F_MIDDLE);
			sum_child(sm, st, s, c, "FAMILY", F_LAST);
		} else if (is_vc(s, c, "NICKNAME")) {
			sum_take(sm, st, F_NICK, s, c);
		} else if (is_vc(s, c, "BDAY")) {
			sum_take(sm, st, F_BDAY, s, c);
		} else if (is_vc(s, c, "ADR")) {
			sum_child(sm, st, s, c, "CTRY", F_CTRY);
			sum_child(sm, st, s, c, "LOCALITY", F_LOCALITY);
		} else if (is_vc(s, c, "EMAIL")) {
			if (stz_child(s, c, "USERID", NS_VCARD))
				sum_child(sm, st, s, c, "USERID", F_EMAIL);
			else
				sum_take(sm, st, F_EMAIL, s, c);
		} else if (is_vc(s, c, "ORG")) {
			sum_child(sm, st, s, c, "ORGNAME", F_ORGNAME);
			sum_child(sm, st, s, c, "ORGUNIT", F_ORGUNIT);
		}
	}
}

static size_t sum_encode(const struct summary *sm, unsigned char *out)
{
	size_t n = 0;
	out[n++] = SUM_VERSION;
	out[n++] = (unsigned char)sm->n;
	for (size_t i = 0; i < sm->n; i++) {
		const struct sval *v = &sm->v[i];
		out[n++] = v->fid;
		out[n++] = v->cut ? 1 : 0;
		out[n++] = (unsigned char)(v->len & 0xFF);
		out[n++] = (unsigned char)(v->len >> 8);
		memcpy(out + n, v->p, v->len);
		n += v->len;
	}
	return n;
}

/* Parses a stored record (pointers into p).  XS_OK or XS_ERROR (corrupt). */
static int sum_decode(const unsigned char *p, size_t len, struct summary *sm)
{
	sm->n = 0;
	if (len < 2 || p[0] != SUM_VERSION || p[1] > SUM_VALUES_MAX)
		return XS_ERROR;
	size_t count = p[1], off = 2;
	for (size_t i = 0; i < count; i++) {
		if (len - off < 4)
			return XS_ERROR;
		uint8_t fid = p[off];
		size_t vlen = p[off + 2] | ((size_t)p[off + 3] << 8);
		off += 4;
		if (fid <= F_USER || fid >= F_END || vlen > VALUE_MAX || len - off < vlen)
			return XS_ERROR;
		sm->v[sm->n++] = (struct sval){ .fid = fid, .cut = p[off - 3] & 1, .len = (uint16_t)vlen,
		                                .p = (const char *)p + off };
		off += vlen;
	}
	return off == len ? XS_OK : XS_ERROR;
}

/* Reads the summary of bare into sm.  copy: into V.sumbuf (survives writes
 * in the transaction).  XS_OK, XS_PASS (none), XS_ERROR. */
static int sum_get(MDB_txn *t, const char *bare, struct summary *sm, bool copy)
{
	MDB_val k = { strlen(bare), (void *)bare }, v;
	int rc = mdb_get(t, V.sum, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0) {
		log_error("vcard: reading the summary of %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	const unsigned char *p = v.mv_data;
	if (copy) {
		if (v.mv_size > sizeof(V.sumbuf))
			return XS_ERROR;
		memcpy(V.sumbuf, v.mv_data, v.mv_size);
		p = V.sumbuf;
	}
	if (sum_decode(p, v.mv_size, sm) != XS_OK) {
		log_warn("vcard: corrupt summary record of %s ignored", bare);
		return XS_PASS;
	}
	return XS_OK;
}

/* ---------------------------------------------------------------- index */

/* Index key: field id, host, NUL, folded value cut to fit.  Returns its length. */
static size_t idx_key(unsigned char *k, uint8_t fid, const char *host, size_t hlen,
                      const char *folded, size_t flen)
{
	k[0] = fid;
	memcpy(k + 1, host, hlen);
	k[1 + hlen] = 0;
	size_t head = hlen + 2, room = KEY_MAX - head;
	if (flen > room)
		flen = utf8_cut(folded, room);
	memcpy(k + head, folded, flen);
	return head + flen;
}

/* Adds (add) or removes one index entry of bare.  XS_OK or XS_ERROR. */
static int idx_entry(MDB_txn *t, bool add, const char *bare, const char *host, uint8_t fid,
                     const char *value, size_t vlen)
{
	char folded[KEY_MAX];
	unsigned char key[KEY_MAX];
	if (vlen > sizeof(folded))
		vlen = utf8_cut(value, sizeof(folded));
	fold(value, vlen, folded);
	size_t klen = idx_key(key, fid, host, strlen(host), folded, vlen);
	MDB_val k = { klen, key }, d = { strlen(bare), (void *)bare };
	int rc = add ? mdb_put(t, V.idx, &k, &d, 0) : mdb_del(t, V.idx, &k, &d);
	if (rc == 0 || (!add && rc == MDB_NOTFOUND))
		return XS_OK;
	log_error("vcard: %s index entry of %s: %s", add ? "adding" : "removing", bare,
	          mdb_strerror(rc));
	return XS_ERROR;
}

/* Adds or removes every index entry of bare for summary sm (and "user"). */
static int idx_update(MDB_txn *t, bool add, const char *bare, const struct summary *sm)
{
	const char *at = strchr(bare, '@');
	if (at == NULL)
		return XS_ERROR;
	const char *host = at + 1;
	if (strlen(host) > HOST_KEY_MAX)
		return XS_ERROR;
	if (idx_entry(t, add, bare, host, F_USER, bare, (size_t)(at - bare)) != XS_OK)
		return XS_ERROR;
	for (size_t i = 0; i < sm->n; i++)
		if (idx_entry(t, add, bare, host, sm->v[i].fid, sm->v[i].p, sm->v[i].len) != XS_OK)
			return XS_ERROR;
	return XS_OK;
}

/* Removes the vCard of bare, its summary and its index entries. */
static int vcard_remove(MDB_txn *t, const char *bare)
{
	struct summary old;
	int rc = sum_get(t, bare, &old, true);
	if (rc == XS_ERROR)
		return XS_ERROR;
	if (rc == XS_OK && idx_update(t, false, bare, &old) != XS_OK)
		return XS_ERROR;
	MDB_val k = { strlen(bare), (void *)bare };
	int r1 = mdb_del(t, V.sum, &k, NULL), r2 = mdb_del(t, V.vcard, &k, NULL);
	if ((r1 && r1 != MDB_NOTFOUND) || (r2 && r2 != MDB_NOTFOUND)) {
		log_error("vcard: removing the vCard of %s: %s", bare, mdb_strerror(r1 ? r1 : r2));
		return XS_ERROR;
	}
	return XS_OK;
}

/* Stores blob as the vCard of bare with summary sm, replacing what was there. */
static int vcard_store(MDB_txn *t, const char *bare, const void *blob, size_t len,
                       const struct summary *sm)
{
	if (vcard_remove(t, bare) != XS_OK)
		return XS_ERROR;
	static unsigned char rec[SUM_BYTES_MAX];
	MDB_val k = { strlen(bare), (void *)bare };
	MDB_val vv = { len, (void *)blob }, sv = { sum_encode(sm, rec), rec };
	int rc = mdb_put(t, V.vcard, &k, &vv, 0);
	if (rc == 0)
		rc = mdb_put(t, V.sum, &k, &sv, 0);
	if (rc != 0) {
		log_error("vcard: storing the vCard of %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	return idx_update(t, true, bare, sm);
}

/* ---------------------------------------------------------------- vcard-temp */

/* An empty <vCard/>, or one with the given FN and DESC. */
static int reply_plain_vcard(struct iq_req *req, const char *fn, const char *desc)
{
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "vCard", NS_VCARD);
	if (fn && rc == XS_OK) {
		if (stz_b_openz(b, "FN", NS_VCARD) != XS_OK || stz_b_text(b, fn, strlen(fn)) != XS_OK ||
		    stz_b_close(b) != XS_OK || stz_b_openz(b, "DESC", NS_VCARD) != XS_OK ||
		    stz_b_text(b, desc, strlen(desc)) != XS_OK || stz_b_close(b) != XS_OK)
			rc = XS_ERROR;
	}
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static int vcard_get(struct iq_req *req, const char *target, bool own)
{
	if (strlen(target) > KEY_MAX) /* no account has a longer JID */
		return mod_iq_error(req, "service-unavailable");
	MDB_txn *t = mod_db_read();
	if (t == NULL)
		return mod_iq_error(req, "internal-server-error");
	MDB_val k = { strlen(target), (void *)target }, v;
	int rc = mdb_get(t, V.vcard, &k, &v);
	if (rc == MDB_NOTFOUND && own) /* also a session without an account (anonymous) */
		return reply_plain_vcard(req, NULL, NULL);
	if (rc == MDB_NOTFOUND) { /* an account without a vCard, or no account */
		enum mod_account kind;
		if (mod_account(target, &kind) != XS_OK)
			return mod_iq_error(req, "internal-server-error");
		if (kind == MOD_ACCOUNT_NONE)
			return mod_iq_error(req, "service-unavailable");
		return reply_plain_vcard(req, NULL, NULL);
	}
	if (rc != 0) {
		log_error("vcard: reading the vCard of %s: %s", target, mdb_strerror(rc));
		return mod_iq_error(req, "internal-server-error");
	}
	/* LMDB values are not 8-byte aligned: view a copy. */
	void *mem = malloc(v.mv_size ? v.mv_size : 1);
	if (mem == NULL)
		return mod_iq_error(req, "internal-server-error");
	memcpy(mem, v.mv_data, v.mv_size);
	struct stz stored;
	int out;
	if (stz_view(&stored, mem, v.mv_size) != XS_OK) {
		log_warn("vcard: the stored vCard of %s is corrupt", target);
		out = mod_iq_error(req, "internal-server-error");
	} else {
		struct stz_builder *b = mod_iq_result_begin(req);
		if (stz_b_copy(b, &stored, 0) != XS_OK)
			out = mod_iq_error(req, "internal-server-error");
		else
			out = mod_iq_result_send(req);
	}
	free(mem);
	return out;
}

static int vcard_set(struct iq_req *req, const char *self)
{
	const struct stz *s = req->stz;
	if (!stz_node_is(s, req->payload, "vCard", NS_VCARD))
		return mod_iq_error(req, "bad-request");
	if (strlen(self) > KEY_MAX || strchr(self, '@') == NULL)
		return mod_iq_error(req, "not-allowed");
	/* A session without an account (SASL ANONYMOUS) has nothing to keep a
	 * vCard under, and no removal would ever drop it. */
	int u = mod_account_exists(self);
	if (u == XS_PASS)
		return mod_iq_error_text(req, "not-allowed", "vCards are kept for registered accounts only");
	if (u != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	bool empty = true;
	for (uint32_t c = stz_first_child(s, req->payload); c && empty;
	     c = stz_next_sibling(s, req->payload, c))
		empty = s->nodes[c].is_text;

	void *blob = NULL;
	size_t len = 0;
	if (!empty) {
		stz_b_reset(&V.vb);
		if (stz_b_copy(&V.vb, s, req->payload) == XS_OK)
			len = stz_b_size(&V.vb);
		if (len == 0 || len > V.o.max_size) {
			char text[96];
			snprintf(text, sizeof(text), "vCard too large: at most %zu bytes (encoded)",
			         V.o.max_size);
			return mod_iq_error_text(req, "not-acceptable", text);
		}
		blob = malloc(len);
		if (blob == NULL)
			return mod_iq_error(req, "internal-server-error");
		stz_b_write(&V.vb, blob, 0);
	}
	static struct summary sm;
	static struct sum_text st;
	sum_from_vcard(s, req->payload, &sm, &st);

	MDB_txn *t;
	int rc = mod_db_begin(&t);
	if (rc == XS_OK) {
		rc = empty ? vcard_remove(t, self) : vcard_store(t, self, blob, len, &sm);
		if (mod_db_end(t, rc == XS_OK) != XS_OK)
			rc = XS_ERROR;
	}
	free(blob);
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_empty(req);
}

/* vcard-temp to the server, an account or nothing (own vCard). */
static int on_vcard(struct iq_req *req, void *arg)
{
	(void)arg;
	const struct stz *s = req->stz;
	const char *from = stz_from(s);
	if (req->preauth_conn != 0 || from[0] == '\0')
		return mod_iq_error(req, "not-authorized");
	char self[KEY_MAX + 2];
	size_t blen = jid_bare_len(from);
	if (blen > KEY_MAX) /* not an account of ours: reads only */
		blen = KEY_MAX + 1;
	memcpy(self, from, blen);
	self[blen] = '\0';

	static struct jid to;
	const char *target = self;
	char tbuf[2 * JID_PART_MAX + 2];
	bool to_server = false;
	if (stz_has_to(s)) {
		if (jid_parse(stz_to(s), s->h->to.len, &to) != XS_OK)
			return mod_iq_error(req, "jid-malformed");
		to.resource[0] = '\0';
		if (jid_bare(&to, tbuf, sizeof(tbuf)) < 0)
			return mod_iq_error(req, "jid-malformed");
		target = tbuf;
		to_server = to.node[0] == '\0';
	}
	bool own = strcmp(target, self) == 0;
	if (s->h->type == STZ_T_SET)
		return own ? vcard_set(req, self) : mod_iq_error(req, "forbidden");
	if (!stz_node_is(s, req->payload, "vCard", NS_VCARD))
		return mod_iq_error(req, "bad-request");
	if (to_server)
		return reply_plain_vcard(req, NULL, NULL);
	return vcard_get(req, target, own);
}

/* vcard-temp to a directory service: describes the service. */
static int on_vjud_vcard(struct iq_req *req, void *arg)
{
	(void)arg;
	if (req->stz->h->type != STZ_T_GET)
		return mod_iq_error(req, "not-allowed");
	return reply_plain_vcard(req, V.o.name, "xmppd user directory (XEP-0055)");
}

static int on_user_removed(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid == NULL || strlen(a->jid) > KEY_MAX)
		return XS_PASS;
	MDB_txn *t;
	if (mod_db_begin(&t) != XS_OK)
		return XS_PASS;
	int rc = vcard_remove(t, a->jid);
	if (mod_db_end(t, rc == XS_OK) != XS_OK)
		log_error("vcard: could not remove the vCard of deleted account %s", a->jid);
	return XS_PASS;
}

/* disco#info of an account: its server answers vcard-temp for it. */
static int on_disco_info(struct hook_args *a, void *arg)
{
	(void)arg;
	if (a->jid == NULL || a->out == NULL)
		return XS_PASS;
	if (stz_b_openz(a->out, "feature", NS_DISCO_INFO) == XS_OK &&
	    stz_b_attrz(a->out, "var", NS_VCARD) == XS_OK)
		stz_b_close(a->out);
	return XS_PASS;
}

/* ---------------------------------------------------------------- disco of vjud */

static int b_field(struct stz_builder *b, const char *type, const char *var, const char *label)
{
	int rc = stz_b_openz(b, "field", NS_XDATA);
	if (rc == XS_OK && type)
		rc = stz_b_attrz(b, "type", type);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "var", var);
	if (rc == XS_OK && label)
		rc = stz_b_attrz(b, "label", label);
	return rc;
}

/* The error a disco request to the directory gets, or NULL: get only, and
 * the service has no nodes. */
static const char *disco_refusal(const struct iq_req *req)
{
	if (req->stz->h->type != STZ_T_GET)
		return "bad-request";
	const char *node = stz_attr(req->stz, req->payload, "node");
	return node && *node ? "item-not-found" : NULL;
}

static int on_vjud_info(struct iq_req *req, void *arg)
{
	(void)arg;
	const char *refused = disco_refusal(req);
	if (refused)
		return mod_iq_error(req, refused);
	static const char *const features[] = { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_SEARCH, NS_VCARD };
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_DISCO_INFO);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "identity", NS_DISCO_INFO);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "category", "directory");
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "user");
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "name", V.o.name);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	for (size_t i = 0; rc == XS_OK && i < XS_ARRAY_LEN(features); i++) {
		rc = stz_b_openz(b, "feature", NS_DISCO_INFO);
		if (rc == XS_OK)
			rc = stz_b_attrz(b, "var", features[i]);
		if (rc == XS_OK)
			rc = stz_b_close(b);
	}
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static int on_vjud_items(struct iq_req *req, void *arg)
{
	(void)arg;
	const char *refused = disco_refusal(req);
	if (refused)
		return mod_iq_error(req, refused);
	struct stz_builder *b = mod_iq_result_begin(req);
	if (stz_b_openz(b, "query", NS_DISCO_ITEMS) != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

/* ---------------------------------------------------------------- search: the form */

static const char INSTRUCTIONS[] =
	"Fill in one or more fields to search for users of this server. "
	"Add * to the end of a field to match values that start with it.";

static int search_form(struct iq_req *req, const struct vjud *vj)
{
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_SEARCH);
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "instructions", NS_SEARCH, INSTRUCTIONS, strlen(INSTRUCTIONS));
	for (int f = 1; rc == XS_OK && f < F_END; f++)
		if (FIELDS[f].legacy && (rc = stz_b_openz(b, FIELDS[f].legacy, NS_SEARCH)) == XS_OK)
			rc = stz_b_close(b);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "x", NS_XDATA);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "form");
	char title[300];
	snprintf(title, sizeof(title), "Search users in %s", vj->domain);
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "title", NS_XDATA, title, strlen(title));
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "instructions", NS_XDATA, INSTRUCTIONS, strlen(INSTRUCTIONS));
	if (rc == XS_OK)
		rc = b_field(b, "hidden", "FORM_TYPE", NULL);
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "value", NS_XDATA, NS_SEARCH, strlen(NS_SEARCH));
	if (rc == XS_OK)
		rc = stz_b_close(b);
	for (int f = 1; rc == XS_OK && f < F_END; f++)
		if ((rc = b_field(b, "text-single", FIELDS[f].var, FIELDS[f].label)) == XS_OK)
			rc = stz_b_close(b);
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

/* ---------------------------------------------------------------- search: the query */

static int field_by_var(const char *var)
{
	for (int f = 1; f < F_END; f++)
		if (strcmp(FIELDS[f].var, var) == 0)
			return f;
	return 0;
}

static int field_by_legacy(const char *name)
{
	for (int f = 1; f < F_END; f++)
		if (FIELDS[f].legacy && strcmp(FIELDS[f].legacy, name) == 0)
			return f;
	return 0;
}

/* Adds the condition "field fid is the text of element el".  NULL, or the
 * text of the not-acceptable error to answer. */
static const char *add_term(struct query *q, int fid, const struct stz *s, uint32_t el)
{
	char raw[VALUE_MAX + 1];
	bool cut;
	size_t len = elem_text(s, el, raw, sizeof(raw), &cut);
	bool prefix = len > 0 && raw[len - 1] == '*';
	if (prefix)
		len--;
	while (len > 0 && is_ws(raw[len - 1])) /* "Al *" is the prefix "al" */
		len--;
	if (len == 0 && !cut)
		return NULL; /* empty, or only "*": no condition */
	if (cut || len > VALUE_MAX)
		return "search value too long (at most 256 bytes)";
	if (q->n == TERMS_MAX)
		return "too many search fields";
	struct term *t = &q->t[q->n++];
	t->fid = (uint8_t)fid;
	t->prefix = prefix;
	t->len = len;
	fold(raw, len, t->val);
	return NULL;
}

/* Reads the conditions of a search request.  NULL, or the text of a
 * not-acceptable error; *bad: the request is malformed (bad-request). */
static const char *parse_query(const struct stz *s, uint32_t qel, struct query *q, bool *bad)
{
	q->n = 0;
	*bad = false;
	uint32_t x = stz_child(s, qel, "x", NS_XDATA);
	q->form = x != 0;
	if (x) {
		const char *type = stz_attr(s, x, "type");
		if (type == NULL || strcmp(type, "submit") != 0) {
			*bad = true;
			return NULL;
		}
		for (uint32_t f = stz_first_child(s, x); f; f = stz_next_sibling(s, x, f)) {
			if (!stz_node_is(s, f, "field", NS_XDATA))
				continue;
			const char *var = stz_attr(s, f, "var");
			int fid = var ? field_by_var(var) : 0;
			uint32_t val = fid ? stz_child(s, f, "value", NS_XDATA) : 0;
			const char *err = val ? add_term(q, fid, s, val) : NULL;
			if (err)
				return err;
		}
		return NULL;
	}
	for (uint32_t c = stz_first_child(s, qel); c; c = stz_next_sibling(s, qel, c)) {
		if (s->nodes[c].is_text || strcmp(stz_str(s, s->nodes[c].ns), NS_SEARCH) != 0)
			continue;
		int fid = field_by_legacy(stz_str(s, s->nodes[c].name));
		const char *err = fid ? add_term(q, fid, s, c) : NULL;
		if (err)
			return err;
	}
	return NULL;
}

static bool value_matches(const struct term *t, const char *v, size_t len, bool cut)
{
	char folded[KEY_MAX];
	if (len > sizeof(folded))
		return false;
	if (t->prefix ? len < t->len : (cut || len != t->len))
		return false;
	fold(v, t->len, folded);
	return memcmp(folded, t->val, t->len) == 0;
}

static bool term_matches(const struct term *t, const char *bare, const struct summary *sm)
{
	if (t->fid == F_USER) {
		const char *at = strchr(bare, '@');
		return at && value_matches(t, bare, (size_t)(at - bare), false);
	}
	for (size_t i = 0; i < sm->n; i++)
		if (sm->v[i].fid == t->fid && value_matches(t, sm->v[i].p, sm->v[i].len, sm->v[i].cut))
			return true;
	return false;
}

struct results {
	char **jids;
	size_t n, max;
	size_t scanned;
	bool partial;
};

/* The index range of a condition: key (prefix) bytes. */
static size_t term_key(const struct term *t, const char *host, unsigned char *key)
{
	return idx_key(key, t->fid, host, strlen(host), t->val, t->len);
}

/* Entries in a condition's range, counted up to just past cap. */
static size_t range_count(MDB_cursor *c, const struct term *t, const char *host, size_t cap)
{
	unsigned char kb[KEY_MAX];
	size_t klen = term_key(t, host, kb);
	MDB_val k = { klen, kb }, d;
	size_t n, total = 0;
	if (!t->prefix) {
		if (mdb_cursor_get(c, &k, &d, MDB_SET) != 0 || mdb_cursor_count(c, &n) != 0)
			return 0;
		return n;
	}
	int rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= klen && memcmp(k.mv_data, kb, klen) == 0) {
		if (mdb_cursor_count(c, &n) != 0)
			break;
		total += n;
		if (total > cap)
			break;
		rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_NODUP);
	}
	return total;
}

static bool already(const struct results *r, const char *jid)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->jids[i], jid) == 0)
			return true;
	return false;
}

/* A candidate from the index: checks every condition against its summary
 * and keeps it.  XS_OK, XS_ERROR (out of memory). */
static int consider(MDB_txn *t, const struct query *q, bool may_repeat, const MDB_val *d,
                    struct results *r)
{
	char jid[KEY_MAX + 1];
	if (d->mv_size == 0 || d->mv_size > KEY_MAX)
		return XS_OK;
	memcpy(jid, d->mv_data, d->mv_size);
	jid[d->mv_size] = '\0';
	struct summary sm;
	if (sum_get(t, jid, &sm, false) != XS_OK)
		return XS_OK; /* an index entry without a vCard: ignored */
	for (size_t i = 0; i < q->n; i++)
		if (!term_matches(&q->t[i], jid, &sm))
			return XS_OK;
	if (may_repeat && already(r, jid))
		return XS_OK;
	if ((r->jids[r->n] = strdup(jid)) == NULL)
		return XS_ERROR;
	r->n++;
	return XS_OK;
}

/* Walks the range of condition `drive`, keeping matches.  XS_OK or XS_ERROR. */
static int walk(MDB_txn *t, MDB_cursor *c, const struct query *q, const struct term *drive,
                const char *host, struct results *r)
{
	unsigned char kb[KEY_MAX];
	size_t klen = term_key(drive, host, kb);
	MDB_val k = { klen, kb }, d;
	int rc = mdb_cursor_get(c, &k, &d, drive->prefix ? MDB_SET_RANGE : MDB_SET);
	while (rc == 0 && r->n < r->max) {
		if (drive->prefix && (k.mv_size < klen || memcmp(k.mv_data, kb, klen) != 0))
			break;
		if (++r->scanned > V.o.max_scan) {
			r->partial = true;
			break;
		}
		/* One account has several values of a field: a prefix range can
		 * hold it more than once. */
		if (consider(t, q, drive->prefix, &d, r) != XS_OK)
			return XS_ERROR;
		rc = mdb_cursor_get(c, &k, &d, drive->prefix ? MDB_NEXT : MDB_NEXT_DUP);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		log_error("vcard: search: %s", mdb_strerror(rc));
		return XS_ERROR;
	}
	return XS_OK;
}

/* Runs query q over the accounts of host.  XS_OK or XS_ERROR. */
static int run_query(const struct query *q, const char *host, struct results *r)
{
	MDB_txn *t = mod_db_read();
	MDB_cursor *c;
	if (t == NULL || mdb_cursor_open(t, V.idx, &c) != 0)
		return XS_ERROR;
	static const struct term all = { .fid = F_USER, .prefix = true, .len = 0 };
	const struct term *drive = NULL;
	size_t best = (size_t)V.o.max_scan + 1;
	/* Exact values first: their counts are O(1) and bound the prefix counts. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < q->n; i++) {
			const struct term *tm = &q->t[i];
			if (tm->prefix != (pass == 1))
				continue;
			/* Counting stops at max_scan: an exact value shared by many
			 * must not let prefix counts walk further. */
			size_t cap = best < (size_t)V.o.max_scan + 1 ? best : (size_t)V.o.max_scan + 1;
			size_t n = range_count(c, tm, host, cap);
			if (n == 0) {
				mdb_cursor_close(c);
				return XS_OK; /* one condition matches nobody */
			}
			if (drive == NULL || n < best) {
				drive = tm;
				best = n;
			}
		}
	}
	if (drive == NULL)
		drive = &all;
	int rc = walk(t, c, q, drive, host, r);
	mdb_cursor_close(c);
	if (r->partial)
		log_debug("vcard: a search on %s stopped after %u index entries (max_scan)", host,
		         V.o.max_scan);
	return rc;
}

/* ---------------------------------------------------------------- search: results */

/* Bytes a builder holds so far (its encoding is a little larger). */
static size_t built_bytes(const struct stz_builder *b)
{
	return (size_t)b->nnodes * sizeof(struct stz_node) +
	       (size_t)b->nattrs * sizeof(struct stz_attr) + b->pool_len;
}

static const struct sval *first_value(const struct summary *sm, int fid)
{
	for (size_t i = 0; i < sm->n; i++)
		if (sm->v[i].fid == fid)
			return &sm->v[i];
	return NULL;
}

static int item_legacy(struct stz_builder *b, const char *jid, const struct summary *sm)
{
	int rc = stz_b_openz(b, "item", NS_SEARCH);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "jid", jid);
	for (int f = 1; rc == XS_OK && f < F_END; f++) {
		if (FIELDS[f].legacy == NULL)
			continue;
		const struct sval *v = first_value(sm, f);
		rc = xmpp_b_text_elem(b, FIELDS[f].legacy, NS_SEARCH, v ? v->p : "", v ? v->len : 0);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

static int item_form(struct stz_builder *b, const char *jid, const struct summary *sm)
{
	int rc = stz_b_openz(b, "item", NS_XDATA);
	if (rc == XS_OK && (rc = b_field(b, NULL, "jid", NULL)) == XS_OK &&
	    (rc = xmpp_b_text_elem(b, "value", NS_XDATA, jid, strlen(jid))) == XS_OK)
		rc = stz_b_close(b);
	for (int f = F_FN; rc == XS_OK && f < F_END; f++) {
		const struct sval *v = first_value(sm, f);
		if ((rc = b_field(b, NULL, FIELDS[f].var, NULL)) == XS_OK &&
		    (rc = xmpp_b_text_elem(b, "value", NS_XDATA, v ? v->p : "", v ? v->len : 0)) == XS_OK)
			rc = stz_b_close(b);
	}
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

static int result_form_head(struct stz_builder *b, const struct vjud *vj)
{
	char title[300];
	snprintf(title, sizeof(title), "Search results for %s", vj->domain);
	int rc = stz_b_openz(b, "x", NS_XDATA);
	if (rc == XS_OK)
		rc = stz_b_attrz(b, "type", "result");
	if (rc == XS_OK)
		rc = xmpp_b_text_elem(b, "title", NS_XDATA, title, strlen(title));
	if (rc == XS_OK && (rc = b_field(b, "hidden", "FORM_TYPE", NULL)) == XS_OK &&
	    (rc = xmpp_b_text_elem(b, "value", NS_XDATA, NS_SEARCH, strlen(NS_SEARCH))) == XS_OK)
		rc = stz_b_close(b);
	if (rc == XS_OK)
		rc = stz_b_openz(b, "reported", NS_XDATA);
	if (rc == XS_OK && (rc = b_field(b, "jid-single", "jid", "Jabber ID")) == XS_OK)
		rc = stz_b_close(b);
	for (int f = F_FN; rc == XS_OK && f < F_END; f++)
		if ((rc = b_field(b, "text-single", FIELDS[f].var, FIELDS[f].label)) == XS_OK)
			rc = stz_b_close(b);
	if (rc == XS_OK)
		rc = stz_b_close(b);
	return rc;
}

static int search_reply(struct iq_req *req, const struct vjud *vj, const struct query *q,
                        const struct results *r)
{
	size_t budget = mod_max_stanza_size();
	budget = budget > 8192 ? budget - 8192 : budget / 2;
	struct stz_builder *b = mod_iq_result_begin(req);
	int rc = stz_b_openz(b, "query", NS_SEARCH);
	if (rc == XS_OK && q->form)
		rc = result_form_head(b, vj);
	MDB_txn *t = mod_db_read();
	for (size_t i = 0; rc == XS_OK && i < r->n && built_bytes(b) < budget; i++) {
		struct summary sm;
		if (t == NULL || sum_get(t, r->jids[i], &sm, false) != XS_OK)
			continue;
		rc = q->form ? item_form(b, r->jids[i], &sm) : item_legacy(b, r->jids[i], &sm);
	}
	if (rc != XS_OK)
		return mod_iq_error(req, "internal-server-error");
	return mod_iq_result_send(req);
}

static int on_search(struct iq_req *req, void *arg)
{
	const struct vjud *vj = arg;
	const struct stz *s = req->stz;
	if (!stz_node_is(s, req->payload, "query", NS_SEARCH))
		return mod_iq_error(req, "bad-request");
	if (s->h->type == STZ_T_GET)
		return search_form(req, vj);
	static struct query q;
	bool bad;
	const char *err = parse_query(s, req->payload, &q, &bad);
	if (bad)
		return mod_iq_error_text(req, "bad-request", "expected a data form of type submit");
	if (err)
		return mod_iq_error_text(req, "not-acceptable", err);
	struct results r = { .max = V.o.matches };
	if (q.n > 0 || V.o.allow_return_all) {
		r.jids = calloc(r.max, sizeof(*r.jids));
		if (r.jids == NULL || run_query(&q, vj->host, &r) != XS_OK) {
			for (size_t i = 0; i < r.n; i++)
				free(r.jids[i]);
			free(r.jids);
			return mod_iq_error(req, "internal-server-error");
		}
	}
	int out = search_reply(req, vj, &q, &r);
	for (size_t i = 0; i < r.n; i++)
		free(r.jids[i]);
	free(r.jids);
	return out;
}

/* ---------------------------------------------------------------- lifecycle */

/* search_host with @HOST@ replaced by host, prepared.  NULL on error (logged). */
static char *vjud_domain(const char *pattern, const char *host)
{
	char raw[1100];
	size_t n = 0, hl = strlen(host);
	for (const char *p = pattern; *p;) {
		if (strncmp(p, "@HOST@", 6) == 0) {
			if (n + hl >= sizeof(raw))
				goto bad;
			memcpy(raw + n, host, hl);
			n += hl;
			p += 6;
		} else {
			if (n + 1 >= sizeof(raw))
				goto bad;
			raw[n++] = *p++;
		}
	}
	raw[n] = '\0';
	char out[JID_PART_MAX + 1];
	if (jid_nameprep(raw, n, out, sizeof(out)) != XS_OK)
		goto bad;
	return strdup(out);
bad:
	log_error("module vcard: search_host '%s' gives no valid domain for host %s", pattern, host);
	return NULL;
}

static int vjud_add(const char *host)
{
	if (strlen(host) > HOST_KEY_MAX) {
		log_error("module vcard: host %s is too long for the search index", host);
		return XS_ERROR;
	}
	struct vjud *nv = realloc(V.vjuds, (V.nvjuds + 1) * sizeof(*nv));
	if (nv == NULL)
		return XS_ERROR;
	V.vjuds = nv;
	struct vjud *vj = &nv[V.nvjuds];
	vj->domain = vjud_domain(V.o.search_host, host);
	vj->host = strdup(host);
	if (vj->domain == NULL || vj->host == NULL) {
		free(vj->domain);
		free(vj->host);
		return XS_ERROR;
	}
	V.nvjuds++;
	return XS_OK;
}

static int vjud_register(struct mod_ctx *ctx, struct vjud *vj)
{
	if (mod_domain_add(ctx, vj->domain, vj->host, V.o.name, NULL, NULL) != XS_OK ||
	    mod_iq_add(ctx, vj->domain, NS_SEARCH, on_search, vj) != XS_OK ||
	    mod_iq_add(ctx, vj->domain, NS_DISCO_INFO, on_vjud_info, vj) != XS_OK ||
	    mod_iq_add(ctx, vj->domain, NS_DISCO_ITEMS, on_vjud_items, vj) != XS_OK ||
	    mod_iq_add(ctx, vj->domain, NS_VCARD, on_vjud_vcard, vj) != XS_OK) {
		log_error("module vcard: cannot serve the search domain %s", vj->domain);
		return XS_ERROR;
	}
	return XS_OK;
}

static void vcard_stop(struct mod_ctx *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < V.nvjuds; i++) {
		free(V.vjuds[i].domain);
		free(V.vjuds[i].host);
	}
	free(V.vjuds);
	V.vjuds = NULL;
	V.nvjuds = 0;
	stz_b_free(&V.vb);
}

static int vcard_init(struct mod_ctx *ctx)
{
	stz_b_init(&V.vb, V.o.max_size);
	struct db *db = mod_data_db();
	int maxkey = db && db->env ? mdb_env_get_maxkeysize(db->env) : KEY_MAX;
	if (maxkey < KEY_MAX) {
		log_error("module vcard: LMDB keys are limited to %d bytes, %d needed", maxkey, KEY_MAX);
		return XS_ERROR;
	}
	if (mod_db_table(ctx, "vcard", MDB_CREATE, &V.vcard) != XS_OK ||
	    mod_db_table(ctx, "vcard_sum", MDB_CREATE, &V.sum) != XS_OK ||
	    mod_db_table(ctx, "vcard_idx", MDB_CREATE | MDB_DUPSORT, &V.idx) != XS_OK)
		return XS_ERROR;
	if (mod_iq_add(ctx, NULL, NS_VCARD, on_vcard, NULL) != XS_OK ||
	    mod_feature_add(ctx, NULL, NS_VCARD) != XS_OK ||
	    mod_hook_add(ctx, HOOK_USER_REMOVED, NULL, 50, on_user_removed, NULL) != XS_OK ||
	    mod_hook_add(ctx, HOOK_DISCO_INFO, NULL, 50, on_disco_info, NULL) != XS_OK)
		return XS_ERROR;
	if (!V.o.search)
		return XS_OK;
	const char *const *hosts;
	size_t nhosts = mod_hosts(&hosts);
	for (size_t i = 0; i < nhosts; i++)
		if (vjud_add(hosts[i]) != XS_OK)
			return XS_ERROR;
	/* Registered once the array no longer moves: handlers keep pointers. */
	for (size_t i = 0; i < V.nvjuds; i++)
		if (vjud_register(ctx, &V.vjuds[i]) != XS_OK)
			return XS_ERROR;
	return XS_OK;
}

static int vcard_reload(struct mod_ctx *ctx, const void *old_conf)
{
	(void)ctx;
	const struct opts *old = old_conf;
	if (V.o.max_size != old->max_size) {
		stz_b_free(&V.vb);
		stz_b_init(&V.vb, V.o.max_size);
	}
	return XS_OK;
}

const struct xmppd_module xmppd_module = {
	.abi = XMPPD_MODULE_ABI,
	.name = "vcard",
	.init = vcard_init,
	.reload = vcard_reload,
	.stop = vcard_stop,
	.opts = OPTS,
	.conf = &V.o,
	.conf_size = sizeof(V.o),
};

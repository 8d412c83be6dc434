/* summary.c — summary records of vCards (summary.h). */
#include "modules/vcard/summary.h"
#include "modules/vcard/state.h"
#include "modules/vcard/text.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <string.h>

#define SUM_VERSION 1

static unsigned char sumbuf[SUM_BYTES_MAX]; /* summary_get's copies */

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

static void sum_take(struct summary *sm, struct sum_text *st, uint8_t fid, const struct stz *s,
                     uint32_t el)
{
	if (st->used >= SUM_VALUES_MAX)
		return;
	bool cut;
	char *dst = st->buf[st->used];
	size_t len = vcard_elem_text(s, el, dst, VALUE_MAX, &cut);
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

void summary_from_vcard(const struct stz *s, uint32_t vc, struct summary *sm,
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

size_t summary_encode(const struct summary *sm, unsigned char *out)
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

int summary_get(MDB_txn *t, const char *bare, struct summary *sm, bool copy)
{
	MDB_val k = { strlen(bare), (void *)bare }, v;
	int rc = mdb_get(t, vcard_state.sum, &k, &v);
	if (rc == MDB_NOTFOUND)
		return XS_PASS;
	if (rc != 0) {
		log_error("vcard: reading the summary of %s: %s", bare, mdb_strerror(rc));
		return XS_ERROR;
	}
	const unsigned char *p = v.mv_data;
	if (copy) {
		if (v.mv_size > sizeof(sumbuf))
			return XS_ERROR;
		memcpy(sumbuf, v.mv_data, v.mv_size);
		p = sumbuf;
	}
	if (sum_decode(p, v.mv_size, sm) != XS_OK) {
		log_warn("vcard: corrupt summary record of %s ignored", bare);
		return XS_PASS;
	}
	return XS_OK;
}

const struct sval *summary_first(const struct summary *sm, int fid)
{
	for (size_t i = 0; i < sm->n; i++)
		if (sm->v[i].fid == fid)
			return &sm->v[i];
	return NULL;
}

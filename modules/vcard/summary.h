/* summary.h — the searchable values of one vCard (table "vcard_sum").
 *
 * Record: u8 version (1), u8 count, then count entries {u8 field id, u8
 * flags (1: cut), u16 LE length, bytes}: the trimmed original text of each
 * searchable value (at most VALUE_MAX bytes; a longer one is cut at a
 * character boundary and flagged).  The summary is the truth a search
 * checks candidates against; the index only points at them. */
#ifndef XMPPD_MODULES_VCARD_SUMMARY_H
#define XMPPD_MODULES_VCARD_SUMMARY_H

#include "modules/vcard/fields.h"
#include "lib/stz.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUM_VALUES_MAX ((F_END - 2) * VALUES_PER_FIELD)
#define SUM_BYTES_MAX  (2 + SUM_VALUES_MAX * (4 + VALUE_MAX))

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

/* Text storage for the values of one summary being built. */
struct sum_text {
	char buf[SUM_VALUES_MAX][VALUE_MAX];
	size_t used;
};

/* The searchable values of the <vCard/> element vc of s into sm, their
 * text in st (sm points into st). */
void summary_from_vcard(const struct stz *s, uint32_t vc, struct summary *sm,
                        struct sum_text *st);

/* Encodes sm into out (SUM_BYTES_MAX bytes); returns the length. */
size_t summary_encode(const struct summary *sm, unsigned char *out);

/* Reads the summary of bare in t into sm.  copy: sm points into a static
 * copy that survives writes in the transaction (valid until the next
 * copying call), else into the database.  XS_OK, XS_PASS (none, or a
 * corrupt one: logged), XS_ERROR. */
int summary_get(MDB_txn *t, const char *bare, struct summary *sm, bool copy);

/* The first value of field fid in sm, or NULL. */
const struct sval *summary_first(const struct summary *sm, int fid);

#endif

/* store.h — roster records in the data env: one account's items, their
 * subscription state, pending inbound requests and the roster version.
 *
 * Storage: table "roster" of the data env, keys as lib/dbkey.h lays them out
 * (O = SHA-256 of the owner's bare JID, so one owner is one range; the item
 * is the contact's bare JID C):
 *   O                    -> meta: u8 layout (1), u8 pad[3], u32 items,
 *                           u32 hidden, u32 pad, u64 ver          (24 bytes)
 *   O + C                -> item, C = the contact bare JID (1..479 bytes)
 *   O + 0x00 + SHA-256(C)   for a longer contact JID
 * item: u8 layout (1), u8 sub (TO 1 | FROM 2), u8 flags, u8 pad,
 *   u16 jid_len, u16 name_len, u16 ngroups, u16 pad, u32 groups_len,
 *   u32 req_len, then the contact JID, the name, the groups (u16 length +
 *   bytes each) and the stored pending subscribe (stz encoding).
 *   flags: ASK 1 (pending out), PENDING 2 (pending in), APPROVED 4
 *   (pre-approved), LISTED 8 (on the user's roster; a record without it is
 *   only a pending inbound request, never shown, RFC 6121 §3.1.3).  Host
 *   byte order; every length is checked when read back.  meta counts LISTED
 *   records (items) and the others (hidden); ver is bumped by every change
 *   visible in the roster and starts from the creation time of the meta
 *   record, so that an account deleted and made again does not reuse old
 *   versions.
 *
 * Every function reads roster_state.dbi; none sends a stanza. */
#ifndef XMPPD_MODULES_ROSTER_STORE_H
#define XMPPD_MODULES_ROSTER_STORE_H

#include "lib/dbkey.h"
#include "lib/jid.h"

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { SUB_TO = 1, SUB_FROM = 2 };
enum { F_ASK = 1, F_PENDING = 2, F_APPROVED = 4, F_LISTED = 8 };

#define BARE_MAX     (2 * JID_PART_MAX + 1)
#define REQ_MAX      4096                       /* stored pending subscribe */
#define META_LAYOUT  1
#define META_SIZE    24

/* One record, decoded: pointers into the value it was read from. */
struct roster_item {
	uint8_t sub, flags;
	uint16_t ngroups;
	const char *jid, *name;
	size_t jid_len, name_len;
	const uint8_t *groups, *req;
	size_t groups_len, req_len;
};

/* The meta record of one owner (all zero when it has none yet). */
struct roster_meta {
	uint64_t ver;
	uint32_t items, hidden;
	bool exists;
};

/* One (owner, contact) record being changed inside a child transaction. */
struct roster_pair {
	MDB_txn *t;
	struct dbkey ok, ik;
	struct roster_meta meta;
	const char *contact; /* the caller's string: stays valid after a delete */
	size_t clen;
	struct roster_item old;   /* valid until the first write */
	bool exists;
	uint8_t *buf;      /* the record written (owned; free with roster_pair_done) */
	struct roster_item nw;    /* decoded from buf */
	bool nw_exists;
};

/* Walks the groups of an item; stops at the first malformed one. */
struct roster_giter {
	const uint8_t *p;
	size_t left;
	uint32_t n;
};

static inline bool roster_same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

/* u16 in host byte order at any alignment (records and packed groups). */
static inline uint16_t roster_rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void roster_wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Decodes a stored item (pointers into data).  XS_OK, XS_ERROR (corrupt). */
int roster_item_decode(const void *data, size_t size, struct roster_item *it);

/* Decodes a stored meta record.  XS_OK, XS_ERROR (bad layout; *m untouched). */
int roster_meta_decode(const void *data, size_t size, struct roster_meta *m);

struct roster_giter roster_groups(const struct roster_item *it);
/* The next group's bytes (not NUL-terminated).  false at the end. */
bool roster_group_next(struct roster_giter *g, const char **s, size_t *len);

/* A record is kept while it is on the roster or holds a pending request. */
bool roster_item_alive(const struct roster_item *it);
/* The record exists and is on the user's roster (LISTED). */
bool roster_listed(const struct roster_item *it, bool exists);
/* Whether what the roster shows of the item changed (RFC 6121 §2.1.2). */
bool roster_visible_changed(const struct roster_item *a, bool a_exists,
                            const struct roster_item *b, bool b_exists);
/* nw puts on the roster a contact that p's old record did not show. */
bool roster_creates_listed(const struct roster_pair *p, const struct roster_item *nw);
/* The version text of m ("0" when there is none yet) into out. */
void roster_ver_text(const struct roster_meta *m, char *out, size_t cap);

/* Loads the record of (owner, contact) and the owner's meta in t into *p;
 * contact must outlive p.  XS_OK (p->exists says whether there was one),
 * XS_ERROR (logged). */
int roster_pair_load(struct roster_pair *p, MDB_txn *t, const char *owner, size_t olen,
                     const char *contact, size_t clen);
/* Writes `nw` (deleted when it is no longer alive) and the meta; `bump`:
 * the visible roster changed, so its version moves.  XS_OK or XS_ERROR. */
int roster_pair_store(struct roster_pair *p, const struct roster_item *nw, bool bump);
/* Frees what roster_pair_store kept (p->nw is invalid afterwards). */
void roster_pair_done(struct roster_pair *p);

/* The subscription bits `owner` gives `contact` (0 when none or unreadable). */
uint8_t roster_lookup_sub(MDB_txn *t, const char *owner, size_t olen, const char *contact,
                          size_t clen);

#endif

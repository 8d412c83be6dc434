/* fields.h — the searchable fields of a vCard and the sizes the directory
 * is built on.  Field ids are on-disk values (vcard_idx keys, vcard_sum
 * records): never renumber enum vcard_field.
 *
 * Fields taken from a vCard (every occurrence, up to VALUES_PER_FIELD each):
 *   fn FN; first/middle/last N/GIVEN, N/MIDDLE, N/FAMILY; nick NICKNAME;
 *   bday BDAY; ctry/locality ADR/CTRY, ADR/LOCALITY; email EMAIL/USERID (or
 *   EMAIL's own text); orgname/orgunit ORG/ORGNAME, ORG/ORGUNIT; user = the
 *   node of the account's JID. */
#ifndef XMPPD_MODULES_VCARD_FIELDS_H
#define XMPPD_MODULES_VCARD_FIELDS_H

#define NS_VCARD  "vcard-temp"
#define NS_SEARCH "jabber:iq:search"
#define NS_XDATA  "jabber:x:data"

#define KEY_MAX          511   /* LMDB's default MDB_MAXKEYSIZE (Debian's liblmdb) */
#define VALUE_MAX        256   /* searchable bytes of one value */
#define VALUES_PER_FIELD 8

enum vcard_field {
	F_USER = 1, F_FN = 2, F_FIRST = 3, F_MIDDLE = 4, F_LAST = 5, F_NICK = 6, F_BDAY = 7,
	F_CTRY = 8, F_LOCALITY = 9, F_EMAIL = 10, F_ORGNAME = 11, F_ORGUNIT = 12, F_END
};

struct vcard_field_def {
	const char *var;     /* data form variable */
	const char *label;
	const char *legacy;  /* XEP-0055 legacy element, or NULL */
};

/* Indexed by enum vcard_field (entry 0 is empty). */
extern const struct vcard_field_def VCARD_FIELDS[F_END];

#endif

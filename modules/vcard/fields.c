/* fields.c — the table of searchable vCard fields (fields.h). */
#include "modules/vcard/fields.h"

#include <stddef.h>

const struct vcard_field_def VCARD_FIELDS[F_END] = {
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

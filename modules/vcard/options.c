/* options.c — the vcard module's options (options.h), declared as a table
 * the router parses. */
#include "modules/vcard/options.h"

/* The directory (search, search_host, name) is registered once, at start. */
const struct cfgopt vcard_opts_table[] = {
	CFGOPT_UINT("max_size", struct vcard_opts, max_size, 65536, 1024, 16777216),
	CFGOPT_BOOL("search", struct vcard_opts, search, true, .restart = true),
	CFGOPT_STRING("search_host", struct vcard_opts, search_host, "vjud.@HOST@", .restart = true),
	CFGOPT_STRING("name", struct vcard_opts, name, "vCard User Search", .restart = true),
	CFGOPT_UINT("matches", struct vcard_opts, matches, 30, 1, MATCHES_CAP,
	            .max_word = "infinity"),
	CFGOPT_BOOL("allow_return_all", struct vcard_opts, allow_return_all, false),
	CFGOPT_UINT("max_scan", struct vcard_opts, max_scan, 10000, 100, 1000000),
	CFGOPT_END
};

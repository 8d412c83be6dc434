/* options.c — the roster module's options (options.h), declared as a table
 * the router parses. */
#include "modules/roster/options.h"

const struct cfgopt roster_opts_table[] = {
	CFGOPT_UINT("max_items", struct roster_opts, max_items, 2000, 1, 100000),
	CFGOPT_UINT("max_groups", struct roster_opts, max_groups, 32, 0, 255),
	CFGOPT_UINT("max_name_len", struct roster_opts, max_name, 1023, 1, 4096),
	CFGOPT_UINT("max_group_len", struct roster_opts, max_group, 1023, 1, 4096),
	CFGOPT_END
};

/* options.h — the options of the roster module (modules: {roster: {...}}):
 *   max_items      [2000]  items on one roster, 1..100000; also bounds the
 *                          pending inbound requests kept for one account
 *   max_groups     [32]    groups of one item, 0..255
 *   max_name_len   [1023]  bytes of an item's name, 1..4096
 *   max_group_len  [1023]  bytes of one group name, 1..4096
 * All of them change on reload. */
#ifndef XMPPD_MODULES_ROSTER_OPTIONS_H
#define XMPPD_MODULES_ROSTER_OPTIONS_H

#include "lib/cfgopt.h"

#include <stdint.h>

struct roster_opts {
	uint32_t max_items, max_groups, max_name, max_group;
};

/* Their table (lib/cfgopt.h): the router parses them into struct
 * roster_opts. */
extern const struct cfgopt roster_opts_table[];

#endif

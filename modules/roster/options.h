/* options.h — the options of the roster module (modules: {roster: {...}}):
 *   max_items      [2000]  items on one roster, 1..100000; also bounds the
 *                          pending inbound requests kept for one account
 *   max_groups     [32]    groups of one item, 0..255
 *   max_name_len   [1023]  bytes of an item's name, 1..4096
 *   max_group_len  [1023]  bytes of one group name, 1..4096
 * All of them change on reload. */
#ifndef XMPPD_MODULES_ROSTER_OPTIONS_H
#define XMPPD_MODULES_ROSTER_OPTIONS_H

#include "lib/cfg.h"

#include <stdint.h>

struct roster_opts {
	uint32_t max_items, max_groups, max_name, max_group;
};

/* Fills *out with the defaults overridden by opts (NULL or an empty scalar:
 * the defaults).  XS_OK, or XS_ERROR with every bad option logged with its
 * line and column. */
int roster_opts_parse(const struct cfg_node *opts, struct roster_opts *out);

#endif

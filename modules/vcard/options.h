/* options.h — the options of the vcard module (modules: {vcard: {...}}):
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
 * search_host and name need a restart. */
#ifndef XMPPD_MODULES_VCARD_OPTIONS_H
#define XMPPD_MODULES_VCARD_OPTIONS_H

#include "lib/cfgopt.h"

#include <stdbool.h>
#include <stddef.h>

#define MATCHES_CAP 10000

struct vcard_opts {
	size_t max_size;
	bool search;
	char *search_host;
	char *name;
	unsigned matches;
	bool allow_return_all;
	unsigned max_scan;
};

/* Their table (lib/cfgopt.h): the router parses them into struct
 * vcard_opts, keeps search, search_host and name on reload, and frees the
 * strings after the module stopped. */
extern const struct cfgopt vcard_opts_table[];

#endif

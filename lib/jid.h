/* jid.h — XMPP addresses (RFC 6122 preparation via libidn stringprep).
 *
 * jid_parse() splits "node@domain/resource", applies nodeprep, nameprep and
 * resourceprep, and checks the RFC limits: each part 1..1023 bytes after
 * preparation (node and resource optional, domain required), no prohibited
 * node characters, a domain that is a valid name or an IP literal, trailing
 * dot removed, domain lowercased.  The parts are NUL-terminated. */
#ifndef XMPPD_LIB_JID_H
#define XMPPD_LIB_JID_H

#include <stdbool.h>
#include <stddef.h>

#define JID_PART_MAX 1023
/* Longest full JID text: node '@' domain '/' resource. */
#define JID_MAX (3 * JID_PART_MAX + 2)

struct jid {
	char node[JID_PART_MAX + 1];     /* "" when absent */
	char domain[JID_PART_MAX + 1];
	char resource[JID_PART_MAX + 1]; /* "" when absent */
};

/* XS_OK or XS_ERROR (invalid: the caller answers jid-malformed). */
int jid_parse(const char *text, size_t len, struct jid *out);
/* Each prepares one part in place semantics: in -> out (cap bytes incl. NUL).
 * XS_OK or XS_ERROR. */
int jid_nodeprep(const char *in, size_t len, char *out, size_t cap);
int jid_nameprep(const char *in, size_t len, char *out, size_t cap);
int jid_resourceprep(const char *in, size_t len, char *out, size_t cap);

/* Writes "node@domain" (or "domain") / the full form into out; returns the
 * length, or -1 when cap is too small. */
int jid_bare(const struct jid *j, char *out, size_t cap);
int jid_full(const struct jid *j, char *out, size_t cap);

/* On the text of a prepared JID (as the router stamps 'from', as jid_full()
 * writes it): the bare part ends at the first '/' and has a node when an '@'
 * comes before that (a prepared node or domain holds neither character).
 * jid_bare_len: the length of the bare part.  jid_bare_copy: copies the bare
 * part into out (cap bytes incl. NUL); its length, or -1 when cap is too
 * small.  jid_has_node: whether the bare part has a node (an account's JID,
 * not a domain's). */
size_t jid_bare_len(const char *jid);
int jid_bare_copy(const char *jid, char *out, size_t cap);
bool jid_has_node(const char *jid);

#endif

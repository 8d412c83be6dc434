/* search.h — jabber:iq:search on a directory domain (XEP-0055, with
 * XEP-0004 data forms).
 *   get -> instructions + the legacy fields <first/><last/><nick/><email/> and a
 *          type='form' data form (FORM_TYPE jabber:iq:search) with the fields
 *          user fn first middle last nick bday ctry locality email orgname orgunit
 *          (ejabberd's set).
 *   set -> a submitted form (answered with a type='result' form: <reported/> +
 *          one <item/> per match) or legacy fields (answered with
 *          <item jid='...'><first/><last/><nick/><email/></item>); the
 *          conditions and how they match: query.h.  A query with no condition
 *          gives an empty result, as ejabberd does (XEP-0055 defines no error
 *          for it), unless allow_return_all is true.  At most `matches` items,
 *          and never more than fits in max_stanza_size.  A form not of type
 *          submit -> bad-request; a value too long or too many conditions ->
 *          not-acceptable. */
#ifndef XMPPD_MODULES_VCARD_SEARCH_H
#define XMPPD_MODULES_VCARD_SEARCH_H

#include "router/module.h"

/* One directory service: its domain and the host whose accounts it lists. */
struct vjud {
	char *domain;
	char *host;          /* the parent host whose accounts it lists */
};

/* The IQ handler of jabber:iq:search; arg is the struct vjud. */
int search_iq(struct iq_req *req, void *arg);

#endif

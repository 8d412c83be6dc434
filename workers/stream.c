/* stream.c — stream headers and stream errors. */
#include "workers/stream.h"
#include "lib/log.h"
#include "lib/xmpp.h"

#include <gnutls/crypto.h>
#include <stdio.h>

void stream_header(struct conn *c, struct stream_head *h, const char *from)
{
	uint8_t rnd[8];
	gnutls_rnd(GNUTLS_RND_NONCE, rnd, sizeof(rnd));
	for (int i = 0; i < 8; i++)
		snprintf(h->id + 2 * i, 3, "%02x", rnd[i]);
	char hdr[512];
	snprintf(hdr, sizeof(hdr),
	         "<?xml version='1.0'?><stream:stream xmlns='%s' "
	         "xmlns:stream='" NS_STREAMS "' id='%s' from='%s' version='1.0' xml:lang='en'>",
	         c->proto->stream_ns, h->id, from);
	conn_writez(c, hdr);
	h->sent = true;
}

void stream_error(struct conn *c, struct stream_head *h, const char *from,
                  const char *condition, const char *text)
{
	if (c->fd < 0 || c->closed)
		return;
	if (!h->sent)
		stream_header(c, h, from);
	char msg[512];
	snprintf(msg, sizeof(msg), "<stream:error><%s xmlns='" NS_STREAM_ERR "'/>%s%s%s</stream:error>"
	         "</stream:stream>", condition,
	         text ? "<text xmlns='" NS_STREAM_ERR "'>" : "", text ? text : "",
	         text ? "</text>" : "");
	conn_writez(c, msg);
	log_info("%s: stream error %s%s%s", c->peer, condition, text ? ": " : "", text ? text : "");
	conn_close(c);
}

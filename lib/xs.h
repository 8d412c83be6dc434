/* xs.h — the result vocabulary every xmppd function speaks.
 *
 * A function that can fail returns one of these; the caller must look at it.
 * Negative values are failures, zero and positive values are outcomes. */
#ifndef XMPPD_XS_H
#define XMPPD_XS_H

enum xs_result {
	XS_ERROR = -1,  /* failed; the failure was logged where it happened */
	XS_OK    = 0,   /* done */
	XS_AGAIN = 1,   /* not now: would block, ring full or empty, retry later */
	XS_PASS  = 2,   /* a hook or handler declines; the next one runs */
	XS_DONE  = 3,   /* a hook or handler has handled it; the chain stops */
	XS_DROP  = 4,   /* a hook drops the stanza; nothing more happens to it */
};

#define XS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif

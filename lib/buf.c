/* buf.c — growable byte buffer. */
#include "lib/buf.h"
#include "lib/xs.h"

#include <stdlib.h>
#include <string.h>

/* A drained buffer above this size gives its memory back: idle connections
 * should not keep the peak of a burst. */
#define BUF_KEEP 4096

int buf_reserve(struct buf *b, size_t extra)
{
	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
	}
	if (b->cap - b->len >= extra)
		return XS_OK;
	if (b->off > 0) { /* compact before growing */
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= extra)
			return XS_OK;
	}
	size_t need = b->len + extra;
	if (need < b->len)
		return XS_ERROR;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return XS_ERROR;
	b->data = p;
	b->cap = cap;
	return XS_OK;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	if (len == 0)
		return XS_OK; /* nothing to copy, and data may be NULL */
	if (buf_reserve(b, len) != XS_OK)
		return XS_ERROR;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return XS_OK;
}

int buf_appendz(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len) {
		b->off = b->len = 0;
		if (b->cap > BUF_KEEP) {
			free(b->data);
			b->data = NULL;
			b->cap = 0;
		}
	}
}

void buf_rollback(struct buf *b, size_t mark)
{
	if (mark < buf_pending(b))
		b->len = b->off + mark;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}

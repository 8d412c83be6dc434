/* up.c — the up ring and its overflow queue. */
#include "workers/up.h"
#include "lib/log.h"
#include "lib/xs.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

struct upq_item {
	struct upq_item *next;
	uint16_t type;
	uint32_t len;
	alignas(8) char data[];
};

static struct {
	struct ring *ring;
	struct upq_item *head, *tail;
	bool written;
} up;

void up_init(struct ring *r)
{
	up.ring = r;
}

int up_send(uint16_t type, const void *data, uint32_t len)
{
	if (len > up.ring->max_record) {
		log_error("record of %u bytes exceeds the ring's limit", len);
		return XS_ERROR;
	}
	if (up.head == NULL && ring_push(up.ring, type, data, len) == XS_OK) {
		up.written = true;
		return XS_OK;
	}
	struct upq_item *it = malloc(sizeof(*it) + len);
	if (it == NULL)
		return XS_ERROR;
	it->next = NULL;
	it->type = type;
	it->len = len;
	memcpy(it->data, data, len);
	if (up.tail)
		up.tail->next = it;
	else
		up.head = it;
	up.tail = it;
	return XS_OK;
}

void up_flush(void)
{
	while (up.head) {
		struct upq_item *it = up.head;
		if (ring_push(up.ring, it->type, it->data, it->len) != XS_OK)
			return;
		up.written = true;
		up.head = it->next;
		if (up.head == NULL)
			up.tail = NULL;
		free(it);
	}
}

bool up_blocked(void)
{
	return up.head != NULL;
}

bool up_take_written(void)
{
	bool w = up.written;
	up.written = false;
	return w;
}

/* timer.h — a queue of one-shot and periodic timers (router/timer.c).
 *
 * A binary min-heap ordered by due time over a table of slots: adding,
 * cancelling and firing cost O(log n), the next due time O(1), so a module
 * with thousands of timers (room self-pings, resumption timeouts) is cheap.
 * An id names a slot and its reuse count: an id that fired (one-shot) or was
 * cancelled is never taken for another timer.  Times are milliseconds on any
 * monotonic clock the caller chooses (timer_now_ms: CLOCK_MONOTONIC).  A leaf:
 * no I/O, no other file of router/. */
#ifndef XMPPD_ROUTER_TIMER_H
#define XMPPD_ROUTER_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct timerq;

/* A timer's callback: its id and the arg it was added with.  It may add and
 * cancel timers, itself included (a periodic timer is re-armed before its
 * callback runs, so cancelling it there stops it). */
typedef void timer_fn(uint64_t id, void *arg);

struct timerq *timerq_new(void);
void timerq_free(struct timerq *q);
/* Fires fn(id, arg) at `due`, then, when period > 0, every period after.
 * owner tags the timer (the module that asked).  The id (never 0), or 0 when
 * memory ran out. */
uint64_t timerq_add(struct timerq *q, uint64_t due, uint64_t period, const void *owner,
                    timer_fn *fn, void *arg);
/* Cancels a pending timer of owner.  XS_OK, XS_PASS (no such timer of its:
 * fired, cancelled, another owner's). */
int timerq_cancel(struct timerq *q, uint64_t id, const void *owner);
/* Cancels every timer of owner; returns how many. */
size_t timerq_cancel_owner(struct timerq *q, const void *owner);
/* A mark in the order timers are added: timers added after this call are
 * not "before" it (a periodic timer keeps the place it was added at). */
uint64_t timerq_mark(const struct timerq *q);
/* Cancels the timers of owner added before mark (timerq_mark), leaving
 * those added since; returns how many. */
size_t timerq_cancel_owner_before(struct timerq *q, const void *owner, uint64_t mark);
/* When the earliest timer is due; UINT64_MAX when none is pending. */
uint64_t timerq_next(const struct timerq *q);
/* Fires the timers due at `now`, earliest first, at most max of them (the
 * rest wait for the next call); returns how many fired.  A periodic timer
 * late by more than a period fires once and is re-armed from now: it never
 * fires in a burst to catch up. */
size_t timerq_run(struct timerq *q, uint64_t now, size_t max);
/* Timers pending. */
size_t timerq_count(const struct timerq *q);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t timer_now_ms(void);

#endif

/*
 * lease.h: one worker at a time per durable consumer. Two workers reading
 * one consumer would share its messages and apply them out of order, so
 * a worker holds a lease on the consumer, a key in the group's state
 * bucket that it renews while it runs; another worker started for the
 * same consumer waits as a standby and takes over when the holder stops,
 * dies or stops renewing. The key's value is common/lease.c's; the
 * takeover rule is pure and unit-tested; the rest talks to the bucket.
 */
#ifndef WORKER_LEASE_H
#define WORKER_LEASE_H

#include "common/common.h"

/* Whether a standby takes the lease held by held (parsed: whether its
 * value could be read at all) now. me is the standby; holder_alive is 1
 * if the holder's process runs, 0 if it is gone, -1 if that cannot be
 * told (another machine or pid namespace); unchanged_ms is how long the
 * standby has seen the key keep one revision. A lease is taken when it was
 * released, when its holder is known dead, or when it went unrenewed for
 * the holder's ttl (default_ttl_ms for a value that cannot be read). */
bool lease_takeover(const struct cdc_lease_holder *held, bool parsed,
                    int holder_alive, int64_t unchanged_ms,
                    int64_t default_ttl_ms);

struct lease;

/* Takes the lease on key in kv (kept until lease_close), waiting as a
 * standby while another worker holds it, and starts renewing it every
 * ttl_ms / 5 on a thread of its own. *waited tells whether it had to wait.
 * CDC_ESTOP if a stop was asked for meanwhile. */
int lease_acquire(struct cdc_js_kv *kv, const char *key, int64_t ttl_ms,
                  struct lease **out, bool *waited, struct cdc_err *err);

/* Whether the holder may write now: 1 yes; 0 not yet (the lease was not
 * renewed for ttl / 2: wait); -1 never again (another worker took it, err
 * says which). Called by the thread that acquired it. */
int lease_writable(struct lease *l, struct cdc_err *err);

/* Stops renewing and gives the lease up, so a standby takes over at once.
 * NULL is a no-op. */
void lease_close(struct lease *l);

#endif

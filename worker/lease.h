/*
 * lease.h: one worker at a time per durable consumer. Two workers reading
 * one consumer would share its messages and apply them out of order, so
 * a worker holds a lease on the consumer, a key in the group's state
 * bucket that it renews while it runs; another worker started for the
 * same consumer waits as a standby and takes over when the holder stops,
 * dies or stops renewing. The decision rules are pure and unit-tested;
 * the rest talks to the bucket.
 */
#ifndef WORKER_LEASE_H
#define WORKER_LEASE_H

#include "common/common.h"
#include "common/js.h"

/* Who holds a lease, as written in its key. */
struct lease_holder {
    char host[128]; /* for people: the holder's host name */
    char boot[48];  /* the kernel's boot id ("" unknown) */
    char pidns[32]; /* the holder's pid namespace ("" unknown) */
    int64_t pid;    /* its process id */
    uint64_t start; /* its start time, in clock ticks after boot */
    int64_t ttl_ms; /* how long it may go without renewing */
    char since[40]; /* when it took the lease */
    bool released;  /* it stopped and gave the lease up */
};

/* Formats h as the key's JSON value. */
int lease_format(const struct lease_holder *h, char *out, size_t outsz);

/* Reads a key's value; false if it is not one lease_format writes. */
bool lease_parse(const void *p, size_t len, struct lease_holder *h);

/* Whether a standby takes the lease held by held (parsed: whether its
 * value could be read at all) now. me is the standby; holder_alive is 1
 * if the holder's process runs, 0 if it is gone, -1 if that cannot be
 * told (another machine or pid namespace); unchanged_ms is how long the
 * standby has seen the key keep one revision. A lease is taken when it was
 * released, when its holder is known dead, or when it went unrenewed for
 * the holder's ttl (default_ttl_ms for a value that cannot be read). */
bool lease_takeover(const struct lease_holder *held, bool parsed,
                    int holder_alive, int64_t unchanged_ms,
                    int64_t default_ttl_ms);

/* Whether a and b run on one kernel and in one pid namespace, so that a
 * process id of one means the same process to the other. */
bool lease_same_pids(const struct lease_holder *a,
                     const struct lease_holder *b);

/* This process, as a holder with ttl_ms. */
void lease_me(int64_t ttl_ms, struct lease_holder *h);

/* Whether the process h names runs: 1 yes, 0 no, -1 cannot tell (run on
 * this machine only; compares its start time, so a reused pid is not
 * taken for the holder). */
int lease_holder_alive(const struct lease_holder *h);

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

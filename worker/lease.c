/*
 * lease.c: the worker's lease on its durable consumer (see lease.h).
 *
 * The lease is a key in the group's state bucket whose value names the
 * holder; every write is a compare-and-set on the key's revision, so two
 * workers can never both believe they took it. A standby measures how
 * long the key keeps one revision on its own clock, never by comparing
 * clocks of two machines: a holder that renewed at time t writes nothing
 * after t + ttl / 2, and a standby takes over no sooner than t + ttl.
 * Whether a holder on the same machine is still running is asked of the
 * kernel, so a worker restarted after a crash does not wait out the ttl.
 */
#include "worker/lease.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest single wait of a standby between looks at the key. */
#define STANDBY_POLL_MS 500

struct lease {
    struct cdc_js_kv *kv;
    char key[CDC_NAME_MAX + 32];
    int64_t ttl_ms;
    char value[640];
    size_t value_len;
    pthread_t th;
    bool th_on;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    bool stop;
    bool lost;
    uint64_t rev;
    int64_t renewed_ms; /* when the last renewal that landed was sent */
};

/* ==== Deciding ==== */

bool lease_takeover(const struct cdc_lease_holder *held, bool parsed,
                    int holder_alive, int64_t unchanged_ms,
                    int64_t default_ttl_ms)
{
    if (!parsed)
        return unchanged_ms >= default_ttl_ms;
    if (held->released || holder_alive == 0)
        return true;
    int64_t ttl = held->ttl_ms > 0 ? held->ttl_ms : default_ttl_ms;
    return unchanged_ms >= ttl;
}

/* ==== Holding ==== */

/* Waits on cv until ms from now or a stop; true if stopped. Called with
 * mu held. */
static bool wait_stop(struct lease *l, int64_t ms)
{
    int64_t end = cdc_now_ms() + ms;
    while (!l->stop) {
        int64_t left = end - cdc_now_ms();
        if (left <= 0 || !cdc_cond_wait_ms(&l->cv, &l->mu, left))
            break;
    }
    return l->stop;
}

/* After a renewal was refused: if the key is gone (the group's state was
 * reset, as replicator --resync does, which takes the lease with it), it
 * is made again; CDC_OK then with *rev its revision, CDC_ESTATE if another
 * worker holds it now. Nobody else held the lease until the key went, and
 * only one writer can make it again. */
static int make_again(struct lease *l, uint64_t *rev, struct cdc_err *err)
{
    struct cdc_buf cur;
    cdc_buf_init(&cur, 4096);
    int rc = cdc_js_kv_get(l->kv, l->key, &cur, NULL, err);
    cdc_buf_release(&cur);
    if (rc == CDC_OK)
        return cdc_err_set(err, CDC_ESTATE, 0, "lease \"%s\" is another's",
                           l->key);
    if (rc != CDC_ENOTFOUND)
        return rc;
    cdc_err_clear(err);
    return cdc_js_kv_put(l->kv, l->key, l->value, l->value_len, 0, rev, err);
}

static void *renew_main(void *arg)
{
    struct lease *l = arg;
    int64_t every = l->ttl_ms / 5 > 100 ? l->ttl_ms / 5 : 100;
    bool failing = false;
    pthread_mutex_lock(&l->mu);
    while (!wait_stop(l, every)) {
        uint64_t rev = l->rev;
        pthread_mutex_unlock(&l->mu);
        int64_t sent = cdc_now_ms();
        uint64_t new_rev = 0;
        struct cdc_err err;
        cdc_err_clear(&err);
        int rc = cdc_js_kv_put(l->kv, l->key, l->value, l->value_len, rev,
                               &new_rev, &err);
        if (rc == CDC_ESTATE) {
            rc = make_again(l, &new_rev, &err);
            if (rc == CDC_OK)
                cdc_log(CDC_LOG_INFO, "worker",
                        "lease \"%s\" was removed with the group's state: "
                        "taken again",
                        l->key);
        }
        pthread_mutex_lock(&l->mu);
        if (rc == CDC_OK) {
            l->rev = new_rev;
            l->renewed_ms = sent;
            if (failing)
                cdc_log(CDC_LOG_INFO, "worker", "lease \"%s\" renewed again",
                        l->key);
            failing = false;
        } else if (rc == CDC_ESTATE) {
            l->lost = true;
            break;
        } else if (!failing) {
            failing = true;
            cdc_log(CDC_LOG_WARN, "worker",
                    "could not renew lease \"%s\": %s; writes pause once it "
                    "is %lld ms old",
                    l->key, err.msg, (long long)(l->ttl_ms / 2));
        }
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* "worker on host H (pid P, since S)" */
static void describe(const struct cdc_lease_holder *h, bool parsed, char *out,
                     size_t outsz)
{
    if (!parsed)
        snprintf(out, outsz, "a holder whose entry cannot be read");
    else
        snprintf(out, outsz,
                 "the worker on host \"%s\" (pid %" PRId64 ", since %s)",
                 h->host, h->pid, h->since);
}

static struct lease *lease_new(struct cdc_js_kv *kv, const char *key,
                               int64_t ttl_ms, const char *value, uint64_t rev)
{
    struct lease *l = cdc_xcalloc(1, sizeof(*l));
    l->kv = kv;
    snprintf(l->key, sizeof(l->key), "%s", key);
    l->ttl_ms = ttl_ms;
    snprintf(l->value, sizeof(l->value), "%s", value);
    l->value_len = strlen(l->value);
    l->rev = rev;
    l->renewed_ms = cdc_now_ms();
    pthread_mutex_init(&l->mu, NULL);
    cdc_cond_init(&l->cv);
    return l;
}

int lease_acquire(struct cdc_js_kv *kv, const char *key, int64_t ttl_ms,
                  struct lease **out, bool *waited, struct cdc_err *err)
{
    struct cdc_lease_holder me;
    char value[640];
    cdc_lease_me(ttl_ms, &me);
    int vlen = cdc_lease_format(&me, value, sizeof(value));
    CDC_ASSERT(vlen > 0);
    *out = NULL;
    *waited = false;
    struct cdc_buf cur;
    cdc_buf_init(&cur, 4096);
    uint64_t seen_rev = 0;
    int64_t seen_ms = 0;
    bool troubled = false; /* the last look failed (said once) */
    int rc = CDC_OK;
    for (;;) {
        if (cdc_stop_requested) {
            rc = CDC_ESTOP;
            break;
        }
        /* a revision read before the write (put compares against it)
         * when the sent time counts as the renewal */
        int64_t sent = cdc_now_ms();
        uint64_t rev = 0;
        uint64_t new_rev = 0;
        rc = cdc_js_kv_get(kv, key, &cur, &rev, err);
        if (rc == CDC_ENOTFOUND) {
            cdc_err_clear(err);
            rc = cdc_js_kv_put(kv, key, value, strlen(value), 0, &new_rev, err);
            if (rc == CDC_ESTATE) {
                cdc_err_clear(err);
                continue; /* another standby was quicker: look again */
            }
            if (rc != CDC_OK)
                goto failed;
            *out = lease_new(kv, key, ttl_ms, value, new_rev);
            (*out)->renewed_ms = sent;
            break;
        }
        if (rc != CDC_OK)
            goto failed;
        int64_t now = cdc_now_ms();
        /* a look that took long (NATS reconnecting) saw nothing of the
         * time it took, in which the holder could not renew either */
        if (rev != seen_rev || now - sent > STANDBY_POLL_MS) {
            seen_rev = rev;
            seen_ms = now;
        }
        struct cdc_lease_holder held;
        bool parsed = cdc_lease_parse(cur.data, cur.len, &held);
        int alive = parsed ? cdc_lease_holder_alive(&held) : -1;
        char who[300];
        describe(&held, parsed, who, sizeof(who));
        if (lease_takeover(&held, parsed, alive, now - seen_ms, ttl_ms)) {
            rc = cdc_js_kv_put(kv, key, value, strlen(value), rev, &new_rev,
                               err);
            if (rc == CDC_ESTATE) {
                cdc_err_clear(err);
                continue;
            }
            if (rc != CDC_OK)
                goto failed;
            if (!parsed || !held.released)
                cdc_log(CDC_LOG_WARN, "worker",
                        "took over lease \"%s\" from %s: %s", key, who,
                        alive == 0 ? "its process is gone"
                                   : "it stopped renewing it");
            else if (*waited)
                cdc_log(CDC_LOG_INFO, "worker",
                        "took over lease \"%s\": %s released it", key, who);
            *out = lease_new(kv, key, ttl_ms, value, new_rev);
            (*out)->renewed_ms = sent;
            break;
        }
        if (!*waited)
            cdc_log(
                CDC_LOG_INFO, "worker",
                "standing by: lease \"%s\" is held by %s; taking over "
                "when it stops, or goes %lld ms without renewing",
                key, who,
                (long long)(parsed && held.ttl_ms > 0 ? held.ttl_ms : ttl_ms));
        *waited = true;
        troubled = false;
        goto nap;
    failed:
        /* at start a failure is the worker's; a standby rides it out (a
         * NATS restart while it waits) */
        if (!*waited)
            break;
        if (!troubled)
            cdc_log(CDC_LOG_WARN, "worker",
                    "standing by: could not look at lease \"%s\": %s; "
                    "trying again",
                    key, err->msg);
        troubled = true;
        /* nor could the holder renew meanwhile: its time counts afresh
         * from the next look */
        seen_rev = 0;
        cdc_err_clear(err);
        rc = CDC_OK;
    nap:;
        int64_t nap =
            ttl_ms / 4 < STANDBY_POLL_MS ? ttl_ms / 4 : STANDBY_POLL_MS;
        cdc_sleep_ms(nap > 10 ? nap : 10);
        if (cdc_stop_requested) {
            rc = CDC_ESTOP;
            break;
        }
    }
    cdc_buf_release(&cur);
    if (rc != CDC_OK)
        return rc;
    struct lease *l = *out;
    if (pthread_create(&l->th, NULL, renew_main, l) != 0) {
        lease_close(l);
        *out = NULL;
        return cdc_err_set(err, CDC_EIO, 0,
                           "could not start the thread that renews lease "
                           "\"%s\"",
                           key);
    }
    l->th_on = true;
    return CDC_OK;
}

int lease_writable(struct lease *l, struct cdc_err *err)
{
    pthread_mutex_lock(&l->mu);
    bool lost = l->lost;
    int64_t age = cdc_now_ms() - l->renewed_ms;
    pthread_mutex_unlock(&l->mu);
    if (lost) {
        cdc_err_set(err, CDC_ESTATE, 0,
                    "lease \"%s\" was taken over by another worker (this "
                    "one could not renew it for %lld ms): stopping, so that "
                    "one worker at a time applies the consumer's events",
                    l->key, (long long)age);
        return -1;
    }
    return age < l->ttl_ms / 2 ? 1 : 0;
}

void lease_close(struct lease *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->th_on)
        pthread_join(l->th, NULL);
    if (!l->lost) {
        struct cdc_lease_holder me;
        char value[640];
        struct cdc_err err;
        cdc_err_clear(&err);
        if (cdc_lease_parse(l->value, l->value_len, &me)) {
            me.released = true;
            if (cdc_lease_format(&me, value, sizeof(value)) > 0 &&
                cdc_js_kv_put(l->kv, l->key, value, strlen(value), l->rev, NULL,
                              &err) != CDC_OK)
                cdc_log(CDC_LOG_DEBUG, "worker",
                        "could not release lease \"%s\": %s", l->key, err.msg);
        }
    }
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    cdc_free(l);
}

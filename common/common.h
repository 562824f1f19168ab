/*
 * common.h: the public header of common/, the base every other folder of
 * tributary builds on: status codes and error details, logging, allocation,
 * growable buffers, the per-batch arena, small parsers, time, backoff,
 * signals, names derived from a group, and the change event with its JSON
 * codec. Configuration (config.h), the JetStream wrapper (js.h) and YAML
 * documents (yaml.h) have their own headers, included at the end.
 *
 * Nothing here knows about a particular source or sink.
 */
#ifndef CDC_COMMON_H
#define CDC_COMMON_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>

/* ==== Status codes and error details ==== */

enum cdc_status {
    CDC_OK = 0,
    CDC_EIO = -1,       /* I/O or network failure */
    CDC_ENOMEM = -2,    /* allocation failed */
    CDC_ETOOBIG = -3,   /* input over a hard limit */
    CDC_EPROTO = -4,    /* malformed input from the wire or the bus */
    CDC_ECONFIG = -5,   /* bad configuration */
    CDC_ETIMEDOUT = -6, /* an operation timed out */
    CDC_ENOTFOUND = -7, /* a looked-up object does not exist */
    CDC_ESTATE = -8,    /* compare-and-set lost, or object in a wrong state */
    CDC_ESTOP = -9,     /* stopped on request (signal) */
    /* not a failure: a sink's write goes on in the background (see
     * sink_ops.settle in sinks/sink.h) */
    CDC_PENDING = 1,
};

enum cdc_err_flags {
    CDC_ERR_RETRIABLE = 1 << 0, /* may succeed later: retry with backoff */
    CDC_ERR_POISON = 1 << 1,    /* can never succeed: dead-letter and go on */
    CDC_ERR_FINAL = 1 << 2,     /* with POISON: no point trying it again */
};

#define CDC_ERR_MSG_MAX 256

/* Details of a failure; owned by the caller, always the last parameter. */
struct cdc_err {
    int code;
    unsigned flags;
    size_t index; /* for sinks: index of the first failed event in a batch */
    char msg[CDC_ERR_MSG_MAX];
};

/* Sets err (if not NULL) and returns code. */
int cdc_err_set(struct cdc_err *err, int code, unsigned flags, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
/* Prepends context: "<context>: <old message>". Returns err->code. */
int cdc_err_prefix(struct cdc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cdc_err_clear(struct cdc_err *err);
/* Turns s into one line in place: line breaks and tabs become single
 * spaces, leading and trailing spaces go. */
void cdc_one_line(char *s);
const char *cdc_status_str(int code);

#define CDC_ASSERT(x)                                                          \
    do {                                                                       \
        if (!(x))                                                              \
            cdc_bug(__FILE__, __LINE__, #x);                                   \
    } while (0)
#define CDC_BUG(msg) cdc_bug(__FILE__, __LINE__, (msg))
_Noreturn void cdc_bug(const char *file, int line, const char *what);

/* ==== Logging ==== */

enum cdc_log_level {
    CDC_LOG_ERROR = 0,
    CDC_LOG_WARN,
    CDC_LOG_INFO,
    CDC_LOG_DEBUG,
    CDC_LOG_TRACE,
};

extern int cdc_log_level_current;

/* Configures logging: level, and "text" or "json" format; component and
 * group are added to every line. Strings are copied. */
void cdc_log_setup(int level, bool json, const char *component,
                   const char *group);
int cdc_log_level_parse(const char *s);
void cdc_log_write(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define cdc_log(level, module, ...)                                            \
    do {                                                                       \
        if ((level) <= cdc_log_level_current)                                  \
            cdc_log_write((level), (module), __VA_ARGS__);                     \
    } while (0)

/* Logs at most once per interval_ms per call site. */
#define cdc_log_ratelimited(interval_ms, level, module, ...)                   \
    do {                                                                       \
        static int64_t cdc__last_log_ms_;                                      \
        int64_t cdc__now_ms_ = cdc_now_ms();                                   \
        if (cdc__now_ms_ - cdc__last_log_ms_ >= (interval_ms)) {               \
            cdc__last_log_ms_ = cdc__now_ms_;                                  \
            cdc_log((level), (module), __VA_ARGS__);                           \
        }                                                                      \
    } while (0)

/* Copies a libpq conninfo or URL into out with secrets replaced by "***":
 * password= and sslpassword= values (conninfo and URL query), the password
 * of user:password@, and a userinfo without a colon for schemes other than
 * postgres(ql), mysql, mariadb and mongodb (nats://token@host). Handles a
 * comma-separated list of URLs. Never fails; truncates to outsz. */
void cdc_redact_dsn(const char *dsn, char *out, size_t outsz);

/* Whether a failed database connection may succeed later, judged from its
 * message: a refused or unreachable server may come back; bad
 * credentials, a missing database or role, or a refused permission will
 * not. */
bool cdc_db_connect_retriable(const char *msg);

/* ==== Allocation ==== */

/* Fixed-size allocations: abort with a log line on OOM. */
void *cdc_xmalloc(size_t n);
void *cdc_xcalloc(size_t n, size_t size);
void *cdc_xrealloc(void *p, size_t n);
char *cdc_xstrdup(const char *s);
char *cdc_xstrndup(const char *s, size_t n);
char *cdc_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Input-sized allocations: NULL on failure or when n > limit. */
void *cdc_try_alloc(size_t n, size_t limit);
void cdc_free(void *p);

/* ==== Growable byte buffer ==== */

/* Always NUL-terminated after the first append. limit 0 means the default
 * hard limit (CDC_BUF_DEFAULT_LIMIT); passing it gives CDC_ETOOBIG. */
struct cdc_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;
};

/* 256 MiB: larger than any single event can be on the bus, small enough
 * that a runaway input fails instead of exhausting memory. */
#define CDC_BUF_DEFAULT_LIMIT ((size_t)256 << 20)

void cdc_buf_init(struct cdc_buf *b, size_t limit);
void cdc_buf_release(struct cdc_buf *b);
void cdc_buf_reset(struct cdc_buf *b);
int cdc_buf_reserve(struct cdc_buf *b, size_t extra);
int cdc_buf_append(struct cdc_buf *b, const void *p, size_t len);
int cdc_buf_append_str(struct cdc_buf *b, const char *s);
int cdc_buf_append_char(struct cdc_buf *b, char c);
/* Appends the decimal digits of v (faster than cdc_buf_printf). */
int cdc_buf_append_uint(struct cdc_buf *b, uint64_t v);
int cdc_buf_printf(struct cdc_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
int cdc_buf_append_json_str(struct cdc_buf *b, const char *s, size_t len);
/* Hands the data to the caller (free with cdc_free) and re-inits b. */
char *cdc_buf_detach(struct cdc_buf *b, size_t *len);

/* ==== Arena ==== */

/* Bump allocator for per-batch data; reset once the batch is acked. */
struct cdc_arena {
    struct cdc_arena_block *head;
    size_t used_total;
};

void cdc_arena_init(struct cdc_arena *a);
void cdc_arena_release(struct cdc_arena *a);
/* Frees all but the first block and rewinds it. */
void cdc_arena_reset(struct cdc_arena *a);
/* Aborts on OOM like cdc_xmalloc; sizes are bounded by the caller. */
void *cdc_arena_alloc(struct cdc_arena *a, size_t n);
char *cdc_arena_strndup(struct cdc_arena *a, const char *s, size_t n);
char *cdc_arena_strdup(struct cdc_arena *a, const char *s);

/* ==== Parsing helpers ==== */

/* The value of the hex digit c (either case), or -1. */
static inline int cdc_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* How many bytes from s on are neither control characters (below 0x20)
 * nor a or b: text is scanned for what needs escaping eight bytes at a
 * time. */
static inline size_t cdc_plain_span(const char *s, size_t len, unsigned char a,
                                    unsigned char b)
{
    const uint64_t ones = 0x0101010101010101ULL;
    size_t i = 0;
    /* a word none of whose bytes is one of them goes whole; the test is
     * never wrong about a word that holds one */
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        uint64_t xa = v ^ (ones * a);
        uint64_t xb = v ^ (ones * b);
        uint64_t t = ((xa - ones) & ~xa) | ((xb - ones) & ~xb) |
                     ((v - ones * 0x20) & ~v);
        if (t & (ones * 0x80))
            break;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == a || c == b)
            break;
    }
    return i;
}

/* Whole-string integer with range check. */
int cdc_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
int cdc_parse_bool(const char *s, bool *out);
/* "250ms", "5s", "2m", "1h", "1d" or a bare number of seconds. */
int cdc_parse_duration_ms(const char *s, int64_t *out_ms);
/* "64MiB", "10MB", "1024", "1k". */
int cdc_parse_size(const char *s, int64_t *out);
/* PostgreSQL LSN text "X/Y" <-> 64-bit value. */
int cdc_lsn_parse(const char *s, uint64_t *out);
void cdc_lsn_format(uint64_t lsn, char *out, size_t outsz);
/* A byte count in binary units for people: "512 B", "1.2 MiB". */
void cdc_size_format(uint64_t bytes, char *out, size_t outsz);

/* ==== Time, backoff, signals ==== */

int64_t cdc_now_ms(void);      /* monotonic */
int64_t cdc_wall_us(void);     /* microseconds since the Unix epoch */
void cdc_sleep_ms(int64_t ms); /* returns early when a stop is requested */
/* Initializes cv so that cdc_cond_wait_ms times it by the monotonic clock
 * (a change of the wall clock neither cuts a wait short nor stretches it). */
void cdc_cond_init(pthread_cond_t *cv);
/* Waits on cv, with mu held, for at most ms; false when the time ran out.
 * cv was initialized by cdc_cond_init. */
bool cdc_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms);
/* Formats microseconds since the Unix epoch as ISO-8601 UTC. */
void cdc_time_format_us(int64_t us, char *out, size_t outsz);
/* Reads that form back ("2026-11-21T10:00:00.123456Z", fraction
 * optional); CDC_EPROTO for anything else. */
int cdc_time_parse_us(const char *s, int64_t *us);

/* Capped exponential backoff with jitter. */
struct cdc_backoff {
    int64_t initial_ms;
    int64_t max_ms;
    int64_t current_ms;
    unsigned attempt;
};
void cdc_backoff_init(struct cdc_backoff *bo, int64_t initial_ms,
                      int64_t max_ms);
/* Returns the next delay and advances. */
int64_t cdc_backoff_next(struct cdc_backoff *bo);
void cdc_backoff_reset(struct cdc_backoff *bo);

/* SIGINT/SIGTERM set the stop flag; SIGHUP sets the reopen flag. Call it
 * while the process has one thread: it also readies what the shutdown
 * watchdog's report needs. */
void cdc_signals_install(void);
extern volatile sig_atomic_t cdc_stop_requested;
/* Once a program has done everything that matters (committed,
 * acknowledged, confirmed) and only releases resources: if that takes
 * longer than seconds (a client library's teardown that does not return),
 * the process exits with code anyway, saying so on stderr. */
void cdc_shutdown_watchdog(unsigned seconds, int code);
extern volatile sig_atomic_t cdc_reopen_requested;

/* ==== Names derived from a group ==== */

#define CDC_NAME_MAX 256

/* Groups are 1..48 characters of [a-z0-9_-], so every derived name is valid
 * as a PostgreSQL identifier and a NATS name without quoting. */
int cdc_group_validate(const char *group, struct cdc_err *err);
/* "tributary_<group>" with '-' as '_': publication, slot, KV bucket. */
void cdc_name_pg(const char *group, char *out, size_t outsz);
/* "TRIBUTARY_<group>" */
void cdc_name_stream(const char *group, char *out, size_t outsz);
/* "tributary.<group>.>": every subject of the group's stream */
void cdc_name_stream_subjects(const char *group, char *out, size_t outsz);
/* Settings of the group's stream when the replicator's options do not
 * apply (a worker that creates it first uses these too). */
#define CDC_STREAM_MAX_AGE_DEFAULT "7d"
#define CDC_DEDUP_WINDOW_DEFAULT "2m"
/* "TRIBUTARY_DLQ_<group>" */
void cdc_name_dlq_stream(const char *group, char *out, size_t outsz);
/* "tributary_dlq.<group>.<sink>": the dead letters of one sink */
void cdc_name_dlq_subject(const char *group, const char *sink, char *out,
                          size_t outsz);
/* "tributary_<group>" (NATS allows '-', kept as is) */
void cdc_name_kv(const char *group, char *out, size_t outsz);
/* "tributary.<group>.<schema>.<table>", schema and table escaped so that
 * any name is one subject token: bytes outside [A-Za-z0-9_-] become %XX. */
int cdc_name_subject(const char *group, const char *schema, const char *table,
                     struct cdc_buf *out);

/* ==== The change event ==== */

enum cdc_op {
    CDC_OP_INSERT = 1,
    CDC_OP_UPDATE,
    CDC_OP_DELETE,
    CDC_OP_TRUNCATE,
    CDC_OP_DDL,
    CDC_OP_COPY,
};

const char *cdc_op_name(enum cdc_op op);
int cdc_op_parse(const char *s, enum cdc_op *out);

/* One column value. value is NULL for SQL NULL; otherwise value_len bytes
 * of the source's text form (NUL-terminated as well). */
struct cdc_col {
    const char *name;
    const char *type;
    const char *value;
    size_t value_len;
};

/* One change. All pointers are borrowed: they point into an arena or a
 * decoder's buffers that outlive the event's use. */
struct cdc_event {
    enum cdc_op op;
    const char *source; /* "postgres", ... */
    const char *schema;
    const char *table;
    struct cdc_col *cols; /* new row: INSERT, UPDATE, COPY */
    size_t ncols;
    struct cdc_col *old; /* old key or row: UPDATE, DELETE */
    size_t nold;
    const char **key; /* key column names */
    size_t nkey;
    const char **unchanged; /* columns the source did not send */
    size_t nunchanged;
    const char *position; /* source position, opaque text */
    uint32_t tx_index;    /* index of the change within its transaction */
    bool tx_end;          /* last change of its transaction */
    bool has_txid;
    int64_t txid;
    const char *commit_time; /* ISO-8601, or NULL */
    const char *ddl;         /* DDL statement, or NULL */
    const char *object;      /* DDL: what it changed ("index app.i") */
    const char *search_path; /* DDL: the source session's search_path */
};

/* A batch handed to a sink: events in stream order with their JetStream
 * stream sequences. */
struct cdc_batch {
    struct cdc_event **events;
    uint64_t *seqs;
    size_t n;
    /* dead letters applied again on request: written whatever the sink's
     * record of what it holds says, and that record is left as it is */
    bool replay;
    /* the caller keeps the batch (its arrays and events) until the sink's
     * settle, so the sink may return CDC_PENDING from write */
    bool may_defer;
};

/* Deep copy of ev into arena. */
struct cdc_event *cdc_event_copy(const struct cdc_event *ev,
                                 struct cdc_arena *arena);

/* Event format version written to and accepted from the bus. */
#define CDC_EVENT_VERSION 1

/* Appends the bus form of ev (one JSON object, no newline) to out. */
int cdc_event_encode(const struct cdc_event *ev, struct cdc_buf *out);

/* A pack: consecutive changes of one table and transaction, same
 * operation and columns, in one message (event_pack.c has the form).
 * cdc_pack_can_start: ev may travel in a pack (it carries one row and
 * nothing else); cdc_pack_follows: ev may be the next row of a pack whose
 * last row is last. A pack is cdc_pack_begin (with its first event), one
 * cdc_pack_add per event (first: the pack's first row), cdc_pack_end with
 * the last event's tx_end. */
bool cdc_pack_can_start(const struct cdc_event *ev);
bool cdc_pack_follows(const struct cdc_event *last, const struct cdc_event *ev);
int cdc_pack_begin(const struct cdc_event *ev, struct cdc_buf *out);
int cdc_pack_add(const struct cdc_event *ev, bool first, struct cdc_buf *out);
int cdc_pack_end(bool tx_end, struct cdc_buf *out);

/* Appends the natural JSON form used by sinks for people (stdout, file):
 * an object with row/old as name -> value maps, values typed where that is
 * lossless (json/jsonb embedded only when strictly valid, on one line).
 * extra_json, if not NULL, is a JSON fragment ("\"k\":v,...")
 * inserted before the closing brace. */
int cdc_event_encode_natural(const struct cdc_event *ev, const char *extra_json,
                             struct cdc_buf *out);

/* Decodes the bus form. Strings are copied into arena; ev is filled in.
 * Returns CDC_EPROTO with a reason in err for anything malformed, including
 * data after the object, a string holding a NUL character, and integers
 * that JSON numbers do not carry exactly ("txid" beyond 2^53 - 1). */
int cdc_event_decode(const void *data, size_t len, struct cdc_arena *arena,
                     struct cdc_event *ev, struct cdc_err *err);

/* Decodes one message of the bus: one event, a pack (several
 * consecutive changes of one table and transaction, see event_pack.c), or
 * a JSON array of events and packs. *evs is an array of *n events in
 * arena. cdc_event_decode() above takes a pack of one row, and refuses a
 * longer one. */
int cdc_event_decode_msg(const void *data, size_t len, struct cdc_arena *arena,
                         struct cdc_event **evs, size_t *n,
                         struct cdc_err *err);

/* Total order of positions within one group, for a given source kind:
 * negative, zero or positive like strcmp. postgres: LSNs; mysql:
 * "<binlog file>:<offset>", files by name length then bytes, offsets as
 * numbers. Unparseable positions compare by bytes. */
int cdc_position_cmp(const char *source, const char *a, uint32_t a_index,
                     const char *b, uint32_t b_index);

/* ==== Chunked events (chunk.c) ==== */

/*
 * An event whose bus form does not fit in one NATS message travels as k
 * messages in a row on its subject, chunk i (1-based) carrying the header
 * "Tributary-Chunk: i/k" and the Nats-Msg-Id "<event msgid>#i/k". The
 * concatenated payloads are the event's bus form. An event that fits goes
 * as one message without that header.
 */
#define CDC_CHUNK_HEADER "Tributary-Chunk"
/* The most chunks one event may take: 256 MiB in chunks of 64 KiB, far
 * more than a 1 MiB max_payload needs (257). It bounds the messages a
 * worker holds unacknowledged for one event. */
#define CDC_CHUNK_MAX_COUNT 4096
/* The largest event, chunked or not: what a cdc_buf holds by default. */
#define CDC_CHUNK_MAX_BYTES CDC_BUF_DEFAULT_LIMIT
/* Room for "#i/k" after an event's msgid, NUL included. */
#define CDC_CHUNK_SUFFIX_MAX 16

/* Parses a Tributary-Chunk value "i/k": decimal digits only, no sign,
 * space or leading zero, 1 <= i <= k <= CDC_CHUNK_MAX_COUNT. Returns
 * CDC_OK, or CDC_EPROTO with *i and *k untouched. */
int cdc_chunk_parse(const char *s, uint32_t *i, uint32_t *k);

/* How many chunks of at most limit bytes carry len bytes (1 for len 0).
 * CDC_ETOOBIG when len is over CDC_CHUNK_MAX_BYTES, limit is 0, or it
 * would take more than CDC_CHUNK_MAX_COUNT chunks. */
int cdc_chunk_count(size_t len, size_t limit, uint32_t *k);

/* The bytes [*off, *off + *n) of len that chunk i (1-based) of k
 * carries. The sizes differ by one at most (the first len % k chunks hold
 * one byte more), so none is over the limit the count came from, and
 * they depend on len and k alone: chunk "i/k" of an event holds the same
 * bytes whenever it is sent, even after max_payload or the headers'
 * length changed, and JetStream's duplicate check can never mix two
 * different cuts under one msgid. */
void cdc_chunk_slice(size_t len, uint32_t k, uint32_t i, size_t *off,
                     size_t *n);

/* Sets out to the Nats-Msg-Id of the event at position, index within it,
 * of group: "<group>:<position>:<index>". A message that packs several
 * events takes its last event's; a chunk adds "#i/k". */
void cdc_event_msgid(struct cdc_buf *out, const char *group,
                     const char *position, uint32_t index);

/* If msgid ends in a valid "#i/k", returns true with the length of the
 * event's own msgid before it in *base_len and i, k; otherwise false with
 * the outputs untouched. A plain msgid ends in ":<index>", so it never
 * reads as a chunk, whatever its position holds. */
bool cdc_chunk_msgid_split(const char *msgid, size_t *base_len, uint32_t *i,
                           uint32_t *k);

/* Where a reader is in a run of chunks. Zeroed or cdc_chunk_seq_init'ed:
 * no run open. */
struct cdc_chunk_seq {
    uint32_t next;  /* index expected next; 0 when no run is open */
    uint32_t count; /* k of the open run */
};

enum cdc_chunk_step {
    CDC_CHUNK_MORE = 1, /* in order, more chunks follow: keep the data */
    CDC_CHUNK_LAST,     /* in order and the last: the event is whole */
    CDC_CHUNK_BAD,      /* out of order or another k: the open run (if
                           any) and this chunk cannot make an event; no
                           run is open afterwards */
};

void cdc_chunk_seq_init(struct cdc_chunk_seq *cs);
/* True while a run is open (chunk 1 seen, not yet its last). */
bool cdc_chunk_seq_open(const struct cdc_chunk_seq *cs);
/*
 * Feeds chunk i of k (as parsed by cdc_chunk_parse) and returns what to do
 * with it. Chunk 1 always starts a new run: if one was open it is given up
 * (a re-send after a crash) and *dropped is set to the number of chunks it
 * had, else 0. With CDC_CHUNK_BAD, *dropped is the number of chunks of the
 * run this one did not fit (0 if none was open).
 */
enum cdc_chunk_step cdc_chunk_seq_step(struct cdc_chunk_seq *cs, uint32_t i,
                                       uint32_t k, uint32_t *dropped);

/* ==== Compressed payloads (compress.c) ==== */

/*
 * With the replicator's --compress zstd, a message whose payload is at
 * least CDC_ZIP_MIN_BYTES long and that fits in one message once
 * compressed carries one zstd frame (recording its content size) and the
 * header "Tributary-Encoding: zstd"; everything else goes as it is, chunks
 * always (so a chunk's bytes never depend on the setting). A message
 * without the header is plain JSON.
 */
#define CDC_ZIP_HEADER "Tributary-Encoding"
#define CDC_ZIP_ZSTD "zstd"
#define CDC_ZIP_MIN_BYTES 1024
/* zstd's fastest levels are negative; below -7 the ratio drops sharply */
#define CDC_ZIP_LEVEL_MIN (-7)

/* One thread's compression state; level is a zstd level. */
struct cdc_zip;
struct cdc_zip *cdc_zip_new(int level);
void cdc_zip_free(struct cdc_zip *z);
/* True for a level this build's zstd takes (CDC_ZIP_LEVEL_MIN up). */
bool cdc_zip_level_ok(int64_t level);
/* Replaces out's content with data[0..len) compressed. */
int cdc_zip_compress(struct cdc_zip *z, const void *data, size_t len,
                     struct cdc_buf *out, struct cdc_err *err);
/* The payload of a message whose Tributary-Encoding header is encoding:
 * data itself when encoding is NULL, else data decompressed into out
 * (its content replaced, NUL-terminated), *payload pointing into out.
 * CDC_EPROTO with a reason for an unknown encoding, a damaged frame, or
 * one that claims more than CDC_CHUNK_MAX_BYTES. */
int cdc_zip_open(struct cdc_zip *z, const char *encoding, const void *data,
                 size_t len, struct cdc_buf *out, const void **payload,
                 size_t *plen, struct cdc_err *err);

/* ==== A worker's lease on its consumer (lease.c) ==== */

/* "worker.lease.<consumer>": the key of the lease in the group's state
 * bucket. */
void cdc_name_lease_key(const char *consumer, char *out, size_t outsz);

/* Who holds a lease, as written in its key. */
struct cdc_lease_holder {
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
int cdc_lease_format(const struct cdc_lease_holder *h, char *out, size_t outsz);

/* Reads a key's value; false if it is not one lease_format writes. */
bool cdc_lease_parse(const void *p, size_t len, struct cdc_lease_holder *h);

/* Whether a and b run on one kernel and in one pid namespace, so that a
 * process id of one means the same process to the other. */
bool cdc_lease_same_pids(const struct cdc_lease_holder *a,
                         const struct cdc_lease_holder *b);

/* This process, as a holder with ttl_ms. */
void cdc_lease_me(int64_t ttl_ms, struct cdc_lease_holder *h);

/* Whether the process h names runs: 1 yes, 0 no, -1 cannot tell (run on
 * this machine only; compares its start time, so a reused pid is not
 * taken for the holder). */
int cdc_lease_holder_alive(const struct cdc_lease_holder *h);

#include "config.h"
#include "js.h"
#include "metrics.h"
#include "yaml.h"

/* ==== Command options shared by both binaries (options.c) ==== */

/* Options of the replicator and of every worker, so that each binary can
 * accept the other's keys in a shared YAML file. */
extern const struct cdc_opt cdc_replicator_options[];
extern const struct cdc_opt cdc_worker_options[];
extern const struct cdc_opt cdc_nats_options[];
/* Every option name of every source and of every sink, so the other
 * binary accepts them in a shared file (a unit test keeps these lists
 * equal to the sources' and sinks' own tables). */
extern const struct cdc_opt cdc_source_known_options[];
extern const struct cdc_opt cdc_sink_known_options[];
/* Keys of pg_flo's that tributary accepts in a file but does not
 * implement yet (sinks and modes still to come). */
extern const struct cdc_opt cdc_future_options[];

/* Fills NATS connection options from the nats-* options of cfg. */
void cdc_js_opts_from_conf(const struct cdc_conf *cfg, const char *name,
                           struct cdc_js_opts *o);

#endif

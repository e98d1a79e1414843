/* An independent load generator written on rabbitmq-c (Debian librabbitmq) rather than on our
 * own `broker perf`, so the broker is also judged by a client it was not written with.
 * P producers and C consumers are threads, each with its own connection and one channel, like
 * separate clients: producer i publishes to queue i % Q, consumer j consumes queue j % Q. Every
 * body starts with its CLOCK_MONOTONIC send time in nanoseconds, so consumers measure the
 * end-to-end latency (producers and consumers must run on the same host).
 *
 * Timed mode (default): everyone starts together and stops at the --duration deadline; only
 * what was published / delivered before the deadline counts.
 * Backlog mode (--backlog N): the producers first fill every queue with N messages (with
 * confirms, no consumer running), then the consumers start and the drain of all Q x N is timed;
 * "send rate" is then the fill rate and the latency includes the time spent in the backlog.
 *
 *   gcc -O2 -Wall -pthread -o rmqc_perf rmqc_perf.c $(pkg-config --cflags --libs librabbitmq) -lm
 *   rmqc_perf --port 5672 --producers 1 --consumers 1 --size 16 --duration 10
 *   rmqc_perf --queues 4 --producers 4 --consumers 4 --backlog 100000 --json
 *   rmqc_perf --help
 */
#define _GNU_SOURCE   /* asprintf */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FANOUT_EXCHANGE "rmqc-fanout"
#define FILL_WINDOW 500             /* confirm window of the backlog fill when --confirm is 0 */
#define NET_TIMEOUT_S 10            /* connect, login and every RPC */
#define GRACE_S 30                  /* the watchdog's slack over a phase's own time limit */

static struct {
    const char *host, *user, *password, *prefix;
    int port, producers, consumers, queues, prefetch;
    int autoack, persistent, fanout, json;
    long size, ack_every, confirm, backlog;
    double duration, rate;
} opt = {
    .host = "127.0.0.1", .user = "guest", .password = "guest", .prefix = "rmqc-q-",
    .port = 5672, .producers = 1, .consumers = 1, .queues = 1, .prefetch = 100,
    .size = 16, .ack_every = 1, .duration = 10,
};

static char **queue_names;

/* ---- time and failure ---- */

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t after_s(double seconds) { return now_ns() + (uint64_t)(seconds * 1e9); }

static void sleep_until(uint64_t at) {
    struct timespec t = {.tv_sec = (time_t)(at / 1000000000u), .tv_nsec = (long)(at % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

/* Any thread may fail; the first one to get here reports and ends the process (the lock keeps
 * a second failure from racing it). */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    va_list args;
    va_start(args, fmt);
    fputs("rmqc_perf: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    _exit(1);
}

/* Names the close the broker sent (channel.close or connection.close) and gives up. */
static void die_closed(const char *who, const char *what, amqp_method_t method) __attribute__((noreturn));
static void die_closed(const char *who, const char *what, amqp_method_t method) {
    if (method.id == AMQP_CHANNEL_CLOSE_METHOD || method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        /* Both methods start with reply_code and reply_text. */
        amqp_channel_close_t *close = method.decoded;
        die("%s: the broker closed the %s during %s: %u %.*s", who,
            method.id == AMQP_CHANNEL_CLOSE_METHOD ? "channel" : "connection", what,
            close->reply_code, (int)close->reply_text.len, (char *)close->reply_text.bytes);
    }
    die("%s: %s: unexpected method 0x%08x from the broker", who, what, method.id);
}

static void check_reply(amqp_rpc_reply_t reply, const char *who, const char *what) {
    switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        die("%s: %s failed: %s", who, what, amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        die_closed(who, what, reply.reply);
    default:
        die("%s: %s failed (no reply)", who, what);
    }
}

static void check_status(int status, const char *who, const char *what) {
    if (status < 0) die("%s: %s failed: %s", who, what, amqp_error_string2(status));
}

/* A watchdog bounds every phase, so nothing waits forever even where rabbitmq-c itself would
 * (a publish to a broker that stopped reading, a message whose body never comes). */
static _Atomic uint64_t watchdog_at;
static _Atomic(const char *) watchdog_phase;

static void arm_watchdog(const char *phase, double seconds) {
    atomic_store(&watchdog_phase, phase);
    atomic_store(&watchdog_at, after_s(seconds));
}

static void *watchdog(void *unused) {
    (void)unused;
    for (;;) {
        usleep(100000);
        uint64_t at = atomic_load(&watchdog_at);
        if (at && now_ns() > at) die("%s did not finish in time; giving up", atomic_load(&watchdog_phase));
    }
    return NULL;
}

/* ---- latency histogram: log-linear buckets of microseconds ---- */

/* Values below 64 us are exact; above, each power of two has 64 buckets, so a bucket is at most
 * 1/64 of its value wide and its midpoint is within 0.8 %. Covers every uint64_t. */
#define SUB_BITS 6
#define SUB_COUNT (1 << SUB_BITS)
#define BUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)

struct histogram {
    uint64_t counts[BUCKETS];
    uint64_t total, max;
};

static int bucket_of(uint64_t us) {
    if (us < SUB_COUNT) return (int)us;
    int shift = 63 - __builtin_clzll(us) - SUB_BITS;
    return (shift + 1) * SUB_COUNT + (int)((us >> shift) - SUB_COUNT);
}

static uint64_t bucket_middle(int bucket) {
    if (bucket < SUB_COUNT) return (uint64_t)bucket;
    int shift = bucket / SUB_COUNT - 1;
    uint64_t low = (uint64_t)(bucket % SUB_COUNT + SUB_COUNT) << shift;
    return low + ((1ull << shift) - 1) / 2;
}

static void record(struct histogram *h, uint64_t us) {
    h->counts[bucket_of(us)]++;
    h->total++;
    if (us > h->max) h->max = us;
}

static void merge(struct histogram *into, const struct histogram *from) {
    for (int i = 0; i < BUCKETS; i++) into->counts[i] += from->counts[i];
    into->total += from->total;
    if (from->max > into->max) into->max = from->max;
}

static uint64_t percentile(const struct histogram *h, double p) {
    if (h->total == 0) return 0;
    uint64_t rank = (uint64_t)ceil(p * (double)h->total), seen = 0;
    if (rank < 1) rank = 1;
    for (int i = 0; i < BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t value = bucket_middle(i);
            return value < h->max ? value : h->max;
        }
    }
    return h->max;
}

/* ---- connections ---- */

static amqp_connection_state_t connect_broker(const char *who) {
    struct timeval timeout = {.tv_sec = NET_TIMEOUT_S};
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket) die("%s: cannot create a socket", who);
    int status = amqp_socket_open_noblock(socket, opt.host, opt.port, &timeout);
    if (status != AMQP_STATUS_OK)
        die("%s: cannot connect to %s:%d: %s", who, opt.host, opt.port, amqp_error_string2(status));
    amqp_set_handshake_timeout(conn, &timeout);
    amqp_set_rpc_timeout(conn, &timeout);
    /* Without consumer_cancel_notify a broker drops a consumer silently (its queue deleted). */
    amqp_table_entry_t capability = {amqp_cstring_bytes("consumer_cancel_notify"),
                                     {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}};
    amqp_table_entry_t properties[] = {
        {amqp_cstring_bytes("capabilities"), {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {1, &capability}}},
        {amqp_cstring_bytes("connection_name"), {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(who)}},
    };
    amqp_table_t client_properties = {2, properties};
    check_reply(amqp_login_with_properties(conn, "/", 0, 131072, 0, &client_properties, AMQP_SASL_METHOD_PLAIN,
                                           opt.user, opt.password),
                who, "login");
    amqp_channel_open(conn, 1);
    check_reply(amqp_get_rpc_reply(conn), who, "channel.open");
    return conn;
}

/* The run is over by now: a failed close changes nothing, and the RPC timeout bounds it. */
static void disconnect(amqp_connection_state_t conn) {
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* ---- setup and cleanup (plain AMQP 0-9-1, so RabbitMQ 3.10 takes it too) ---- */

static amqp_rpc_reply_t try_declare(amqp_connection_state_t conn, int exchange, const char *name) {
    if (exchange)
        amqp_exchange_declare(conn, 1, amqp_cstring_bytes(name), amqp_cstring_bytes("fanout"), 0,
                              opt.persistent, 0, 0, amqp_empty_table);
    else
        amqp_queue_declare(conn, 1, amqp_cstring_bytes(name), 0, opt.persistent, 0, 0, amqp_empty_table);
    return amqp_get_rpc_reply(conn);
}

static void delete_entity(amqp_connection_state_t conn, int exchange, const char *name, const char *who) {
    if (exchange) {
        amqp_exchange_delete(conn, 1, amqp_cstring_bytes(name), 0);
        check_reply(amqp_get_rpc_reply(conn), who, "exchange.delete");
    } else {
        amqp_queue_delete(conn, 1, amqp_cstring_bytes(name), 0, 0);
        check_reply(amqp_get_rpc_reply(conn), who, "queue.delete");
    }
}

/* A queue or exchange left by an earlier run with the other durability makes the broker close
 * the channel with PRECONDITION_FAILED: acknowledge that, delete the old one, declare again. */
static void declare(amqp_connection_state_t conn, int exchange, const char *name) {
    const char *what = exchange ? "exchange.declare" : "queue.declare";
    amqp_rpc_reply_t reply = try_declare(conn, exchange, name);
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD &&
        ((amqp_channel_close_t *)reply.reply.decoded)->reply_code == AMQP_PRECONDITION_FAILED) {
        amqp_channel_close_ok_t close_ok = {0};
        check_status(amqp_send_method(conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "setup", "channel.close-ok");
        amqp_channel_open(conn, 1);
        check_reply(amqp_get_rpc_reply(conn), "setup", "channel.open");
        delete_entity(conn, exchange, name, "setup");
        reply = try_declare(conn, exchange, name);
    }
    check_reply(reply, "setup", what);
}

static void setup(void) {
    amqp_connection_state_t conn = connect_broker("setup");
    for (int q = 0; q < opt.queues; q++) {
        declare(conn, 0, queue_names[q]);
        amqp_queue_purge(conn, 1, amqp_cstring_bytes(queue_names[q]));
        check_reply(amqp_get_rpc_reply(conn), "setup", "queue.purge");
    }
    if (opt.fanout) {
        declare(conn, 1, FANOUT_EXCHANGE);
        for (int q = 0; q < opt.queues; q++) {
            amqp_queue_bind(conn, 1, amqp_cstring_bytes(queue_names[q]), amqp_cstring_bytes(FANOUT_EXCHANGE),
                            amqp_empty_bytes, amqp_empty_table);
            check_reply(amqp_get_rpc_reply(conn), "setup", "queue.bind");
        }
    }
    disconnect(conn);
}

static void cleanup(void) {
    amqp_connection_state_t conn = connect_broker("cleanup");
    for (int q = 0; q < opt.queues; q++) delete_entity(conn, 0, queue_names[q], "cleanup");
    if (opt.fanout) delete_entity(conn, 1, FANOUT_EXCHANGE, "cleanup");
    disconnect(conn);
}

/* After the fill every queue should hold what was confirmed; a mismatch is worth a warning
 * (the drain then times out if messages are really missing). */
static void check_backlog(void) {
    amqp_connection_state_t conn = connect_broker("backlog check");
    for (int q = 0; q < opt.queues; q++) {
        amqp_queue_declare_ok_t *ok = amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue_names[q]), 1, 0, 0,
                                                         0, amqp_empty_table);
        check_reply(amqp_get_rpc_reply(conn), "backlog check", "queue.declare (passive)");
        if (ok->message_count != (uint32_t)opt.backlog)
            fprintf(stderr, "rmqc_perf: warning: %s holds %u messages after the fill, not %ld\n",
                    queue_names[q], ok->message_count, opt.backlog);
    }
    disconnect(conn);
}

/* ---- shared run state ---- */

static pthread_barrier_t connected;   /* every worker has connected (and subscribed, timed mode) */
static pthread_barrier_t go;          /* main has set the clock: start */
static pthread_barrier_t drain_go;    /* backlog: the fill is done, consumers subscribe */
static uint64_t run_start, run_deadline;   /* timed run, or the fill in backlog mode */
static uint64_t drain_deadline, drain_target;
static _Atomic uint64_t drained, drain_end;
static atomic_bool drain_done;

/* ---- producers ---- */

/* Publisher confirms: tags 1..published were handed out; every tag <= settled_upto is settled
 * and `early` flags the ones above it that were acked out of order. The span published -
 * settled_upto stays below the ring size, so each live tag has its own slot. */
struct confirms {
    uint64_t window, published, settled_upto, outstanding, nacked, ring;
    uint8_t *early;
};

struct producer {
    pthread_t thread;
    int id;
    char name[32];
    amqp_connection_state_t conn;
    amqp_bytes_t exchange, routing_key, body;
    amqp_basic_properties_t props;
    struct confirms cf;
    uint64_t sent;
};

static void settle(struct confirms *cf, uint64_t tag) {
    if (tag <= cf->settled_upto || tag > cf->published) return;
    uint8_t *flag = &cf->early[tag & (cf->ring - 1)];
    if (!*flag) {
        *flag = 1;
        cf->outstanding--;
    }
}

static void confirm(struct confirms *cf, uint64_t tag, int multiple, int nack) {
    uint64_t before = cf->outstanding;
    if (multiple)
        for (uint64_t t = cf->settled_upto + 1; t <= tag && t <= cf->published; t++) settle(cf, t);
    else
        settle(cf, tag);
    if (nack) cf->nacked += before - cf->outstanding;
    while (cf->settled_upto < cf->published && cf->early[(cf->settled_upto + 1) & (cf->ring - 1)]) {
        cf->early[(cf->settled_upto + 1) & (cf->ring - 1)] = 0;
        cf->settled_upto++;
    }
}

static int window_full(const struct confirms *cf) {
    return cf->outstanding >= cf->window || cf->published - cf->settled_upto >= cf->ring;
}

static void handle_producer_frame(struct producer *p, const amqp_frame_t *frame) {
    if (frame->frame_type != AMQP_FRAME_METHOD) return;
    amqp_method_t method = frame->payload.method;
    switch (method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        amqp_basic_ack_t *ack = method.decoded;
        confirm(&p->cf, ack->delivery_tag, ack->multiple, 0);
        break;
    }
    case AMQP_BASIC_NACK_METHOD: {
        amqp_basic_nack_t *nack = method.decoded;
        confirm(&p->cf, nack->delivery_tag, nack->multiple, 1);
        break;
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        die_closed(p->name, "publishing", method);
    default:
        break;   /* connection.blocked/unblocked, basic.return: nothing to do */
    }
}

/* Handles what the broker sent: waits up to `wait_us` for a first frame, then takes whatever
 * else is already buffered without waiting again. */
static void read_broker(struct producer *p, long wait_us) {
    struct timeval wait = {.tv_sec = wait_us / 1000000, .tv_usec = wait_us % 1000000};
    amqp_frame_t frame;
    int status = amqp_simple_wait_frame_noblock(p->conn, &frame, &wait);
    while (status == AMQP_STATUS_OK) {
        handle_producer_frame(p, &frame);
        if (!amqp_frames_enqueued(p->conn) && !amqp_data_in_buffer(p->conn)) break;
        struct timeval zero = {0};
        status = amqp_simple_wait_frame_noblock(p->conn, &frame, &zero);
    }
    if (status != AMQP_STATUS_OK && status != AMQP_STATUS_TIMEOUT) check_status(status, p->name, "reading from the broker");
    amqp_maybe_release_buffers(p->conn);
}

static void await_confirms(struct producer *p, uint64_t deadline) {
    uint64_t now = now_ns();
    if (now >= deadline) return;
    uint64_t left_us = (deadline - now) / 1000 + 1;
    read_broker(p, left_us < 100000 ? (long)left_us : 100000);
}

static void publish(struct producer *p, uint64_t now) {
    memcpy(p->body.bytes, &now, sizeof now);
    check_status(amqp_basic_publish(p->conn, 1, p->exchange, p->routing_key, 0, 0, &p->props, p->body),
                 p->name, "basic.publish");
    p->sent++;
    if (p->cf.window) {
        p->cf.published++;
        p->cf.outstanding++;
    }
}

/* Publishes until `limit` messages were sent in all or the deadline. --rate paces in batches
 * of about 10 ms worth, each due at its place on the schedule from `since`. */
static void publish_until(struct producer *p, uint64_t limit, uint64_t since, uint64_t deadline) {
    uint64_t batch = opt.rate >= 200 ? (uint64_t)(opt.rate / 100) : 1, paced = 0;
    while (p->sent < limit) {
        if (opt.rate > 0 && paced % batch == 0) {
            uint64_t due = since + (uint64_t)((double)paced * 1e9 / opt.rate);
            if (due > now_ns()) sleep_until(due < deadline ? due : deadline);
        }
        uint64_t now = now_ns();
        if (now >= deadline) return;
        publish(p, now);
        paced++;
        if (p->cf.window) {
            while (window_full(&p->cf) && now_ns() < deadline) await_confirms(p, deadline);
        } else if ((p->sent & 255) == 0) {
            read_broker(p, 0);   /* a publisher that never reads would miss a channel.close */
        }
    }
}

/* Backlog: this producer's share of queue q. Producers are spread over the queues as in the
 * timed run; with fewer producers than queues, producer i fills queues i, i + P, ... */
static uint64_t fill_share(int producer, int q) {
    uint64_t n = (uint64_t)opt.backlog, p = (uint64_t)opt.producers;
    if (opt.fanout)   /* one publish reaches every queue: N publishes in all */
        return q == 0 ? n / p + ((uint64_t)producer < n % p) : 0;
    if (opt.producers < opt.queues) return q % opt.producers == producer ? n : 0;
    if (producer % opt.queues != q) return 0;
    uint64_t sharing = (uint64_t)((opt.producers - q + opt.queues - 1) / opt.queues);
    return n / sharing + ((uint64_t)(producer / opt.queues) < n % sharing);
}

static void fill(struct producer *p) {
    uint64_t target = 0;
    for (int q = 0; q < opt.queues; q++) {
        uint64_t share = fill_share(p->id, q);
        if (share == 0) continue;
        if (!opt.fanout) p->routing_key = amqp_cstring_bytes(queue_names[q]);
        target += share;
        publish_until(p, target, now_ns(), run_deadline);
    }
    while (p->cf.outstanding && now_ns() < run_deadline) await_confirms(p, run_deadline);
    if (p->sent < target || p->cf.outstanding)
        die("%s: the fill did not finish in time (%lu of %lu published, %lu unconfirmed)", p->name,
            (unsigned long)p->sent, (unsigned long)target, (unsigned long)p->cf.outstanding);
    if (p->cf.nacked) die("%s: the broker nacked %lu fill messages", p->name, (unsigned long)p->cf.nacked);
}

static void *run_producer(void *arg) {
    struct producer *p = arg;
    p->conn = connect_broker(p->name);
    if (p->cf.window) {
        amqp_confirm_select(p->conn, 1);
        check_reply(amqp_get_rpc_reply(p->conn), p->name, "confirm.select");
    }
    pthread_barrier_wait(&connected);
    pthread_barrier_wait(&go);
    if (opt.backlog)
        fill(p);
    else
        publish_until(p, UINT64_MAX, run_start, run_deadline);
    disconnect(p->conn);
    return NULL;
}

static void init_producer(struct producer *p, int id) {
    p->id = id;
    snprintf(p->name, sizeof p->name, "producer %d", id);
    p->exchange = amqp_cstring_bytes(opt.fanout ? FANOUT_EXCHANGE : "");
    p->routing_key = amqp_cstring_bytes(opt.fanout ? "" : queue_names[id % opt.queues]);
    p->body.len = (size_t)opt.size;
    p->body.bytes = calloc(1, (size_t)opt.size);   /* zeros after the 8-byte timestamp */
    p->props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    p->props.delivery_mode = opt.persistent ? 2 : 1;
    p->cf.window = (uint64_t)(opt.backlog ? (opt.confirm ? opt.confirm : FILL_WINDOW) : opt.confirm);
    if (p->cf.window) {
        p->cf.ring = 64;
        while (p->cf.ring < 4 * p->cf.window) p->cf.ring *= 2;
        p->cf.early = calloc(p->cf.ring, 1);
    }
    if (!p->body.bytes || (p->cf.window && !p->cf.early)) die("out of memory");
}

/* ---- consumers ---- */

struct consumer {
    pthread_t thread;
    int id;
    char name[32];
    amqp_connection_state_t conn;
    uint64_t received;
    struct histogram latency;
};

static void subscribe(struct consumer *c) {
    amqp_basic_consume(c->conn, 1, amqp_cstring_bytes(queue_names[c->id % opt.queues]), amqp_empty_bytes, 0,
                       opt.autoack, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(c->conn), c->name, "basic.consume");
}

/* amqp_consume_message saw something other than a delivery: a close ends the run. */
static void handle_consumer_frame(struct consumer *c) {
    struct timeval wait = {.tv_sec = 1};
    amqp_frame_t frame;
    check_status(amqp_simple_wait_frame_noblock(c->conn, &frame, &wait), c->name, "reading from the broker");
    if (frame.frame_type != AMQP_FRAME_METHOD) return;
    switch (frame.payload.method.id) {
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD:
        die_closed(c->name, "consuming", frame.payload.method);
    case AMQP_BASIC_CANCEL_METHOD:
        die("%s: the broker cancelled the consumer of %s (queue deleted?)", c->name, queue_names[c->id % opt.queues]);
    default:
        break;
    }
}

/* One delivery: latency from the timestamp in the body, counted only before the deadline, and
 * the ack every --ack-every deliveries (multiple=true covers the ones before it). */
static void on_delivery(struct consumer *c, const amqp_envelope_t *env, uint64_t deadline, uint64_t *unacked) {
    uint64_t at = now_ns();
    if (at < deadline) {
        c->received++;
        if (env->message.body.len >= 8) {
            uint64_t sent;
            memcpy(&sent, env->message.body.bytes, sizeof sent);
            record(&c->latency, at > sent ? (at - sent) / 1000 : 0);
        }
        if (opt.backlog && atomic_fetch_add(&drained, 1) + 1 == drain_target) {
            atomic_store(&drain_end, at);
            atomic_store(&drain_done, 1);
        }
    }
    if (!opt.autoack && ++*unacked >= (uint64_t)opt.ack_every) {
        check_status(amqp_basic_ack(c->conn, 1, env->delivery_tag, opt.ack_every > 1), c->name, "basic.ack");
        *unacked = 0;
    }
}

static void consume_until(struct consumer *c, uint64_t deadline) {
    uint64_t unacked = 0;
    while (now_ns() < deadline && !atomic_load(&drain_done)) {
        struct timeval wait = {.tv_usec = 100000};   /* short, to notice the deadline */
        amqp_envelope_t env;
        amqp_maybe_release_buffers(c->conn);
        amqp_rpc_reply_t reply = amqp_consume_message(c->conn, &env, &wait, 0);
        if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
            on_delivery(c, &env, deadline, &unacked);
            amqp_destroy_envelope(&env);
        } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            handle_consumer_frame(c);
        } else if (!(reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT)) {
            check_reply(reply, c->name, "consuming");
        }
    }
}

static void *run_consumer(void *arg) {
    struct consumer *c = arg;
    c->conn = connect_broker(c->name);
    if (opt.prefetch) {
        amqp_basic_qos(c->conn, 1, 0, (uint16_t)opt.prefetch, 0);
        check_reply(amqp_get_rpc_reply(c->conn), c->name, "basic.qos");
    }
    if (!opt.backlog) subscribe(c);   /* subscribed before the producers start */
    pthread_barrier_wait(&connected);
    pthread_barrier_wait(&go);
    if (opt.backlog) {
        pthread_barrier_wait(&drain_go);
        subscribe(c);
        consume_until(c, drain_deadline);
    } else {
        consume_until(c, run_deadline);
    }
    disconnect(c->conn);
    return NULL;
}

/* ---- options ---- */

static void usage(FILE *out) {
    fprintf(out,
            "usage: rmqc_perf [options]\n"
            "  --host H --port N --user U --password P   broker (127.0.0.1:5672, guest/guest)\n"
            "  --producers P --consumers C --queues Q    threads, one connection each (1 1 1)\n"
            "  --size BYTES        body size, at least 8 (16)\n"
            "  --duration S        timed run length in seconds (10)\n"
            "  --autoack           consume with no-ack\n"
            "  --ack-every N       basic.ack every N deliveries, multiple=true if N > 1 (1)\n"
            "  --prefetch N        basic.qos prefetch count, 0 = no basic.qos (100)\n"
            "  --persistent        delivery_mode 2 and durable queues\n"
            "  --confirm W         publisher confirms, at most W unconfirmed (0 = off)\n"
            "  --rate R            msg/s per producer (0 = unthrottled)\n"
            "  --fanout            publish to fanout exchange " FANOUT_EXCHANGE " bound to all queues\n"
            "  --backlog N         fill each queue with N, then time the drain\n"
            "  --prefix NAME       queue name prefix (rmqc-q-)\n"
            "  --json              print one JSON object\n");
}

static long number(const char *option, const char *text, long min, long max) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || end == text || value < min || value > max) {
        fprintf(stderr, "rmqc_perf: --%s wants a whole number from %ld to %ld, not '%s'\n", option, min, max, text);
        exit(2);
    }
    return value;
}

static double real_number(const char *option, const char *text) {
    char *end;
    double value = strtod(text, &end);
    if (*end || end == text || !(value >= 0) || isinf(value)) {
        fprintf(stderr, "rmqc_perf: --%s wants a number >= 0, not '%s'\n", option, text);
        exit(2);
    }
    return value;
}

static void parse_options(int argc, char **argv) {
    static const struct option options[] = {
        {"host", 1, 0, 'H'},       {"port", 1, 0, 'p'},      {"user", 1, 0, 'u'},      {"password", 1, 0, 'w'},
        {"producers", 1, 0, 'P'},  {"consumers", 1, 0, 'C'}, {"queues", 1, 0, 'Q'},    {"size", 1, 0, 's'},
        {"duration", 1, 0, 'd'},   {"autoack", 0, 0, 'a'},   {"ack-every", 1, 0, 'A'}, {"prefetch", 1, 0, 'f'},
        {"persistent", 0, 0, 'D'}, {"confirm", 1, 0, 'c'},   {"rate", 1, 0, 'r'},      {"fanout", 0, 0, 'F'},
        {"backlog", 1, 0, 'b'},    {"json", 0, 0, 'j'},      {"prefix", 1, 0, 'x'},    {"help", 0, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        const char *name = NULL;
        for (const struct option *o = options; o->name; o++)
            if (o->val == c) name = o->name;
        switch (c) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = (int)number(name, optarg, 1, 65535); break;
        case 'u': opt.user = optarg; break;
        case 'w': opt.password = optarg; break;
        case 'P': opt.producers = (int)number(name, optarg, 0, 10000); break;
        case 'C': opt.consumers = (int)number(name, optarg, 0, 10000); break;
        case 'Q': opt.queues = (int)number(name, optarg, 1, 100000); break;
        case 's': opt.size = number(name, optarg, 8, 128L << 20); break;
        case 'd': opt.duration = real_number(name, optarg); break;
        case 'a': opt.autoack = 1; break;
        case 'A': opt.ack_every = number(name, optarg, 1, 1L << 30); break;
        case 'f': opt.prefetch = (int)number(name, optarg, 0, 65535); break;
        case 'D': opt.persistent = 1; break;
        case 'c': opt.confirm = number(name, optarg, 0, 1L << 24); break;
        case 'r': opt.rate = real_number(name, optarg); break;
        case 'F': opt.fanout = 1; break;
        case 'b': opt.backlog = number(name, optarg, 0, UINT32_MAX); break;
        case 'j': opt.json = 1; break;
        case 'x': opt.prefix = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    const char *problem = NULL;
    if (optind < argc) problem = "unexpected argument";
    else if (opt.duration <= 0) problem = "--duration must be above 0";
    else if (!opt.autoack && opt.prefetch && opt.ack_every > opt.prefetch)
        problem = "--ack-every above --prefetch would stall the consumers";
    else if (opt.backlog && (opt.producers < 1 || opt.consumers < opt.queues))
        problem = "--backlog needs a producer and at least one consumer per queue";
    if (problem) {
        fprintf(stderr, "rmqc_perf: %s\n", problem);
        exit(2);
    }
}

/* ---- main ---- */

static void start_threads(struct producer *producers, struct consumer *consumers) {
    for (int i = 0; i < opt.producers; i++)
        if (pthread_create(&producers[i].thread, NULL, run_producer, &producers[i])) die("cannot start a thread");
    for (int j = 0; j < opt.consumers; j++)
        if (pthread_create(&consumers[j].thread, NULL, run_consumer, &consumers[j])) die("cannot start a thread");
}

static void report(uint64_t sent, uint64_t received, double seconds, double send_rate, const struct histogram *h,
                   double fill_seconds) {
    double receive_rate = received / seconds;
    uint64_t p50 = percentile(h, 0.50), p99 = percentile(h, 0.99), p999 = percentile(h, 0.999);
    if (opt.json) {
        printf("{\"sent\":%lu,\"received\":%lu,\"seconds\":%.3f,\"send_rate\":%.0f,\"receive_rate\":%.0f,"
               "\"latency_us\":{\"p50\":%lu,\"p99\":%lu,\"p999\":%lu,\"max\":%lu}",
               (unsigned long)sent, (unsigned long)received, seconds, send_rate, receive_rate, (unsigned long)p50,
               (unsigned long)p99, (unsigned long)p999, (unsigned long)h->max);
        if (opt.backlog) printf(",\"drain_rate\":%.0f,\"fill_seconds\":%.3f", receive_rate, fill_seconds);
        printf("}\n");
        return;
    }
    if (opt.backlog) printf("filled %lu msg in %.3f s = %.0f msg/s\n", (unsigned long)sent, fill_seconds, send_rate);
    printf("sent %lu msg, received %lu msg in %.3f s\n", (unsigned long)sent, (unsigned long)received, seconds);
    printf("send rate %.0f msg/s, receive rate %.0f msg/s\n", send_rate, receive_rate);
    printf("latency p50 %lu us p99 %lu us p999 %lu us max %lu us\n", (unsigned long)p50, (unsigned long)p99,
           (unsigned long)p999, (unsigned long)h->max);
    if (opt.backlog) printf("drained %lu in %.3f s = %.0f msg/s\n", (unsigned long)received, seconds, receive_rate);
}

int main(int argc, char **argv) {
    parse_options(argc, argv);
    queue_names = calloc((size_t)opt.queues, sizeof *queue_names);
    for (int q = 0; q < opt.queues; q++)
        if (asprintf(&queue_names[q], "%s%d", opt.prefix, q) < 0) die("out of memory");
    struct producer *producers = calloc((size_t)opt.producers + 1, sizeof *producers);
    struct consumer *consumers = calloc((size_t)opt.consumers + 1, sizeof *consumers);
    if (!queue_names || !producers || !consumers) die("out of memory");
    for (int i = 0; i < opt.producers; i++) init_producer(&producers[i], i);
    for (int j = 0; j < opt.consumers; j++) {
        consumers[j].id = j;
        snprintf(consumers[j].name, sizeof consumers[j].name, "consumer %d", j);
    }

    pthread_t dog;
    pthread_create(&dog, NULL, watchdog, NULL);
    arm_watchdog("setup", NET_TIMEOUT_S + GRACE_S);
    setup();

    unsigned workers = (unsigned)(opt.producers + opt.consumers) + 1;
    pthread_barrier_init(&connected, NULL, workers);
    pthread_barrier_init(&go, NULL, workers);
    pthread_barrier_init(&drain_go, NULL, (unsigned)opt.consumers + 1);
    arm_watchdog("connecting", NET_TIMEOUT_S + GRACE_S);
    start_threads(producers, consumers);
    pthread_barrier_wait(&connected);

    /* Timed: the run; backlog: the fill. Both then get max(60 s, 10 x duration). */
    double limit = opt.backlog ? fmax(60, 10 * opt.duration) : opt.duration;
    run_start = now_ns();
    run_deadline = run_start + (uint64_t)(limit * 1e9);
    arm_watchdog(opt.backlog ? "the fill" : "the run", limit + GRACE_S);
    pthread_barrier_wait(&go);

    uint64_t sent = 0, received = 0;
    double seconds = opt.duration, fill_seconds = 0;
    for (int i = 0; i < opt.producers; i++) {
        pthread_join(producers[i].thread, NULL);
        sent += producers[i].sent;
        if (producers[i].cf.nacked)
            fprintf(stderr, "rmqc_perf: warning: %s had %lu publishes nacked\n", producers[i].name,
                    (unsigned long)producers[i].cf.nacked);
    }
    uint64_t drain_start = 0;
    if (opt.backlog) {
        fill_seconds = (now_ns() - run_start) / 1e9;
        check_backlog();
        drain_target = (uint64_t)opt.backlog * (uint64_t)opt.queues;
        drain_start = now_ns();
        drain_deadline = drain_start + (uint64_t)(limit * 1e9);
        arm_watchdog("the drain", limit + GRACE_S);
        pthread_barrier_wait(&drain_go);
    }
    struct histogram *latency = calloc(1, sizeof *latency);
    if (!latency) die("out of memory");
    for (int j = 0; j < opt.consumers; j++) {
        pthread_join(consumers[j].thread, NULL);
        received += consumers[j].received;
        merge(latency, &consumers[j].latency);
    }
    if (opt.backlog) {
        if (!atomic_load(&drain_done))
            die("only %lu of %lu messages drained within %.0f s", (unsigned long)atomic_load(&drained),
                (unsigned long)drain_target, limit);
        seconds = (atomic_load(&drain_end) - drain_start) / 1e9;
    }

    arm_watchdog("cleanup", NET_TIMEOUT_S + GRACE_S);
    cleanup();
    atomic_store(&watchdog_at, 0);
    double send_rate = sent / (opt.backlog ? fill_seconds : seconds);
    report(sent, received, seconds, send_rate, latency, fill_seconds);
    return 0;
}

/* An independent consumer for the backlog benchmarks, written on rabbitmq-c (Debian
 * librabbitmq) rather than on our own `broker perf`: drains COUNT messages from QUEUE with
 * basic.qos PREFETCH and one basic.ack per message (each its own write, as rabbitmq-c sends
 * it), then prints the drain rate. Several run side by side, one per queue.
 *
 *   gcc -O2 -o rmqc_drain rmqc_drain.c $(pkg-config --cflags --libs librabbitmq)
 *   rmqc_drain PORT QUEUE COUNT PREFETCH */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void expect(amqp_rpc_reply_t reply, const char *what) {
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        fprintf(stderr, "rmqc_drain: %s failed (reply type %d)\n", what, reply.reply_type);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: rmqc_drain PORT QUEUE COUNT PREFETCH\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long count = atol(argv[3]);
    int prefetch = atoi(argv[4]);
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket || amqp_socket_open(socket, "127.0.0.1", port) != AMQP_STATUS_OK) {
        fprintf(stderr, "rmqc_drain: cannot connect to port %d\n", port);
        return 1;
    }
    expect(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, 1);
    expect(amqp_get_rpc_reply(conn), "channel.open");
    amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
    expect(amqp_get_rpc_reply(conn), "basic.qos");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(argv[2]), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    expect(amqp_get_rpc_reply(conn), "basic.consume");
    double start = 0;
    for (long i = 0; i < count; i++) {
        amqp_envelope_t envelope;
        struct timeval timeout = {.tv_sec = 30};
        amqp_maybe_release_buffers(conn);
        if (amqp_consume_message(conn, &envelope, &timeout, 0).reply_type != AMQP_RESPONSE_NORMAL) {
            fprintf(stderr, "rmqc_drain: only %ld of %ld messages arrived\n", i, count);
            return 1;
        }
        if (i == 0) start = now();
        amqp_basic_ack(conn, 1, envelope.delivery_tag, 0);
        amqp_destroy_envelope(&envelope);
    }
    double seconds = now() - start;
    printf("drained %ld in %.3f s = %.0f msg/s\n", count, seconds, (count - 1) / seconds);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    return 0;
}

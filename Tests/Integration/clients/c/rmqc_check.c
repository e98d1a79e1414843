/* rabbitmq-c (Debian librabbitmq): publishes COUNT messages of the given sizes, numbered,
 * then consumes them with no_ack and checks each body byte for byte and in order. Exits
 * non-zero with "FAIL: ..." on a deviation, prints "ok rabbitmq-c" when done.
 *
 *   rmqc_check PORT COUNT SIZE...   (message i has size SIZE[i % number of sizes]) */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fail(const char *what) {
    printf("FAIL: %s\n", what);
    exit(1);
}

static void check_reply(amqp_rpc_reply_t reply, const char *what) {
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        char message[256];
        snprintf(message, sizeof message, "%s (reply type %d)", what, reply.reply_type);
        fail(message);
    }
}

/* Message i: its number in the first 8 bytes, then a pattern that depends on i and position. */
static void fill(uint8_t *body, size_t size, uint64_t i) {
    for (size_t k = 0; k < size; k++) body[k] = (uint8_t)((k * 7 + i * 13) % 251);
    for (size_t k = 0; k < 8 && k < size; k++) body[k] = (uint8_t)(i >> (8 * k));
}

int main(int argc, char **argv) {
    if (argc < 4) fail("usage: rmqc_check PORT COUNT SIZE...");
    int port = atoi(argv[1]);
    uint64_t count = strtoull(argv[2], NULL, 10);
    int nsizes = argc - 3;
    size_t *sizes = calloc(nsizes, sizeof *sizes);
    size_t largest = 0;
    for (int s = 0; s < nsizes; s++) {
        sizes[s] = strtoull(argv[3 + s], NULL, 10);
        if (sizes[s] > largest) largest = sizes[s];
    }
    uint8_t *expected = malloc(largest + 1);

    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    if (!socket || amqp_socket_open(socket, "127.0.0.1", port) != AMQP_STATUS_OK) fail("cannot connect");
    check_reply(amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
    amqp_channel_open(conn, 1);
    check_reply(amqp_get_rpc_reply(conn), "channel.open");

    char name[64];
    snprintf(name, sizeof name, "rmqc-check-%d", (int)getpid());
    amqp_bytes_t queue = amqp_cstring_bytes(name);
    amqp_queue_declare(conn, 1, queue, 0, 0, 0, 1, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "queue.declare");

    for (uint64_t i = 0; i < count; i++) {
        size_t size = sizes[i % nsizes];
        fill(expected, size, i);
        amqp_bytes_t body = {.len = size, .bytes = expected};
        if (amqp_basic_publish(conn, 1, amqp_empty_bytes, queue, 0, 0, NULL, body) != AMQP_STATUS_OK) fail("publish");
    }

    amqp_basic_consume(conn, 1, queue, amqp_empty_bytes, 0, /* no_ack */ 1, 0, amqp_empty_table);
    check_reply(amqp_get_rpc_reply(conn), "basic.consume");
    for (uint64_t i = 0; i < count; i++) {
        amqp_envelope_t envelope;
        struct timeval timeout = {.tv_sec = 60};
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t reply = amqp_consume_message(conn, &envelope, &timeout, 0);
        if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
            char message[128];
            snprintf(message, sizeof message, "delivery %llu of %llu did not arrive", (unsigned long long)i, (unsigned long long)count);
            fail(message);
        }
        size_t size = sizes[i % nsizes];
        fill(expected, size, i);
        if (envelope.message.body.len != size || memcmp(envelope.message.body.bytes, expected, size) != 0) {
            char message[160];
            snprintf(message, sizeof message, "delivery %llu: %zu bytes, expected message %llu of %zu bytes",
                     (unsigned long long)i, envelope.message.body.len, (unsigned long long)i, size);
            fail(message);
        }
        amqp_destroy_envelope(&envelope);
    }
    amqp_queue_delete(conn, 1, queue, 0, 0);
    check_reply(amqp_get_rpc_reply(conn), "queue.delete");
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    printf("ok rabbitmq-c\n");
    return 0;
}

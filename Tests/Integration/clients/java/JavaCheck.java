// Drives the broker with the RabbitMQ Java client (Debian's librabbitmq-client-java), the
// client most RabbitMQ users run. One scenario per invocation; exits non-zero with
// "FAIL scenario: ..." on any deviation, prints "ok scenario" (and a table for "large").
//
//   java -cp amqp-client.jar:slf4j-api.jar:. JavaCheck PORT basic
//   java -cp ... JavaCheck PORT large SIZE...
import com.rabbitmq.client.*;

import java.util.*;
import java.util.concurrent.*;

public class JavaCheck {
    static void fail(String scenario, String message) {
        System.out.println("FAIL " + scenario + ": " + message);
        System.exit(1);
    }

    static Connection connect(int port) throws Exception {
        ConnectionFactory factory = new ConnectionFactory();
        factory.setHost("127.0.0.1");
        factory.setPort(port);
        factory.setAutomaticRecoveryEnabled(false);
        return factory.newConnection();
    }

    static byte[] bodyOf(int size) {
        byte[] body = new byte[size];
        for (int i = 0; i < size; i++) body[i] = (byte) (i % 251);
        return body;
    }

    /** Publishes 10,000 messages with confirms, consumes them with manual acks, checks order,
     *  and counts the confirm frames the broker sent (RabbitMQ coalesces with multiple=true). */
    static void basic(int port) throws Exception {
        String scenario = "basic";
        try (Connection conn = connect(port)) {
            Channel ch = conn.createChannel();
            String queue = ch.queueDeclare("", false, true, true, null).getQueue();
            ch.confirmSelect();
            int count = 10_000;
            int[] ackFrames = {0};
            long[] acked = {0};
            ch.addConfirmListener(new ConfirmListener() {
                public void handleAck(long tag, boolean multiple) { ackFrames[0]++; acked[0] = Math.max(acked[0], tag); }
                public void handleNack(long tag, boolean multiple) { fail(scenario, "nack " + tag); }
            });
            for (int i = 0; i < count; i++) {
                ch.basicPublish("", queue, MessageProperties.PERSISTENT_TEXT_PLAIN, ("m" + i).getBytes());
            }
            if (!ch.waitForConfirms(30_000)) fail(scenario, "not every publish was confirmed");
            if (acked[0] != count) fail(scenario, "highest confirmed " + acked[0]);
            System.out.println("confirm frames for " + count + " publishes: " + ackFrames[0]);
            // RabbitMQ 3.10 sends about 1,200 here, most with multiple=true.
            if (ackFrames[0] > count / 2) fail(scenario, ackFrames[0] + " confirm frames for " + count + " publishes: not coalesced");

            Channel consumer = conn.createChannel();
            consumer.basicQos(100);
            BlockingQueue<String> got = new LinkedBlockingQueue<>();
            consumer.basicConsume(queue, false, new DefaultConsumer(consumer) {
                @Override
                public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties properties, byte[] body) throws java.io.IOException {
                    got.add(new String(body));
                    getChannel().basicAck(envelope.getDeliveryTag(), false);
                }
            });
            for (int i = 0; i < count; i++) {
                String message = got.poll(30, TimeUnit.SECONDS);
                if (message == null) fail(scenario, "only " + i + " of " + count + " delivered");
                if (!message.equals("m" + i)) fail(scenario, "delivery " + i + " was " + message);
            }
            Thread.sleep(200);
            if (ch.messageCount(queue) != 0) fail(scenario, "messages left after acking all");
        }
        System.out.println("ok " + scenario);
    }

    /** Persistent bodies with confirms into a durable queue, then basic.get: the time each
     *  takes, as in the table. */
    static void large(int port, String[] sizes) throws Exception {
        String scenario = "large";
        try (Connection conn = connect(port)) {
            Channel ch = conn.createChannel();
            String queue = "java-large-" + UUID.randomUUID();
            ch.queueDeclare(queue, true, false, false, null);
            ch.confirmSelect();
            System.out.println("| body | publish → confirm | basic.get |");
            System.out.println("| ---: | ---: | ---: |");
            for (String s : sizes) {
                int size = Integer.parseInt(s);
                byte[] body = bodyOf(size);
                long start = System.nanoTime();
                ch.basicPublish("", queue, MessageProperties.PERSISTENT_BASIC, body);
                if (!ch.waitForConfirms(120_000)) fail(scenario, "a " + size + "-byte publish was nacked");
                long confirmed = System.nanoTime();
                GetResponse response = ch.basicGet(queue, true);
                long fetched = System.nanoTime();
                if (response == null) fail(scenario, "a confirmed " + size + "-byte message was not in the queue");
                if (!Arrays.equals(response.getBody(), body)) fail(scenario, "a " + size + "-byte body came back changed");
                System.out.printf("| %d | %.3f s | %.3f s |%n", size, (confirmed - start) / 1e9, (fetched - confirmed) / 1e9);
            }
            ch.queueDelete(queue);
        }
        System.out.println("ok " + scenario);
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        switch (args[1]) {
            case "basic": basic(port); break;
            case "large": large(port, Arrays.copyOfRange(args, 2, args.length)); break;
            default: fail(args[1], "unknown scenario");
        }
    }
}

"""Just enough raw AMQP 0-9-1 for tests that need what client libraries do not offer:
methods pika lacks (connection.update-secret) or a client that stops reading its socket."""
import socket
import struct


def shortstr(s):
    b = s.encode()
    return struct.pack("B", len(b)) + b


def longstr(s):
    b = s.encode()
    return struct.pack(">I", len(b)) + b


class RawConnection:
    """Logs in as guest/guest; sends methods and reads frames. `tune` answers
    connection.tune with (channel_max, frame_max) instead of the server's offer (kept in
    `offered`); with `open=False` connection.open is left to the test."""

    def __init__(self, port, receive_buffer=None, tune=None, open=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        assert self.method()[:2] == (10, 10)  # connection.start
        self.send_method(0, 10, 11, struct.pack(">I", 0) + shortstr("PLAIN") + longstr("\0guest\0guest")
                         + shortstr("en_US"))
        class_id, method_id, args = self.method()
        assert (class_id, method_id) == (10, 30)  # connection.tune
        self.offered = struct.unpack(">HIH", args[:8])
        channel_max, frame_max = tune or self.offered[:2]
        self.send_method(0, 10, 31, struct.pack(">HIH", channel_max, frame_max, 0))
        if open:
            self.open_connection()

    def open_connection(self):
        self.send_method(0, 10, 40, shortstr("/") + shortstr("") + b"\x00")
        assert self.method()[:2] == (10, 41)  # connection.open-ok

    def read(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(1 << 20)
            if not data:
                raise EOFError("connection closed by the broker")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        """The next frame as (type, channel, payload)."""
        frame_type, channel, size = struct.unpack(">BHI", self.read(7))
        payload = self.read(size)
        assert self.read(1) == b"\xce"
        return frame_type, channel, payload

    def method(self):
        """The next method frame as (class, method, arguments), skipping other frames."""
        while True:
            frame_type, _, payload = self.frame()
            if frame_type == 1:
                class_id, method_id = struct.unpack(">HH", payload[:4])
                return class_id, method_id, payload[4:]

    def send_method(self, channel, class_id, method_id, args=b""):
        payload = struct.pack(">HH", class_id, method_id) + args
        self.sock.sendall(struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce")

    def open_channel(self, channel=1):
        self.send_method(channel, 20, 10, shortstr(""))
        assert self.method()[:2] == (20, 11)

    def consume(self, queue, channel=1, no_ack=True, tag="raw"):
        flags = 0b10 if no_ack else 0
        self.send_method(channel, 60, 20, struct.pack(">H", 0) + shortstr(queue) + shortstr(tag)
                         + bytes([flags]) + struct.pack(">I", 0))
        assert self.method()[:2] == (60, 21)  # basic.consume-ok

    def update_secret(self, secret, reason):
        self.send_method(0, 10, 70, longstr(secret) + shortstr(reason))
        return self.method()

    def connection_close(self):
        """The connection.close the broker sent: (code, text, class, method)."""
        class_id, method_id, args = self.method()
        assert (class_id, method_id) == (10, 50), (class_id, method_id)
        code, = struct.unpack(">H", args[:2])
        n = args[2]
        failing_class, failing_method = struct.unpack(">HH", args[3 + n:7 + n])
        return code, args[3:3 + n].decode(), failing_class, failing_method

    def close(self):
        self.sock.close()

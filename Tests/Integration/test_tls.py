"""TLS (issue 17): the amqps listener and the telemetry port over HTTPS, with a CA, a server
certificate and client certificates the test makes with `openssl`; pika and rabbitmq-c's
amqp-tools as clients; client certificates optional or required; SASL EXTERNAL naming the
user by the certificate's subject (RabbitMQ's rabbitmq_auth_mechanism_ssl with
ssl_cert_login_from = distinguished_name); allowed protocol versions."""
import os
import shutil
import socket
import ssl
import subprocess
import json
import urllib.error
import urllib.parse
import urllib.request

import pika
import pytest

from conftest import Cluster, free_port, needs_own_broker, unique

CLIENT_SUBJECT = "CN=tls-client,O=Test"


def openssl(*args, cwd):
    if shutil.which("openssl") is None:
        pytest.fail("openssl missing: install openssl (apt-get install openssl, or run Deploy/install-deps.sh)")
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr}"


def make_pki(directory):
    """A CA, a server certificate for localhost and 127.0.0.1, a client certificate it signed,
    a certificate for both roles (a host of `cluster join`: its workers and its router), and
    a client certificate of another CA."""
    d = str(directory)
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                "-subj", f"/CN=broker test {ca}", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    with open(os.path.join(d, "member.ext"), "w") as f:
        f.write("extendedKeyUsage=serverAuth,clientAuth\n")
    for name, subject, ca, ext in [("server", "/CN=localhost", "ca", "server.ext"), ("client", "/O=Test/CN=tls-client", "ca", "client.ext"),
                                   ("member", "/O=Test/CN=cluster-member", "ca", "member.ext"),
                                   ("stranger", "/O=Test/CN=stranger", "other-ca", "client.ext")]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", ext, cwd=d)
    return lambda name: os.path.join(d, name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def start(pki, *extra):
    needs_own_broker("--tls-port", "RabbitMQ's ssl_options")
    tls_port, telemetry_port = free_port(), free_port()
    cluster = Cluster(workers=2, extra_args=[
        "--tls-port", str(tls_port), "--tls-cert-file", pki("server.pem"), "--tls-key-file", pki("server.key"),
        "--tls-ca-file", pki("ca.pem"), "--enable-telemetry", "--telemetry-port", str(telemetry_port), "--telemetry-tls", *extra])
    cluster.tls_port = tls_port
    cluster.api = f"https://127.0.0.1:{telemetry_port}/api"
    return cluster


@pytest.fixture(scope="module")
def broker(pki):
    cluster = start(pki, "--tls-verify", "verify_peer")
    yield cluster
    cluster.stop()


def context(pki, client=None, **versions):
    ctx = ssl.create_default_context(cafile=pki("ca.pem"))
    if client:
        ctx.load_cert_chain(pki(f"{client}.pem"), pki(f"{client}.key"))
    for key, value in versions.items():
        setattr(ctx, key, value)
    return ctx


def tls_params(cluster, pki, client=None, credentials=None, **versions):
    return pika.ConnectionParameters(host="127.0.0.1", port=cluster.tls_port, ssl_options=pika.SSLOptions(context(pki, client, **versions), "localhost"),
                                     credentials=credentials or pika.PlainCredentials("guest", "guest"))


def round_trip(params):
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.confirm_delivery()
        channel.basic_publish("", queue, b"over tls")
        return channel.basic_get(queue, auto_ack=True)[2]


def https_body(cluster, pki, path):
    request = urllib.request.Request(cluster.api + path, headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})  # guest:guest
    with urllib.request.urlopen(request, timeout=15, context=context(pki)) as response:
        return response.read()


def https_get(cluster, pki, path):
    request = urllib.request.Request(cluster.api + path, headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})  # guest:guest
    with urllib.request.urlopen(request, timeout=15, context=context(pki)) as response:
        return response.status


def test_pika_over_tls_with_and_without_a_client_certificate(broker, pki):
    assert round_trip(tls_params(broker, pki)) == b"over tls"  # verify_peer without fail_if_no_peer_cert
    assert round_trip(tls_params(broker, pki, client="client")) == b"over tls"
    assert round_trip(broker.params()) == b"over tls"  # the plain port is still there
    # A certificate of another CA is refused in the handshake.
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(tls_params(broker, pki, client="stranger"))
    # TLS bytes on the plain port, or plain AMQP on the TLS port, get no AMQP session.
    with socket.create_connection(("127.0.0.1", broker.tls_port), timeout=5) as raw:
        raw.sendall(b"AMQP\x00\x00\x09\x01")
        raw.settimeout(5)
        try:
            answer = raw.recv(64)
        except (ConnectionResetError, socket.timeout):
            answer = b""
        assert not answer.startswith(b"\x01\x00\x00")  # no connection.start frame


def test_external_logs_in_the_user_the_certificate_names(broker, pki):
    status = call_https(broker, pki, "PUT", f"/users/{quote(CLIENT_SUBJECT)}", {"tags": ""})
    assert status in (201, 204)
    assert call_https(broker, pki, "PUT", f"/permissions/%2F/{quote(CLIENT_SUBJECT)}",
                      {"configure": ".*", "write": ".*", "read": ".*"}) in (201, 204)
    external = pika.credentials.ExternalCredentials()
    assert round_trip(tls_params(broker, pki, client="client", credentials=external)) == b"over tls"
    with pika.BlockingConnection(tls_params(broker, pki, client="client", credentials=external)):
        listed = json.loads(https_body(broker, pki, "/connections"))
        assert any(c["user"] == CLIENT_SUBJECT and c["auth_mechanism"] == "EXTERNAL" and c["ssl"] for c in listed), listed
    # EXTERNAL without a certificate, or for a certificate naming no user, is refused.
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(tls_params(broker, pki, credentials=external))
    assert call_https(broker, pki, "DELETE", f"/users/{quote(CLIENT_SUBJECT)}") == 204
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(tls_params(broker, pki, client="client", credentials=external))
    assert f"no user '{CLIENT_SUBJECT}'" in broker.log_text()


def test_rabbitmq_c_clients_connect_over_tls(broker, pki):
    missing = [t for t in ("amqp-declare-queue", "amqp-publish", "amqp-get") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: install amqp-tools (apt-get install amqp-tools, or run Deploy/install-deps.sh)")
    url = f"amqps://guest:guest@localhost:{broker.tls_port}"
    queue = unique("tls-c")
    tls = ["--ssl", f"--cacert={pki('ca.pem')}", f"--cert={pki('client.pem')}", f"--key={pki('client.key')}"]

    def tool(name, *args):
        result = subprocess.run([name, "-u", url, *tls, *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        return result.stdout

    tool("amqp-declare-queue", "-q", queue, "-d")
    tool("amqp-publish", "-r", queue, "-b", "from rabbitmq-c over tls")
    assert tool("amqp-get", "-q", queue) == "from rabbitmq-c over tls"
    with broker.connect() as connection:
        connection.channel().queue_delete(queue)


def test_the_telemetry_port_speaks_https_only(broker, pki):
    assert https_get(broker, pki, "/overview") == 200
    plain = broker.api.replace("https://", "http://")
    with pytest.raises(Exception):
        urllib.request.urlopen(plain + "/overview", timeout=5)


def test_required_client_certificates_and_allowed_versions(pki):
    cluster = start(pki, "--tls-verify", "verify_peer", "--tls-fail-if-no-peer-cert", "--tls-version", "tlsv1.3")
    try:
        with pytest.raises(pika.exceptions.AMQPConnectionError, match="CERTIFICATE_REQUIRED"):
            pika.BlockingConnection(tls_params(cluster, pki))  # no certificate
        assert round_trip(tls_params(cluster, pki, client="client")) == b"over tls"
        with pytest.raises((pika.exceptions.AMQPConnectionError, ssl.SSLError), match="PROTOCOL_VERSION"):
            pika.BlockingConnection(tls_params(cluster, pki, client="client", maximum_version=ssl.TLSVersion.TLSv1_2))
        with socket.create_connection(("127.0.0.1", cluster.tls_port), timeout=5) as raw:
            with context(pki, client="client").wrap_socket(raw, server_hostname="localhost") as secure:
                assert secure.version() == "TLSv1.3"
                secure.sendall(b"AMQP\x00\x00\x09\x01")
                assert secure.recv(7)[:3] == b"\x01\x00\x00"  # connection.start on channel 0
    finally:
        cluster.stop()


def quote(name):
    return urllib.parse.quote(name, safe="")


def call_https(cluster, pki, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(cluster.api + path, data=data, method=method,
                                     headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q=", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15, context=context(pki)) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_verify_peer_without_a_ca_file_is_refused_at_start(pki):
    needs_own_broker("--tls-verify", "RabbitMQ's ssl_options")
    # Without one, client certificates would be checked against the system's CA store.
    with pytest.raises(RuntimeError, match="tls_ca_file"):
        Cluster(workers=1, extra_args=["--tls-port", str(free_port()), "--tls-cert-file", pki("server.pem"),
                                       "--tls-key-file", pki("server.key"), "--tls-verify", "verify_peer"])

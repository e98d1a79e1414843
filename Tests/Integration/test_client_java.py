"""The cluster driven by the RabbitMQ Java client (Debian's librabbitmq-client-java 5.0, the
client most RabbitMQ users run), compiled with javac at test time. clients/java/JavaCheck.java
runs one scenario per invocation and exits non-zero with "FAIL scenario: ..." on a deviation."""
import os
import shutil
import subprocess
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "clients", "java", "JavaCheck.java")
JARS = ["/usr/share/java/amqp-client.jar", "/usr/share/java/slf4j-api.jar"]
INSTALL_HINT = "apt-get install openjdk-17-jdk-headless librabbitmq-client-java (or run Deploy/install-deps.sh)"
MiB = 1 << 20


@pytest.fixture(scope="session")
def javacheck():
    """The compiled client's class path."""
    javac = shutil.which("javac")
    if javac is None or shutil.which("java") is None:
        pytest.fail(f"a JDK is missing: {INSTALL_HINT}")
    for jar in JARS:
        if not os.path.exists(jar):
            pytest.fail(f"{jar} is missing: {INSTALL_HINT}")
    classes = tempfile.mkdtemp(prefix="javacheck-")
    build = subprocess.run([javac, "-d", classes, "-cp", ":".join(JARS), SOURCE],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.fail(f"javac {SOURCE} failed:\n{build.stdout}{build.stderr}")
    yield ":".join(JARS + [classes])
    shutil.rmtree(classes, ignore_errors=True)


def run(classpath, cluster, *args, timeout=300):
    try:
        out = subprocess.run(["java", "-cp", classpath, "JavaCheck", str(cluster.port), *args],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"Java scenario {args[0]} hung for {timeout}s; output so far: {e.stdout!r}")
    assert out.returncode == 0, f"Java scenario {args[0]} failed:\n{out.stdout}{out.stderr[-3000:]}"
    assert f"ok {args[0]}" in out.stdout
    return out.stdout


def test_java_publishes_with_confirms_and_consumes_in_order(javacheck, cluster):
    print(run(javacheck, cluster, "basic"))


def test_java_large_persistent_messages_with_confirms_and_basic_get(javacheck, cluster):
    """The issue's matrix: 1, 16, 64 and 128 MiB, persistent with confirms into a durable
    queue, then basic.get; every body comes back intact."""
    print(run(javacheck, cluster, "large", str(MiB), str(16 * MiB), str(64 * MiB), str(128 * MiB)))

"""Users, virtual hosts and permissions (issue 17), as RabbitMQ has them: made through the
management API, `broker ctl` and a definitions import, kept in the data directory, and enforced
on every operation where RabbitMQ checks them, with RabbitMQ's codes and texts. The expected
texts were read from Debian's RabbitMQ 3.10.8 given the same users and operations
(`rabbitmqctl add_user bob secret; set_permissions -p / bob '^bob.*' '^bob.*' '^bob.*'`).

fixtures/rabbitmq-3.10.8-users.json was written by that RabbitMQ (`rabbitmqctl
export_definitions`): bob/secret with ^bob.* on "/", carol/pw (monitoring) with configure and
write .* and read ^$ on the vhost v2, guest; SHA-256 salted hashes in RabbitMQ's format."""
import json
import os
import shutil
import subprocess

import pika
import pytest

from conftest import Cluster, ctl, free_port, needs_own_broker, unique, wait_for
from test_management_api import call, get, q

HERE = os.path.dirname(os.path.abspath(__file__))
USERS_FIXTURE = os.path.join(HERE, "fixtures", "rabbitmq-3.10.8-users.json")
BOB = ("^bob.*", "^bob.*", "^bob.*")


def start(extra=(), runtime_dir=None):
    needs_own_broker("--telemetry-port", "rabbitmqctl and the same pika calls (see the module docstring)")
    port = free_port()
    cluster = Cluster(workers=2, extra_args=["--enable-telemetry", "--telemetry-port", str(port), *extra],
                      runtime_dir=runtime_dir)
    cluster.api = f"http://127.0.0.1:{port}/api"
    return cluster


@pytest.fixture(scope="module")
def broker():
    cluster = start()
    yield cluster
    cluster.stop()


def put_user(cluster, name, password, tags="", permissions=None, vhost="/"):
    status = call(cluster, "PUT", f"/users/{q(name)}", {"password": password, "tags": tags})[0]
    assert status in (201, 204), status
    if permissions:
        body = dict(zip(("configure", "write", "read"), permissions))
        assert call(cluster, "PUT", f"/permissions/{q(vhost)}/{q(name)}", body)[0] in (201, 204)


def connect(cluster, user, password, vhost="/"):
    return pika.BlockingConnection(cluster.params(virtual_host=vhost, credentials=pika.PlainCredentials(user, password)))


def refusal(cluster, user, password, operation, vhost="/"):
    """The channel error `operation(channel)` gets, as (code, text), or None when it works."""
    connection = connect(cluster, user, password, vhost)
    try:
        operation(connection.channel())
        return None
    except pika.exceptions.ChannelClosedByBroker as error:
        return error.reply_code, error.reply_text
    finally:
        if connection.is_open:
            connection.close()


def refused(kind, name, user="bob", vhost="/"):
    return 403, f"ACCESS_REFUSED - access to {kind} '{name}' in vhost '{vhost}' refused for user '{user}'"


def publish(channel, exchange, key, body=b"m"):
    channel.confirm_delivery()
    channel.basic_publish(exchange, key, body)


def test_each_permission_is_refused_and_allowed_where_rabbitmq_checks_it(broker):
    user = unique("bob")
    put_user(broker, user, "secret", permissions=BOB)
    # bob's patterns are ^bob.*: the user name starts with "bob", so do its own objects.
    mine, theirs = unique("bobq"), unique("q")
    with broker.connect() as guest:
        guest.channel().queue_declare(theirs)
    r = lambda operation: refusal(broker, user, "secret", operation)
    # configure: declaring and deleting; a passive declare needs nothing.
    assert r(lambda ch: ch.queue_declare(theirs + "-new")) == refused("queue", theirs + "-new", user)
    assert r(lambda ch: ch.queue_declare(mine)) is None
    assert r(lambda ch: ch.queue_declare(theirs, passive=True)) is None
    assert r(lambda ch: ch.exchange_declare("x-" + mine, "direct")) == refused("exchange", "x-" + mine, user)
    assert r(lambda ch: ch.exchange_declare("amq.direct", "direct", passive=True)) is None
    assert r(lambda ch: ch.queue_delete(theirs)) == refused("queue", theirs, user)
    assert r(lambda ch: ch.queue_declare(mine + "-dl", arguments={"x-dead-letter-exchange": "amq.fanout"})) == \
        refused("exchange", "amq.fanout", user)
    # write: publishing (the default exchange is checked as amq.default) and binding a queue.
    assert r(lambda ch: publish(ch, "", mine)) == refused("exchange", "amq.default", user)
    assert r(lambda ch: publish(ch, "amq.direct", mine)) == refused("exchange", "amq.direct", user)
    assert r(lambda ch: ch.queue_bind(theirs, "amq.direct", "k")) == refused("queue", theirs, user)
    # read: consuming, getting, purging, and the exchange a binding reads from.
    assert r(lambda ch: ch.basic_get(theirs)) == refused("queue", theirs, user)
    assert r(lambda ch: ch.basic_consume(theirs, lambda *a: None)) == refused("queue", theirs, user)
    assert r(lambda ch: ch.queue_purge(theirs)) == refused("queue", theirs, user)
    assert r(lambda ch: ch.queue_bind(mine, "amq.direct", "k")) == refused("exchange", "amq.direct", user)
    assert r(lambda ch: ch.basic_get(mine)) is None
    # A change of permissions is seen by the next operation, without reconnecting.
    connection = connect(broker, user, "secret")
    try:
        channel = connection.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            publish(channel, "", mine)
        assert call(broker, "PUT", f"/permissions/%2F/{user}", {"configure": "^bob.*", "write": ".*", "read": "^bob.*"})[0] == 204
        channel = connection.channel()
        publish(channel, "", mine, b"allowed now")
        assert channel.basic_get(mine, auto_ack=True)[2] == b"allowed now"
    finally:
        connection.close()
    # Without an entry in a vhost, connection.open is refused (530), as for an unknown vhost.
    put_user(broker, "nobody-" + user, "pw")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError, match=f"access to vhost '/' refused for user 'nobody-{user}'"):
        connect(broker, "nobody-" + user, "pw")
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError, match="vhost nowhere not found"):
        connect(broker, user, "secret", vhost="nowhere")
    with broker.connect() as guest:
        guest.channel().queue_delete(theirs)


def test_a_refused_publish_in_a_transaction_fails_it_at_once_and_nothing_of_it_is_delivered(broker):
    user = unique("bob")
    put_user(broker, user, "secret", permissions=("^bob.*", "^amq\\.default$", "^bob.*"))
    mine = unique("bobq")
    connection = connect(broker, user, "secret")
    try:
        channel = connection.channel()
        channel.queue_declare(mine)
        channel.tx_select()
        channel.basic_publish("", mine, b"first, allowed")
        channel.basic_publish("amq.direct", mine, b"second, refused")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            channel.tx_commit()
        assert (closed.value.reply_code, closed.value.reply_text) == refused("exchange", "amq.direct", user)
        assert connection.channel().queue_declare(mine, passive=True).method.message_count == 0
        # Blank passwords never log in (RabbitMQ's internal backend).
        put_user(broker, user + "-blank", "")
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            connect(broker, user + "-blank", "")
    finally:
        connection.close()


def test_rabbitmq_c_clients_get_the_same_refusals(broker):
    tools = ["amqp-declare-queue", "amqp-publish", "amqp-get"]
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: install amqp-tools (apt-get install amqp-tools, or run Deploy/install-deps.sh)")
    user = unique("bob")
    put_user(broker, user, "secret", permissions=("^bob.*", ".*", "^$"))
    url = f"amqp://{user}:secret@127.0.0.1:{broker.port}"

    def tool(name, *args):
        return subprocess.run([name, "-u", url, *args], capture_output=True, text=True, timeout=30)

    mine = unique("bobq")
    assert tool("amqp-declare-queue", "-q", mine).returncode == 0
    denied = tool("amqp-declare-queue", "-q", "other-" + mine)
    assert denied.returncode != 0 and "ACCESS_REFUSED" in denied.stderr, denied
    assert tool("amqp-publish", "-r", mine, "-b", "from rabbitmq-c").returncode == 0  # write is .*
    got = tool("amqp-get", "-q", mine)  # read is ^$: nothing
    assert got.returncode != 0 and f"access to queue '{mine}' in vhost '/' refused" in got.stderr, got
    # Read allowed, write refused: the other way round.
    assert call(broker, "PUT", f"/permissions/%2F/{user}", {"configure": "^bob.*", "write": "^$", "read": ".*"})[0] == 204
    got = tool("amqp-get", "-q", mine)
    assert got.returncode == 0 and got.stdout == "from rabbitmq-c", got
    denied = tool("amqp-publish", "-r", mine, "-b", "refused")
    assert denied.returncode != 0 and "access to exchange 'amq.default' in vhost '/' refused" in denied.stderr, denied
    with broker.connect() as guest:
        channel = guest.channel()
        assert channel.basic_get(mine, auto_ack=True)[2] is None  # the refused publish never arrived
        channel.queue_delete(mine)


def test_vhosts_are_separate_and_deleting_one_closes_its_connections(broker):
    vhost = unique("v")
    assert call(broker, "PUT", f"/vhosts/{vhost}")[0] == 201
    assert call(broker, "PUT", f"/vhosts/{vhost}")[0] == 204
    assert call(broker, "PUT", f"/permissions/{vhost}/guest", {"configure": ".*", "write": ".*", "read": ".*"})[0] == 201
    name = unique("same")
    inside = connect(broker, "guest", "guest", vhost)
    with broker.connect() as outside:
        for connection, body in [(inside, b"in the new vhost"), (outside, b"in /")]:
            channel = connection.channel()
            channel.queue_declare(name, durable=True)
            publish(channel, "", name, body)
        assert outside.channel().basic_get(name, auto_ack=True)[2] == b"in /"
        outside.channel().queue_delete(name)
    listed = get(broker, f"/queues/{vhost}")
    assert [(item["name"], item["vhost"]) for item in listed] == [(name, vhost)]
    assert {v["name"] for v in get(broker, "/vhosts")} >= {"/", vhost}
    # Deleting the vhost closes its connections (320) and takes its queues.
    assert call(broker, "DELETE", f"/vhosts/{vhost}")[0] == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        for _ in range(50):
            inside.process_data_events(0.1)
    assert closed.value.reply_code == 320
    assert call(broker, "GET", f"/queues/{vhost}")[0] == 404
    assert call(broker, "DELETE", f"/vhosts/{vhost}")[0] == 404
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError, match=f"vhost {vhost} not found"):
        connect(broker, "guest", "guest", vhost)


def test_vhost_limits_refuse_connections_and_queues_beyond_them(broker):
    vhost = unique("limited")
    assert call(broker, "PUT", f"/vhosts/{vhost}")[0] == 201
    assert call(broker, "PUT", f"/permissions/{vhost}/guest", {"configure": ".*", "write": ".*", "read": ".*"})[0] == 201
    assert call(broker, "PUT", f"/vhost-limits/{vhost}/max-connections", {"value": 2})[0] == 204
    assert call(broker, "PUT", f"/vhost-limits/{vhost}/max-queues", {"value": 1})[0] == 204
    assert get(broker, f"/vhost-limits/{vhost}") == [{"vhost": vhost, "value": {"max-connections": 2, "max-queues": 1}}]
    first, second = connect(broker, "guest", "guest", vhost), connect(broker, "guest", "guest", vhost)
    # RabbitMQ 3.10's words, read from it with the same limits.
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError,
                       match=f"access to vhost '{vhost}' refused for user 'guest': connection limit \\(2\\) is reached"):
        connect(broker, "guest", "guest", vhost)
    with broker.connect():
        pass  # other vhosts are not counted
    second.close()
    third = connect(broker, "guest", "guest", vhost)  # the place was given back
    channel = first.channel()
    channel.queue_declare("lq1")
    channel.queue_declare("lq1")  # an existing one is not counted again
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused_queue:
        channel.queue_declare("lq2")
    assert (refused_queue.value.reply_code, refused_queue.value.reply_text) == \
        (406, f"PRECONDITION_FAILED - cannot declare queue 'lq2': queue limit in vhost '{vhost}' (1) is reached")
    assert call(broker, "PUT", f"/queues/{vhost}/lq3", {})[:2] == \
        (400, {"error": "bad_request", "reason": f"cannot declare queue 'lq3': queue limit in vhost '{vhost}' (1) is reached"})
    assert call(broker, "DELETE", f"/vhost-limits/{vhost}/max-connections")[0] == 204
    connect(broker, "guest", "guest", vhost).close()
    for connection in (first, third):
        connection.close()
    assert call(broker, "DELETE", f"/vhosts/{vhost}")[0] == 204


def test_users_exported_by_rabbitmq_log_in_with_their_passwords_and_permissions(broker):
    with open(USERS_FIXTURE) as f:
        definitions = json.load(f)
    assert call(broker, "POST", "/definitions", definitions)[0] in (201, 204)
    assert {u["name"]: u["password_hash"] for u in get(broker, "/users")}["bob"] == "iIS16IFWJ4vxjFbdHku6Vx7TAFDQjEEfTqL+tuiMCSmzf5s4"
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(broker, "bob", "wrong")
    assert refusal(broker, "bob", "secret", lambda ch: ch.queue_declare("bob-imported", auto_delete=True)) is None
    assert refusal(broker, "bob", "secret", lambda ch: ch.queue_declare("imported")) == refused("queue", "imported")
    # carol: configure and write .* on v2, read ^$; the monitoring tag reads the API, changes nothing.
    queue = unique("carols")
    assert refusal(broker, "carol", "pw", lambda ch: (ch.queue_declare(queue), publish(ch, "", queue)), vhost="v2") is None
    assert refusal(broker, "carol", "pw", lambda ch: ch.basic_get(queue), vhost="v2") == refused("queue", queue, "carol", "v2")
    assert get(broker, "/whoami", auth=("carol", "pw")) == {"name": "carol", "tags": ["monitoring"]}
    assert call(broker, "PUT", "/vhosts/carols", auth=("carol", "pw"))[:2] == \
        (401, {"error": "not_authorised", "reason": "Not administrator user"})
    with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
        connect(broker, "carol", "pw")  # no permissions on "/"
    # bob has no management tag: RabbitMQ's management plugin refuses him.
    assert call(broker, "GET", "/overview", auth=("bob", "secret"))[:2] == \
        (401, {"error": "not_authorised", "reason": "Not management user"})
    # The export carries the hashes RabbitMQ reads back.
    exported = get(broker, "/definitions")
    assert {"user": "carol", "vhost": "v2", "configure": ".*", "write": ".*", "read": "^$"} in exported["permissions"]
    assert {u["name"]: u["hashing_algorithm"] for u in exported["users"]}["carol"] == "rabbit_password_hashing_sha256"
    assert call(broker, "DELETE", "/vhosts/v2")[0] == 204
    for name in ("bob", "carol"):
        assert call(broker, "DELETE", f"/users/{name}")[0] == 204


def test_a_definitions_document_with_an_error_changes_nothing(broker):
    user, vhost = unique("partial"), unique("partial-v")
    document = {"users": [{"name": user, "password": "pw", "tags": ""}], "vhosts": [{"name": vhost}],
                "permissions": [{"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}],
                "exchanges": [{"name": "x", "vhost": vhost, "type": "no-such-type", "durable": True}]}
    status, body, _ = call(broker, "POST", "/definitions", document)
    assert (status, body) == (400, {"error": "bad_request", "reason": "unknown exchange type 'no-such-type'"})
    assert call(broker, "GET", f"/users/{user}")[0] == 404
    assert call(broker, "GET", f"/vhosts/{vhost}")[0] == 404
    bad_pattern = dict(document, exchanges=[], permissions=[dict(document["permissions"][0], read="(")])
    assert call(broker, "POST", "/definitions", bad_pattern)[:2] == \
        (400, {"error": "bad_request", "reason": "read: '(' is not a regular expression"})
    assert call(broker, "GET", f"/users/{user}")[0] == 404


def test_a_management_user_changes_only_what_its_permissions_allow_and_sees_only_its_vhosts(broker):
    user, other = unique("bob"), unique("hidden")
    put_user(broker, user, "pw", tags="management", permissions=BOB)
    assert call(broker, "PUT", f"/vhosts/{other}")[0] == 201
    me = (user, "pw")
    mine, theirs = unique("bobq"), unique("q")
    assert call(broker, "PUT", f"/queues/%2F/{mine}", {"auto_delete": False}, auth=me)[0] == 201
    assert call(broker, "PUT", f"/queues/%2F/{theirs}", {}, auth=me)[:2] == \
        (401, {"error": "not_authorised", "reason": f"access to queue '{theirs}' in vhost '/' refused for user '{user}'"})
    assert call(broker, "POST", f"/bindings/%2F/e/amq.direct/q/{mine}", {"routing_key": "k"}, auth=me)[:2] == \
        (401, {"error": "not_authorised", "reason": f"access to exchange 'amq.direct' in vhost '/' refused for user '{user}'"})
    assert call(broker, "PUT", f"/queues/{other}/{mine}", {}, auth=me)[:2] == \
        (401, {"error": "not_authorised", "reason": "User not authorised to access virtual host"})
    assert call(broker, "GET", "/users", auth=me)[0] == 401
    assert {v["name"] for v in get(broker, "/vhosts", auth=me)} == {"/"}
    assert {v["name"] for v in get(broker, "/vhosts")} >= {"/", other}
    assert call(broker, "GET", f"/queues/{other}", auth=me)[0] == 404
    assert call(broker, "DELETE", f"/queues/%2F/{mine}", auth=me)[0] == 204
    assert call(broker, "DELETE", f"/vhosts/{other}")[0] == 204
    # It sees and closes only its own connections.
    own, guests = connect(broker, user, "pw"), broker.connect()
    try:
        def names(auth):
            return {(c["user"], c["name"]) for c in get(broker, "/connections", auth=auth)}
        assert wait_for(lambda: {u for u, _ in names(me)} == {user} and {"guest", user} <= {u for u, _ in names(("guest", "guest"))})
        guest_connection = next(n for u, n in names(("guest", "guest")) if u == "guest")
        own_connection = next(n for u, n in names(me))
        assert call(broker, "DELETE", f"/connections/{q(guest_connection)}", auth=me)[0] == 404
        assert call(broker, "DELETE", f"/connections/{q(own_connection)}", auth=me)[0] == 204
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker):
            for _ in range(50):
                own.process_data_events(0.1)
        assert guests.is_open
    finally:
        for connection in (own, guests):
            if connection.is_open:
                connection.close()


def test_users_made_with_broker_ctl_survive_a_restart_and_a_deleted_guest_stays_deleted(tmp_path):
    cluster = start()
    runtime = cluster.runtime_dir
    try:
        ctl(cluster, "add_user", "dave", "pw1")
        assert "already exists" in ctl(cluster, "add_user", "dave", "pw1", ok=False).stderr
        ctl(cluster, "set_permissions", "dave", ".*", ".*", ".*")
        ctl(cluster, "change_password", "dave", "pw2")
        ctl(cluster, "set_user_tags", "dave", "administrator")
        ctl(cluster, "add_vhost", "kept")
        ctl(cluster, "set_permissions", "-p", "kept", "dave", "^dave", "^dave", "^dave")
        ctl(cluster, "set_vhost_limits", "-p", "kept", '{"max-connections": 5}')
        assert "max-connections" in ctl(cluster, "list_vhost_limits").stdout
        assert "dave" in ctl(cluster, "list_users").stdout
        assert "^dave" in ctl(cluster, "list_permissions", "-p", "kept").stdout
        assert "kept" in ctl(cluster, "list_user_permissions", "dave").stdout
        with connect(cluster, "dave", "pw2", "kept") as connection:
            connection.channel().queue_declare("dave-durable", durable=True)
        assert call(cluster, "DELETE", "/users/guest", auth=("dave", "pw2"))[0] == 204
    finally:
        cluster.stop()
    cluster = start(runtime_dir=runtime)
    try:
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            connect(cluster, "guest", "guest")  # not made again on a later start
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            connect(cluster, "dave", "pw1")
        with connect(cluster, "dave", "pw2", "kept") as connection:
            connection.channel().queue_declare("dave-durable", passive=True)
        assert get(cluster, "/whoami", auth=("dave", "pw2"))["tags"] == ["administrator"]
        dave = ("dave", "pw2")
        assert get(cluster, "/vhost-limits/kept", auth=dave) == [{"vhost": "kept", "value": {"max-connections": 5}}]  # kept too
        ctl(cluster, "clear_vhost_limits", "-p", "kept")
        assert get(cluster, "/vhost-limits", auth=dave) == []
        ctl(cluster, "clear_permissions", "-p", "kept", "dave")
        with pytest.raises(pika.exceptions.ProbableAccessDeniedError):
            connect(cluster, "dave", "pw2", "kept")
        ctl(cluster, "delete_vhost", "kept")
        ctl(cluster, "delete_user", "dave")
        assert "dave" not in ctl(cluster, "list_users").stdout
    finally:
        cluster.stop()

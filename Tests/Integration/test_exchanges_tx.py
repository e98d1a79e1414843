"""Exchange-to-exchange bindings, alternate exchanges, and transactions (pika)."""
import pytest
from pika.exceptions import ChannelClosedByBroker

from conftest import queues_on_distinct_partitions, get_all


def test_exchange_to_exchange_bindings_route_through_and_unbind_stops_them(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.exchange_declare("e2e-front", "topic", auto_delete=True)
    ch.exchange_declare("e2e-back", "fanout", auto_delete=True)
    q1, q2 = queues_on_distinct_partitions("e2e", cluster.workers, 2)
    for q in (q1, q2):
        ch.queue_declare(q, exclusive=True)
    ch.queue_bind(q1, "e2e-front", "direct.#")
    ch.queue_bind(q2, "e2e-back")
    ch.exchange_bind(destination="e2e-back", source="e2e-front", routing_key="fwd.*")
    ch.exchange_bind(destination="e2e-front", source="e2e-back", routing_key="#")  # a cycle must not loop
    ch.basic_publish("e2e-front", "fwd.one", b"via-back")
    ch.basic_publish("e2e-front", "direct.x", b"direct")
    assert get_all(ch, q2) == [b"via-back"]
    # The cycle back to e2e-front is not followed again (RabbitMQ tracks visited exchanges),
    # and "fwd.one" does not match "direct.#" anyway.
    assert get_all(ch, q1) == [b"direct"]
    ch.exchange_unbind(destination="e2e-back", source="e2e-front", routing_key="fwd.*")
    ch.basic_publish("e2e-front", "fwd.two", b"dropped")
    assert get_all(ch, q2) == []
    conn.close()


def test_exchange_bind_to_a_missing_exchange_is_404(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.exchange_bind(destination="nope-dest", source="amq.direct", routing_key="k")
    assert info.value.reply_code == 404
    assert info.value.reply_text == "NOT_FOUND - no exchange 'nope-dest' in vhost '/'"
    conn.close()


def test_alternate_exchange_receives_what_the_exchange_cannot_route(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    ch.exchange_declare("ae-catch", "fanout", auto_delete=False)
    ch.exchange_declare("ae-main", "direct", auto_delete=False, arguments={"alternate-exchange": "ae-catch"})
    main_q = ch.queue_declare("", exclusive=True).method.queue
    stray_q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(main_q, "ae-main", "known")
    ch.queue_bind(stray_q, "ae-catch")
    ch.confirm_delivery()
    ch.basic_publish("ae-main", "known", b"routed")
    ch.basic_publish("ae-main", "unknown", b"stray", mandatory=True)  # routed via the AE: not returned
    assert get_all(ch, main_q) == [b"routed"]
    assert get_all(ch, stray_q) == [b"stray"]
    ch.exchange_delete("ae-main")
    ch.exchange_delete("ae-catch")
    conn.close()


def test_tx_commit_publishes_and_acks_and_rollback_discards(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    q1, q2 = queues_on_distinct_partitions("txq", cluster.workers, 2)
    for q in (q1, q2):
        ch.queue_declare(q, exclusive=True)
    ch.tx_select()
    ch.basic_publish("", q1, b"a")
    ch.basic_publish("", q2, b"b")
    other = conn.channel()
    assert other.queue_declare(q1, passive=True).method.message_count == 0  # not before commit
    ch.tx_commit()
    assert other.queue_declare(q1, passive=True).method.message_count == 1
    assert other.queue_declare(q2, passive=True).method.message_count == 1
    ch.basic_publish("", q1, b"never")
    ch.tx_rollback()
    ch.tx_commit()
    assert other.queue_declare(q1, passive=True).method.message_count == 1
    # An ack in a transaction takes effect at commit; a rolled-back ack does not.
    method, _, _ = ch.basic_get(q1)
    ch.basic_ack(method.delivery_tag)
    ch.tx_rollback()
    ch.close()  # the un-acked message is requeued
    assert other.queue_declare(q1, passive=True).method.message_count == 1
    ch = conn.channel()
    ch.tx_select()
    method, _, _ = ch.basic_get(q1)
    ch.basic_ack(method.delivery_tag)
    ch.tx_commit()
    ch.close()
    assert other.queue_declare(q1, passive=True).method.message_count == 0
    conn.close()


def test_tx_commit_without_select_is_406_and_modes_do_not_mix(cluster):
    conn = cluster.connect()
    ch = conn.channel()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.tx_commit()
    assert info.value.reply_code == 406
    ch = conn.channel()
    ch.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as info:
        ch.tx_select()
    assert info.value.reply_code == 406
    conn.close()

"""A publisher that keeps the same exchange and routing key while other connections change
the bindings and queues under it (pika). The router reuses a connection's last route until
the topology changes; these check that every change is seen by the very next publish."""
from conftest import get_all, queues_on_distinct_partitions, unique


def test_same_key_follows_binds_unbinds_and_deletes_made_elsewhere(cluster):
    publisher, admin = cluster.connect(), cluster.connect()
    pub, adm = publisher.channel(), admin.channel()
    pub.confirm_delivery()  # each publish returns once its queues hold it (or it was unroutable)
    exchange = unique("rc-x")
    q1, q2 = queues_on_distinct_partitions(unique("rc"), cluster.workers, 2)
    adm.exchange_declare(exchange, "direct")
    for q in (q1, q2):
        adm.queue_declare(q)
    adm.queue_bind(q1, exchange, "k")

    pub.basic_publish(exchange, "k", b"1")
    adm.queue_bind(q2, exchange, "k")
    pub.basic_publish(exchange, "k", b"2")
    adm.queue_unbind(q1, exchange, "k")
    pub.basic_publish(exchange, "k", b"3")
    adm.queue_delete(q2)
    pub.basic_publish(exchange, "k", b"4")
    adm.queue_declare(q2)
    adm.queue_bind(q2, exchange, "k")
    pub.basic_publish(exchange, "k", b"5")

    assert get_all(adm, q1) == [b"1", b"2"]
    assert get_all(adm, q2) == [b"5"]
    adm.queue_delete(q1)
    adm.queue_delete(q2)
    adm.exchange_delete(exchange)
    publisher.close()
    admin.close()


def test_default_exchange_key_routes_once_the_queue_exists_and_not_after_it_is_gone(cluster):
    publisher, admin = cluster.connect(), cluster.connect()
    pub, adm = publisher.channel(), admin.channel()
    pub.confirm_delivery()  # each publish returns once its queues hold it (or it was unroutable)
    queue = unique("rc-default")
    pub.basic_publish("", queue, b"before")
    adm.queue_declare(queue)
    pub.basic_publish("", queue, b"during")
    assert get_all(adm, queue) == [b"during"]
    adm.queue_delete(queue)
    pub.basic_publish("", queue, b"after")
    adm.queue_declare(queue)
    assert get_all(adm, queue) == []
    adm.queue_delete(queue)
    publisher.close()
    admin.close()

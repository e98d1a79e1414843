// amqpcheck drives the broker with Go's amqp091-go (github.com/rabbitmq/amqp091-go) and
// checks that it behaves as RabbitMQ does. Usage:
//
//	amqpcheck -url amqp://guest:guest@127.0.0.1:5672/ -workers 3 SCENARIO
//
// It prints "ok SCENARIO" and exits 0 on success; on any deviation it prints
// "FAIL SCENARIO: what happened" to stderr and exits 1. Scenarios: tags, confirms,
// mandatory, errors, topic_headers, get_qos, e2e_tx, inequivalent, priority,
// consumer_priority, global_qos, reply_to, delayed, cc_bcc, worker-restart (with -seconds,
// while the caller restarts worker 1).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	url      = flag.String("url", "amqp://guest:guest@127.0.0.1:5672/", "broker URL")
	workers  = flag.Int("workers", 3, "number of workers (partitions) in the cluster")
	seconds  = flag.Int("seconds", 8, "how long worker-restart publishes")
	scenario string
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", scenario, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

// fnv1a64 and partitionOf reimplement the placement hash (README: fnv1a64(vhost + "\0" +
// queue) mod N) independently of the broker's code.
func fnv1a64(data []byte) uint64 {
	h := uint64(0xcbf29ce484222325)
	for _, b := range data {
		h ^= uint64(b)
		h *= 0x100000001b3
	}
	return h
}

func partitionOf(queue string, partitions int) int {
	return int(fnv1a64([]byte("/\x00"+queue)) % uint64(partitions))
}

// queuesOnDistinctPartitions names prefix-N, one per partition 0..count-1 (as conftest.py).
func queuesOnDistinctPartitions(prefix string, count int) []string {
	found := map[int]string{}
	for i := 0; len(found) < count; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		p := partitionOf(name, *workers)
		if _, ok := found[p]; p < count && !ok {
			found[p] = name
		}
	}
	names := make([]string, count)
	for p := 0; p < count; p++ {
		names[p] = found[p]
	}
	return names
}

func dial() *amqp.Connection {
	conn, err := amqp.Dial(*url)
	must(err, "dial "+*url)
	return conn
}

func channel(conn *amqp.Connection) *amqp.Channel {
	ch, err := conn.Channel()
	must(err, "channel.open")
	return ch
}

func publish(ch *amqp.Channel, exchange, key string, mandatory bool, body string, headers amqp.Table) {
	must(ch.Publish(exchange, key, mandatory, false, amqp.Publishing{Body: []byte(body), Headers: headers}),
		fmt.Sprintf("publish %q to exchange %q key %q", body, exchange, key))
}

// getAll drains a queue with basic.get (auto-ack) and returns the bodies in order.
func getAll(ch *amqp.Channel, queue string) []string {
	out := []string{}
	for {
		d, ok, err := ch.Get(queue, true)
		must(err, "basic.get "+queue)
		if !ok {
			return out
		}
		out = append(out, string(d.Body))
	}
}

func count(ch *amqp.Channel, queue string) int {
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	must(err, "passive queue.declare "+queue)
	return q.Messages
}

// expectChannelClose waits for the broker to close the channel and checks code and text.
func expectChannelClose(closes chan *amqp.Error, code int, text string, what string) {
	select {
	case e := <-closes:
		if e == nil {
			fail("%s: channel closed without an error, want %d %q", what, code, text)
		}
		if e.Code != code || (text != "" && e.Reason != text) {
			fail("%s: channel closed with %d %q, want %d %q", what, e.Code, e.Reason, code, text)
		}
	case <-time.After(10 * time.Second):
		fail("%s: channel was not closed by the broker within 10s (want %d %q)", what, code, text)
	}
}

// --- scenarios ---------------------------------------------------------------------------

// tags: one channel consumes from queues on three workers with manual ack. The delivery
// tags are exactly 1..N (each consumer sees them increasing); basic.ack(multiple) of a
// middle tag acks exactly the earlier ones: after the channel closes only the later ones
// come back, redelivered.
func scenarioTags() {
	conn := dial()
	defer conn.Close()
	names := queuesOnDistinctPartitions("go-tags", 3)
	ch := channel(conn)
	for _, n := range names {
		_, err := ch.QueueDeclare(n, false, false, true, false, nil)
		must(err, "queue.declare "+n)
	}
	const rounds = 4
	total := rounds * len(names)
	for r := 0; r < rounds; r++ {
		for _, n := range names {
			publish(ch, "", n, false, fmt.Sprintf("%s:%d", n, r), nil)
		}
	}
	type got struct {
		tag  uint64
		body string
	}
	all := make(chan got, total*2)
	perConsumer := make([][]uint64, len(names))
	done := make(chan int, len(names))
	for i, n := range names {
		ds, err := ch.Consume(n, "", false, false, false, false, nil)
		must(err, "basic.consume "+n)
		go func(i int, ds <-chan amqp.Delivery) {
			for d := range ds {
				if d.Redelivered {
					fail("first delivery of %q has redelivered=true", d.Body)
				}
				perConsumer[i] = append(perConsumer[i], d.DeliveryTag)
				all <- got{d.DeliveryTag, string(d.Body)}
			}
			done <- i
		}(i, ds)
	}
	received := []got{}
	deadline := time.After(10 * time.Second)
	for len(received) < total {
		select {
		case g := <-all:
			received = append(received, g)
		case <-deadline:
			fail("received %d of %d deliveries within 10s: %v", len(received), total, received)
		}
	}
	select {
	case g := <-all:
		fail("unexpected extra delivery %v", g)
	case <-time.After(300 * time.Millisecond):
	}
	sort.Slice(received, func(a, b int) bool { return received[a].tag < received[b].tag })
	for i, g := range received {
		if g.tag != uint64(i+1) {
			fail("delivery tags on one channel must be exactly 1..%d; got %v", total, received)
		}
	}
	for i, tags := range perConsumer {
		if len(tags) != rounds {
			fail("consumer of %s got %d deliveries, want %d", names[i], len(tags), rounds)
		}
		for j := 1; j < len(tags); j++ {
			if tags[j] <= tags[j-1] {
				fail("consumer of %s saw tags out of order: %v", names[i], tags)
			}
		}
	}
	const middle = 7
	must(ch.Ack(middle, true), "basic.ack multiple")
	must(ch.Close(), "channel.close")
	for range names {
		<-done
	}
	want := []string{}
	for _, g := range received {
		if g.tag > middle {
			want = append(want, g.body)
		}
	}
	ch2 := channel(conn)
	back := []string{}
	for _, n := range names {
		for {
			d, ok, err := ch2.Get(n, true)
			must(err, "basic.get "+n)
			if !ok {
				break
			}
			if !d.Redelivered {
				fail("message %q came back without redelivered=true", d.Body)
			}
			back = append(back, string(d.Body))
		}
	}
	sort.Strings(want)
	sort.Strings(back)
	if !reflect.DeepEqual(want, back) {
		fail("after ack(%d, multiple) and channel close, want exactly %v back, got %v", middle, want, back)
	}
}

// confirms: publisher confirms to a fanout exchange bound to queues on three workers;
// every publish is acked (never nacked), tags 1..N, and each queue holds all N.
func scenarioConfirms() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	names := queuesOnDistinctPartitions("go-confirm", 3)
	must(ch.ExchangeDeclare("go-confirm-fanout", "fanout", false, false, false, false, nil), "exchange.declare")
	for _, n := range names {
		_, err := ch.QueueDeclare(n, false, false, true, false, nil)
		must(err, "queue.declare "+n)
		must(ch.QueueBind(n, "", "go-confirm-fanout", false, nil), "queue.bind "+n)
	}
	must(ch.Confirm(false), "confirm.select")
	const n = 50
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, n))
	for i := 0; i < n; i++ {
		publish(ch, "go-confirm-fanout", "", false, fmt.Sprintf("m%d", i), nil)
	}
	seen := map[uint64]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case c := <-confirms:
			if !c.Ack {
				fail("publish %d was nacked", c.DeliveryTag)
			}
			if c.DeliveryTag < 1 || c.DeliveryTag > n || seen[c.DeliveryTag] {
				fail("unexpected confirm tag %d", c.DeliveryTag)
			}
			seen[c.DeliveryTag] = true
		case <-deadline:
			fail("only %d of %d publishes confirmed within 10s", len(seen), n)
		}
	}
	for _, q := range names {
		if c := count(ch, q); c != n {
			fail("queue %s (worker %d) holds %d messages after %d confirmed publishes", q, partitionOf(q, *workers), c, n)
		}
	}
	must(func() error { _, err := ch.QueueDelete(names[0], false, false, false); return err }(), "queue.delete")
	must(ch.ExchangeDelete("go-confirm-fanout", false, false), "exchange.delete")
}

// mandatory: an unroutable mandatory publish comes back as basic.return 312 NO_ROUTE with
// its body; in confirm mode it is still acked, and a non-mandatory unroutable publish is
// simply acked. (The wire order return-then-ack cannot be observed through amqp091-go, which
// hands returns and confirms to separate Go channels.)
func scenarioMandatory() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	returns := ch.NotifyReturn(make(chan amqp.Return, 4))
	must(ch.Confirm(false), "confirm.select")
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 4))
	publish(ch, "amq.direct", "go-nobody-home", true, "x", nil)
	select {
	case r := <-returns:
		if r.ReplyCode != 312 || r.ReplyText != "NO_ROUTE" || string(r.Body) != "x" ||
			r.Exchange != "amq.direct" || r.RoutingKey != "go-nobody-home" {
			fail("basic.return = %d %q exchange %q key %q body %q; want 312 NO_ROUTE amq.direct go-nobody-home x",
				r.ReplyCode, r.ReplyText, r.Exchange, r.RoutingKey, r.Body)
		}
	case <-time.After(10 * time.Second):
		fail("no basic.return within 10s for a mandatory unroutable publish")
	}
	select {
	case c := <-confirms:
		if !c.Ack || c.DeliveryTag != 1 {
			fail("returned publish confirmed as %+v, want ack of tag 1", c)
		}
	case <-time.After(10 * time.Second):
		fail("returned publish not confirmed within 10s")
	}
	publish(ch, "", "go-no-such-queue", false, "y", nil)
	select {
	case c := <-confirms:
		if !c.Ack || c.DeliveryTag != 2 {
			fail("non-mandatory unroutable publish confirmed as %+v, want ack of tag 2", c)
		}
	case r := <-returns:
		fail("non-mandatory publish was returned: %d %s", r.ReplyCode, r.ReplyText)
	case <-time.After(10 * time.Second):
		fail("non-mandatory unroutable publish not confirmed within 10s")
	}
	// Without confirms, to the default exchange.
	ch2 := channel(conn)
	returns2 := ch2.NotifyReturn(make(chan amqp.Return, 1))
	publish(ch2, "", "go-no-such-queue", true, "z", nil)
	select {
	case r := <-returns2:
		if r.ReplyCode != 312 || r.ReplyText != "NO_ROUTE" || string(r.Body) != "z" {
			fail("basic.return = %d %q body %q; want 312 NO_ROUTE z", r.ReplyCode, r.ReplyText, r.Body)
		}
	case <-time.After(10 * time.Second):
		fail("no basic.return within 10s (default exchange, no confirms)")
	}
}

// errors: passive declare of a missing queue closes the channel with 404 and RabbitMQ's
// text; the connection stays open; an ack of an unknown tag closes the channel with 406.
func scenarioErrors() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	_, err := ch.QueueDeclarePassive("go-surely-missing", false, false, false, false, nil)
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		fail("passive declare of a missing queue returned %v, want a 404 channel error", err)
	}
	if ae.Code != 404 || ae.Reason != "NOT_FOUND - no queue 'go-surely-missing' in vhost '/'" || !ae.Server {
		fail("passive declare of a missing queue: got %d %q (server=%v), want 404 %q", ae.Code, ae.Reason, ae.Server,
			"NOT_FOUND - no queue 'go-surely-missing' in vhost '/'")
	}
	if conn.IsClosed() {
		fail("a channel error closed the connection")
	}
	ch = channel(conn) // the connection still works
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	must(ch.Ack(42, false), "basic.ack 42")
	expectChannelClose(closes, 406, "PRECONDITION_FAILED - unknown delivery tag 42", "ack of unknown tag 42")
	ch = channel(conn)
	closes = ch.NotifyClose(make(chan *amqp.Error, 1))
	publish(ch, "go-no-such-exchange", "k", false, "x", nil)
	expectChannelClose(closes, 404, "NOT_FOUND - no exchange 'go-no-such-exchange' in vhost '/'", "publish to a missing exchange")
	ch = channel(conn)
	_, err = ch.QueueDeclare("", false, false, true, false, nil)
	must(err, "queue.declare on a fresh channel after three channel errors")
}

// topic_headers: topic matching (*, #, # matching zero words) and headers x-match all/any,
// with the bound queues on three workers.
func scenarioTopicHeaders() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	qs := queuesOnDistinctPartitions("go-topic", 3)
	must(ch.ExchangeDeclare("go-topic-x", "topic", false, true, false, false, nil), "exchange.declare topic")
	for _, q := range qs {
		_, err := ch.QueueDeclare(q, false, false, true, false, nil)
		must(err, "queue.declare "+q)
	}
	must(ch.QueueBind(qs[0], "a.*", "go-topic-x", false, nil), "bind a.*")
	must(ch.QueueBind(qs[1], "a.#", "go-topic-x", false, nil), "bind a.#")
	must(ch.QueueBind(qs[2], "*.b.#", "go-topic-x", false, nil), "bind *.b.#")
	for _, k := range []string{"a", "a.b", "a.b.c", "x.b", "b", "x.y"} {
		publish(ch, "go-topic-x", k, false, k, nil)
	}
	want := [][]string{{"a.b"}, {"a", "a.b", "a.b.c"}, {"a.b", "a.b.c", "x.b"}}
	for i, q := range qs {
		if got := getAll(ch, q); !reflect.DeepEqual(got, want[i]) {
			fail("topic: queue %s got %v, want %v", q, got, want[i])
		}
	}
	hq := queuesOnDistinctPartitions("go-headers", 3)
	must(ch.ExchangeDeclare("go-headers-x", "headers", false, true, false, false, nil), "exchange.declare headers")
	for _, q := range hq {
		_, err := ch.QueueDeclare(q, false, false, true, false, nil)
		must(err, "queue.declare "+q)
	}
	must(ch.QueueBind(hq[0], "", "go-headers-x", false, amqp.Table{"x-match": "all", "format": "pdf", "type": "report"}), "bind all")
	must(ch.QueueBind(hq[1], "", "go-headers-x", false, amqp.Table{"x-match": "any", "format": "pdf", "type": "log"}), "bind any")
	must(ch.QueueBind(hq[2], "", "go-headers-x", false, amqp.Table{"format": "zip"}), "bind default (all)")
	publish(ch, "go-headers-x", "", false, "pdf-report", amqp.Table{"format": "pdf", "type": "report"})
	publish(ch, "go-headers-x", "", false, "pdf-only", amqp.Table{"format": "pdf"})
	publish(ch, "go-headers-x", "", false, "log", amqp.Table{"type": "log", "format": "zip"})
	publish(ch, "go-headers-x", "", false, "none", amqp.Table{"other": int32(1)})
	publish(ch, "go-headers-x", "ignored-key", false, "no-headers", nil)
	hwant := [][]string{{"pdf-report"}, {"pdf-report", "pdf-only", "log"}, {"log"}}
	for i, q := range hq {
		if got := getAll(ch, q); !reflect.DeepEqual(got, hwant[i]) {
			fail("headers: queue %s got %v, want %v", q, got, hwant[i])
		}
	}
}

// get_qos: basic.get-empty, get-ok with message-count, and basic.qos prefetch-count
// limiting unacked deliveries to a consumer (the next one arrives only after an ack).
func scenarioGetQos() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	q, err := ch.QueueDeclare("go-getq", false, false, true, false, nil)
	must(err, "queue.declare")
	if _, ok, err := ch.Get(q.Name, false); err != nil || ok {
		fail("basic.get on an empty queue: ok=%v err=%v, want get-empty", ok, err)
	}
	for i := 0; i < 3; i++ {
		publish(ch, "", q.Name, false, fmt.Sprintf("g%d", i), nil)
	}
	d, ok, err := ch.Get(q.Name, false)
	must(err, "basic.get")
	if !ok || string(d.Body) != "g0" || d.MessageCount != 2 || d.DeliveryTag != 1 || d.Redelivered {
		fail("basic.get-ok: ok=%v body=%q message-count=%d tag=%d redelivered=%v; want g0, 2, 1, false",
			ok, d.Body, d.MessageCount, d.DeliveryTag, d.Redelivered)
	}
	must(d.Nack(false, true), "basic.nack requeue")
	d, ok, err = ch.Get(q.Name, true)
	must(err, "basic.get")
	if !ok || string(d.Body) != "g0" || !d.Redelivered {
		fail("after nack(requeue) basic.get gave ok=%v %q redelivered=%v, want g0 redelivered at the head", ok, d.Body, d.Redelivered)
	}
	getAll(ch, q.Name)

	qs := queuesOnDistinctPartitions("go-qos", 2)
	cch := channel(conn)
	for _, name := range qs {
		_, err := cch.QueueDeclare(name, false, false, true, false, nil)
		must(err, "queue.declare "+name)
		for i := 0; i < 5; i++ {
			publish(ch, "", name, false, fmt.Sprintf("%s:%d", name, i), nil)
		}
	}
	must(cch.Qos(2, 0, false), "basic.qos 2")
	ds, err := cch.Consume(qs[0], "", false, false, false, false, nil)
	must(err, "basic.consume")
	collect := func(max int, wait time.Duration) []amqp.Delivery {
		out := []amqp.Delivery{}
		timeout := time.After(wait)
		for len(out) < max {
			select {
			case d := <-ds:
				out = append(out, d)
			case <-timeout:
				return out
			}
		}
		return out
	}
	first := collect(5, 1500*time.Millisecond)
	if len(first) != 2 {
		fail("with basic.qos prefetch-count=2 the consumer got %d unacked deliveries, want exactly 2", len(first))
	}
	must(first[0].Ack(false), "ack")
	next := collect(5, 1500*time.Millisecond)
	if len(next) != 1 {
		fail("after one ack with prefetch-count=2 the consumer got %d more deliveries, want exactly 1", len(next))
	}
	// A second consumer on another worker's queue, same channel: per-consumer limit (global=false).
	ds2, err := cch.Consume(qs[1], "", false, false, false, false, nil)
	must(err, "basic.consume second")
	got2 := 0
	timeout := time.After(1500 * time.Millisecond)
loop:
	for {
		select {
		case <-ds2:
			got2++
		case d := <-ds:
			fail("first consumer got %q beyond its prefetch", d.Body)
		case <-timeout:
			break loop
		}
	}
	if got2 != 2 {
		fail("second consumer (other worker) with prefetch-count=2 per consumer got %d, want 2", got2)
	}
}

// e2e_tx: exchange.bind / exchange.unbind route through a second exchange to a queue on
// another worker; tx.select / tx.commit / tx.rollback buffer publishes and acks.
func scenarioE2ETx() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	q1, q2 := func() (string, string) { q := queuesOnDistinctPartitions("go-e2e", 2); return q[0], q[1] }()
	must(ch.ExchangeDeclare("go-e2e-front", "topic", false, true, false, false, nil), "exchange.declare front")
	must(ch.ExchangeDeclare("go-e2e-back", "fanout", false, true, false, false, nil), "exchange.declare back")
	for _, q := range []string{q1, q2} {
		_, err := ch.QueueDeclare(q, false, false, true, false, nil)
		must(err, "queue.declare "+q)
	}
	must(ch.QueueBind(q1, "direct.#", "go-e2e-front", false, nil), "queue.bind q1")
	must(ch.QueueBind(q2, "", "go-e2e-back", false, nil), "queue.bind q2")
	must(ch.ExchangeBind("go-e2e-back", "fwd.*", "go-e2e-front", false, nil), "exchange.bind")
	publish(ch, "go-e2e-front", "fwd.one", false, "via-back", nil)
	publish(ch, "go-e2e-front", "direct.x", false, "direct", nil)
	if got := getAll(ch, q2); !reflect.DeepEqual(got, []string{"via-back"}) {
		fail("exchange-to-exchange: %s got %v, want [via-back]", q2, got)
	}
	if got := getAll(ch, q1); !reflect.DeepEqual(got, []string{"direct"}) {
		fail("exchange-to-exchange: %s got %v, want [direct]", q1, got)
	}
	must(ch.ExchangeUnbind("go-e2e-back", "fwd.*", "go-e2e-front", false, nil), "exchange.unbind")
	publish(ch, "go-e2e-front", "fwd.two", false, "dropped", nil)
	if got := getAll(ch, q2); len(got) != 0 {
		fail("after exchange.unbind %s still got %v", q2, got)
	}

	tq := queuesOnDistinctPartitions("go-tx", 2)
	other := channel(conn)
	for _, q := range tq {
		_, err := other.QueueDeclare(q, false, false, true, false, nil)
		must(err, "queue.declare "+q)
	}
	tx := channel(conn)
	must(tx.Tx(), "tx.select")
	publish(tx, "", tq[0], false, "a", nil)
	publish(tx, "", tq[1], false, "b", nil)
	if c := count(other, tq[0]); c != 0 {
		fail("a publish in a transaction was visible (%d messages) before tx.commit", c)
	}
	must(tx.TxCommit(), "tx.commit")
	if c0, c1 := count(other, tq[0]), count(other, tq[1]); c0 != 1 || c1 != 1 {
		fail("after tx.commit the queues on two workers hold %d and %d, want 1 and 1", c0, c1)
	}
	publish(tx, "", tq[0], false, "never", nil)
	must(tx.TxRollback(), "tx.rollback")
	must(tx.TxCommit(), "tx.commit (empty)")
	if c := count(other, tq[0]); c != 1 {
		fail("a rolled-back publish arrived: %s holds %d, want 1", tq[0], c)
	}
	d, ok, err := tx.Get(tq[0], false)
	must(err, "basic.get in tx")
	if !ok {
		fail("basic.get in tx found nothing")
	}
	must(d.Ack(false), "ack in tx")
	must(tx.TxRollback(), "tx.rollback of the ack")
	must(tx.Close(), "channel.close")
	if c := count(other, tq[0]); c != 1 {
		fail("a rolled-back ack took effect: %s holds %d after close, want 1 (requeued)", tq[0], c)
	}
	tx = channel(conn)
	must(tx.Tx(), "tx.select")
	d, ok, err = tx.Get(tq[0], false)
	must(err, "basic.get in tx")
	if !ok {
		fail("basic.get in tx found nothing after requeue")
	}
	must(d.Ack(false), "ack in tx")
	must(tx.TxCommit(), "tx.commit of the ack")
	must(tx.Close(), "channel.close")
	if c := count(other, tq[0]); c != 0 {
		fail("a committed ack did not take effect: %s holds %d, want 0", tq[0], c)
	}
}

// declareError runs a declaration expected to close the channel with code and text and
// returns a description of any difference ("" when it matched).
func declareError(conn *amqp.Connection, what string, code int, text string, declare func(ch *amqp.Channel) error) string {
	ch := channel(conn)
	err := declare(ch)
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		return fmt.Sprintf("%s: got %v, want channel error %d %q", what, err, code, text)
	}
	if ae.Code != code || ae.Reason != text {
		return fmt.Sprintf("%s: got %d %q, want %d %q", what, ae.Code, ae.Reason, code, text)
	}
	return ""
}

// inequivalent: redeclarations with different properties or arguments, with the codes and
// texts of RabbitMQ 3.10 (checked against Debian's rabbitmq-server 3.10.8). Every check
// runs; the scenario fails listing all deviations.
func scenarioInequivalent() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	deviations := []string{}
	note := func(d string) {
		if d != "" {
			deviations = append(deviations, d)
		}
	}
	_, err := ch.QueueDeclare("go-ineq-durable", false, true, false, false, nil)
	must(err, "queue.declare go-ineq-durable")
	defer func() { _, _ = channel(conn).QueueDelete("go-ineq-durable", false, false, false) }()
	note(declareError(conn, "redeclare durable=true of a transient queue", 406,
		"PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'go-ineq-durable' in vhost '/': received 'true' but current is 'false'",
		func(c *amqp.Channel) error {
			_, err := c.QueueDeclare("go-ineq-durable", true, true, false, false, nil)
			return err
		}))
	must(ch.ExchangeDeclare("go-ineq-x", "direct", false, true, false, false, nil), "exchange.declare go-ineq-x")
	note(declareError(conn, "redeclare of a direct exchange as fanout", 406,
		"PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'go-ineq-x' in vhost '/': received 'fanout' but current is 'direct'",
		func(c *amqp.Channel) error {
			return c.ExchangeDeclare("go-ineq-x", "fanout", false, true, false, false, nil)
		}))
	note(declareError(conn, "queue name with the reserved prefix amq.", 403,
		"ACCESS_REFUSED - queue name 'amq.go-mine' contains reserved prefix 'amq.*'",
		func(c *amqp.Channel) error {
			_, err := c.QueueDeclare("amq.go-mine", false, false, false, false, nil)
			return err
		}))
	_, err = ch.QueueDeclare("go-ineq-args", false, false, true, false, amqp.Table{"x-max-length": int32(5)})
	must(err, "queue.declare go-ineq-args")
	note(declareError(conn, "redeclare with x-max-length 6 instead of 5", 406,
		"PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'go-ineq-args' in vhost '/': received '6' but current is '5'",
		func(c *amqp.Channel) error {
			_, err := c.QueueDeclare("go-ineq-args", false, false, true, false, amqp.Table{"x-max-length": int32(6)})
			return err
		}))
	// RabbitMQ 3.10 declares every exclusive queue transient whatever durable says, so a
	// redeclaration that differs only in durable is equivalent (declare-ok).
	ch = channel(conn)
	_, err = ch.QueueDeclare("go-ineq-excl", false, false, true, false, nil)
	must(err, "queue.declare exclusive go-ineq-excl")
	if _, err := ch.QueueDeclare("go-ineq-excl", true, false, true, false, nil); err != nil {
		note(fmt.Sprintf("redeclare of an exclusive queue with durable=true: got %v; RabbitMQ 3.10 answers declare-ok "+
			"(exclusive queues are always transient, durable is ignored)", err))
	}
	if len(deviations) > 0 {
		fail("%d deviation(s) from RabbitMQ 3.10:\n  %s", len(deviations), strings.Join(deviations, "\n  "))
	}
}

// priority: a queue declared with x-max-priority 10 hands out the highest priority first;
// a message without the priority property counts as priority 0.
func scenarioPriority() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	q, err := ch.QueueDeclare("go-priority", false, false, true, false, amqp.Table{"x-max-priority": int32(10)})
	must(err, "queue.declare x-max-priority 10")
	for _, m := range []struct {
		body     string
		priority uint8 // 0: amqp091-go leaves the priority property out
	}{{"p1", 1}, {"p9", 9}, {"p5", 5}, {"none", 0}} {
		must(ch.Publish("", q.Name, false, false, amqp.Publishing{Body: []byte(m.body), Priority: m.priority}),
			"publish "+m.body)
	}
	if got, want := getAll(ch, q.Name), []string{"p9", "p5", "p1", "none"}; !reflect.DeepEqual(got, want) {
		fail("basic.get order from a priority queue: got %v, want %v", got, want)
	}
}

// consumer_priority: two consumers on one queue, each on its own channel with prefetch 1,
// x-priority 10 and 1. The high one gets a message whenever it has capacity; the low one
// only while the high one is full; with both full the message waits in the queue.
func scenarioConsumerPriority() {
	conn := dial()
	defer conn.Close()
	pub := channel(conn)
	q, err := pub.QueueDeclare("go-cprio", false, false, true, false, nil)
	must(err, "queue.declare")
	// Each consumer's deliveries are read from its own Go channel: the frames of the two AMQP
	// channels are not ordered with respect to each other.
	deliveries := map[string]<-chan amqp.Delivery{}
	channels := map[string]*amqp.Channel{}
	for _, c := range []struct {
		tag      string
		priority int32
	}{{"go-cprio-high", 10}, {"go-cprio-low", 1}} {
		ch := channel(conn)
		must(ch.Qos(1, 0, false), "basic.qos 1 for "+c.tag)
		ds, err := ch.Consume(q.Name, c.tag, false, false, false, false, amqp.Table{"x-priority": c.priority})
		must(err, "basic.consume "+c.tag)
		deliveries[c.tag] = ds
		channels[c.tag] = ch
	}
	quiet := func(what string) {
		select {
		case d := <-deliveries["go-cprio-high"]:
			fail("%s: unexpected delivery %q to the high-priority consumer", what, d.Body)
		case d := <-deliveries["go-cprio-low"]:
			fail("%s: unexpected delivery %q to the low-priority consumer", what, d.Body)
		case <-time.After(300 * time.Millisecond):
		}
	}
	expect := func(tag, body, what string) amqp.Delivery {
		select {
		case d := <-deliveries[tag]:
			if d.ConsumerTag != tag || string(d.Body) != body {
				fail("%s: consumer %q got %q (consumer tag %q), want %q", what, tag, d.Body, d.ConsumerTag, body)
			}
			return d
		case <-time.After(5 * time.Second):
			fail("%s: consumer %q got nothing within 5s, want %q", what, tag, body)
		}
		panic("unreachable")
	}
	for i := 0; i < 3; i++ {
		publish(pub, "", q.Name, false, fmt.Sprintf("m%d", i), nil)
	}
	m0 := expect("go-cprio-high", "m0", "first of 3 (both consumers free)")
	m1 := expect("go-cprio-low", "m1", "second of 3 (high consumer full)")
	quiet("third of 3 with both consumers full")
	if c := count(pub, q.Name); c != 1 {
		fail("with both consumers at their prefetch the queue holds %d ready messages, want 1", c)
	}
	must(m0.Ack(false), "ack m0 (high)")
	m2 := expect("go-cprio-high", "m2", "after the high consumer acked")
	must(m1.Ack(false), "ack m1 (low)")
	must(m2.Ack(false), "ack m2 (high)")
	for _, ch := range channels { // a round trip on each channel after its ack, then a pause:
		count(ch, q.Name) // both acks have landed and both consumers are free again
	}
	time.Sleep(200 * time.Millisecond)
	publish(pub, "", q.Name, false, "m3", nil)
	expect("go-cprio-high", "m3", "both free again: the higher priority wins")
	publish(pub, "", q.Name, false, "m4", nil)
	expect("go-cprio-low", "m4", "high full again")
	quiet("after m4")
}

// global_qos: basic.qos(prefetch 3, global) on one channel consuming from queues on two
// workers, 10 messages each: exactly 3 are delivered before any ack; acking one at a time
// brings all 20, never more than 3 outstanding, each queue's messages in order.
func scenarioGlobalQos() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	qs := queuesOnDistinctPartitions("go-gqos", 2)
	const per = 10
	for _, q := range qs {
		_, err := ch.QueueDeclare(q, false, false, true, false, nil)
		must(err, "queue.declare "+q)
		for i := 0; i < per; i++ {
			publish(ch, "", q, false, fmt.Sprintf("%s/%d", q, i), nil)
		}
	}
	must(ch.Qos(3, 0, true), "basic.qos 3 global")
	all := make(chan amqp.Delivery, 2*per)
	for _, q := range qs {
		ds, err := ch.Consume(q, "", false, false, false, false, nil)
		must(err, "basic.consume "+q)
		go func(ds <-chan amqp.Delivery) {
			for d := range ds {
				all <- d
			}
		}(ds)
	}
	delivered := []amqp.Delivery{}
	var settle <-chan time.Time // armed once 3 have arrived: then nothing more may come for 300 ms
	firstThree := time.After(5 * time.Second)
collect:
	for {
		select {
		case d := <-all:
			delivered = append(delivered, d)
			if len(delivered) == 3 {
				settle = time.After(300 * time.Millisecond)
			}
		case <-settle:
			break collect
		case <-firstThree:
			if len(delivered) < 3 {
				break collect
			}
		}
	}
	if len(delivered) != 3 {
		fail("with a global prefetch of 3 over queues on workers %d and %d, %d deliveries arrived before any ack, want 3",
			partitionOf(qs[0], *workers), partitionOf(qs[1], *workers), len(delivered))
	}
	acked, maxOutstanding := 0, 3
	deadline := time.After(10 * time.Second)
	for acked < 2*per {
		if acked < len(delivered) {
			must(delivered[acked].Ack(false), "basic.ack")
			acked++
			continue
		}
		select {
		case d := <-all:
			delivered = append(delivered, d)
			if o := len(delivered) - acked; o > maxOutstanding {
				maxOutstanding = o
			}
		case <-deadline:
			fail("acking one at a time, only %d of %d deliveries arrived within 10s", len(delivered), 2*per)
		}
	}
	select {
	case d := <-all:
		fail("unexpected extra delivery %q", d.Body)
	case <-time.After(300 * time.Millisecond):
	}
	if maxOutstanding != 3 {
		fail("with a global prefetch of 3 up to %d deliveries were outstanding at once", maxOutstanding)
	}
	for _, q := range qs {
		got, want := []string{}, []string{}
		for _, d := range delivered {
			if strings.HasPrefix(string(d.Body), q+"/") {
				got = append(got, string(d.Body))
			}
		}
		for i := 0; i < per; i++ {
			want = append(want, fmt.Sprintf("%s/%d", q, i))
		}
		if !reflect.DeepEqual(got, want) {
			fail("queue %s: got %v, want %v", q, got, want)
		}
	}
}

// reply_to: direct reply-to between two connections. The requester consumes the
// amq.rabbitmq.reply-to pseudo-queue (auto-ack) and publishes a request with that reply-to;
// the server sees a generated amq.rabbitmq.reply-to.* key, replies to it on the default
// exchange, and the requester gets the reply with the same correlation id.
func scenarioReplyTo() {
	const replyTo = "amq.rabbitmq.reply-to"
	client, server := dial(), dial()
	defer client.Close()
	defer server.Close()
	cch, sch := channel(client), channel(server)
	sq, err := sch.QueueDeclare("go-rpc-server", false, false, true, false, nil)
	must(err, "queue.declare server queue")
	replies, err := cch.Consume(replyTo, "", true, false, false, false, nil)
	must(err, "basic.consume "+replyTo)
	must(cch.Publish("", sq.Name, false, false, amqp.Publishing{Body: []byte("request"), ReplyTo: replyTo, CorrelationId: "go-c1"}),
		"publish request")
	var req amqp.Delivery
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, ok, err := sch.Get(sq.Name, true)
		must(err, "basic.get request")
		if ok {
			req = d
			break
		}
		if time.Now().After(deadline) {
			fail("the request did not reach the server queue within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(req.Body) != "request" || req.CorrelationId != "go-c1" ||
		!strings.HasPrefix(req.ReplyTo, replyTo+".") || len(req.ReplyTo) <= len(replyTo)+1 {
		fail("request seen by the server: body %q correlation-id %q reply-to %q; want request, go-c1, %s.<key>",
			req.Body, req.CorrelationId, req.ReplyTo, replyTo)
	}
	must(sch.Publish("", req.ReplyTo, false, false, amqp.Publishing{Body: []byte("reply"), CorrelationId: req.CorrelationId}),
		"publish reply to "+req.ReplyTo)
	select {
	case d, ok := <-replies:
		if !ok {
			fail("the reply consumer was closed before the reply arrived")
		}
		if string(d.Body) != "reply" || d.CorrelationId != "go-c1" || d.Exchange != "" || d.RoutingKey != req.ReplyTo || d.Redelivered {
			fail("reply: body %q correlation-id %q exchange %q key %q redelivered %v; want reply, go-c1, \"\", %q, false",
				d.Body, d.CorrelationId, d.Exchange, d.RoutingKey, d.Redelivered, req.ReplyTo)
		}
	case <-time.After(5 * time.Second):
		fail("no reply on %s within 5s", replyTo)
	}
}

// delayed: an x-delayed-message exchange (x-delayed-type direct) holds back a message with
// x-delay 300: the publisher confirm comes at once, the message is not in the bound queue
// at 100 ms, and is there by 1.5 s (not before 300 ms), carrying x-delay -300.
func scenarioDelayed() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	const x = "go-delayed-x"
	must(ch.ExchangeDeclare(x, "x-delayed-message", false, true, false, false, amqp.Table{"x-delayed-type": "direct"}),
		"exchange.declare x-delayed-message")
	q, err := ch.QueueDeclare("go-delayed-q", false, false, true, false, nil)
	must(err, "queue.declare")
	must(ch.QueueBind(q.Name, "k", x, false, nil), "queue.bind")
	pch := channel(conn)
	must(pch.Confirm(false), "confirm.select")
	confirms := pch.NotifyPublish(make(chan amqp.Confirmation, 1))
	started := time.Now()
	publish(pch, x, "k", false, "later", amqp.Table{"x-delay": int32(300)})
	select {
	case c := <-confirms:
		if !c.Ack || c.DeliveryTag != 1 {
			fail("delayed publish confirmed as %+v, want ack of tag 1", c)
		}
		if e := time.Since(started); e >= 300*time.Millisecond {
			fail("the confirm of a publish with x-delay 300 took %v; RabbitMQ confirms at once, not when the delay is over", e)
		}
	case <-time.After(1500 * time.Millisecond):
		fail("no confirm within 1.5s of a publish with x-delay 300")
	}
	time.Sleep(time.Until(started.Add(100 * time.Millisecond)))
	if c := count(ch, q.Name); c != 0 {
		fail("the message with x-delay 300 was in the queue after %v (%d messages)", time.Since(started), c)
	}
	for {
		d, ok, err := ch.Get(q.Name, true)
		must(err, "basic.get")
		elapsed := time.Since(started)
		if ok {
			if elapsed < 300*time.Millisecond {
				fail("the message with x-delay 300 arrived after only %v", elapsed)
			}
			delay, isNumber := asInt64(d.Headers["x-delay"])
			if string(d.Body) != "later" || d.Exchange != x || d.RoutingKey != "k" || !isNumber || delay != -300 {
				fail("delayed delivery: body %q exchange %q key %q headers %v; want later, %s, k, x-delay -300",
					d.Body, d.Exchange, d.RoutingKey, d.Headers, x)
			}
			return
		}
		if elapsed > 1500*time.Millisecond {
			fail("the message with x-delay 300 was not in the queue by 1.5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// asInt64 reads any integer type amqp091-go decodes a table value to.
func asInt64(v interface{}) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case int:
		return int64(n), true
	}
	return 0, false
}

// cc_bcc: sender-selected distribution. A publish with key k1 and headers CC=[k2], BCC=[k3]
// to a direct exchange reaches the queues bound with k1, k2, k3 (on three workers) once
// each, with the publish's routing key; BCC is removed from every copy, CC is kept.
func scenarioCcBcc() {
	conn := dial()
	defer conn.Close()
	ch := channel(conn)
	const x = "go-cc-x"
	must(ch.ExchangeDeclare(x, "direct", false, true, false, false, nil), "exchange.declare")
	qs := queuesOnDistinctPartitions("go-cc", 3)
	for i, q := range qs {
		_, err := ch.QueueDeclare(q, false, false, true, false, nil)
		must(err, "queue.declare "+q)
		must(ch.QueueBind(q, fmt.Sprintf("k%d", i+1), x, false, nil), "queue.bind "+q)
	}
	publish(ch, x, "k1", false, "m", amqp.Table{"CC": []interface{}{"k2"}, "BCC": []interface{}{"k3"}})
	for _, q := range qs {
		var d amqp.Delivery
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, ok, err := ch.Get(q, true)
			must(err, "basic.get "+q)
			if ok {
				d = got
				break
			}
			if time.Now().After(deadline) {
				fail("queue %s (worker %d) got no copy within 5s", q, partitionOf(q, *workers))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if string(d.Body) != "m" || d.RoutingKey != "k1" {
			fail("queue %s: got body %q key %q, want m, k1", q, d.Body, d.RoutingKey)
		}
		if _, has := d.Headers["BCC"]; has {
			fail("queue %s: the copy still carries the BCC header: %v", q, d.Headers)
		}
		if !reflect.DeepEqual(d.Headers, amqp.Table{"CC": []interface{}{"k2"}}) {
			fail("queue %s: headers %v, want exactly CC=[k2]", q, d.Headers)
		}
		if rest := getAll(ch, q); len(rest) != 0 {
			fail("queue %s got more than one copy: also %v", q, rest)
		}
	}
}

// worker-restart: one connection publishes persistent messages (message id = publish
// sequence number) to a durable queue on worker 1, one at a time, each waiting for its
// confirm, while a second channel of the same connection consumes them with manual acks
// (prefetch 10). After it prints "ready" the caller restarts worker 1 (`broker cluster
// restart-worker 1`). The connection and both channels stay open and the consumer is not
// cancelled; every publish is acked or nacked (nacks while the worker is away); a publish
// after the first nack (after the midpoint without one) is acked and delivered, so the
// consumer came back; every acked publish is delivered, and a repeat carries redelivered.
func scenarioWorkerRestart() {
	if *workers < 2 {
		fail("needs at least 2 workers, got -workers %d", *workers)
	}
	conn := dial()
	defer conn.Close()
	q := queuesOnDistinctPartitions("go-restart", 2)[1]
	pub := channel(conn)
	_, err := pub.QueueDeclare(q, true, false, false, false, nil)
	must(err, "queue.declare durable "+q)
	_, err = pub.QueuePurge(q, false)
	must(err, "queue.purge "+q)
	must(pub.Confirm(false), "confirm.select")
	confirms := pub.NotifyPublish(make(chan amqp.Confirmation, 1))
	sub := channel(conn)
	must(sub.Qos(10, 0, false), "basic.qos 10")

	// The first close of the connection or of either channel, or a cancel of the consumer:
	// `why` is set before `lost` is closed.
	var why string
	lost := make(chan struct{})
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	pubClosed := pub.NotifyClose(make(chan *amqp.Error, 1))
	subClosed := sub.NotifyClose(make(chan *amqp.Error, 1))
	cancels := sub.NotifyCancel(make(chan string, 1))
	go func() {
		select {
		case e := <-connClosed:
			why = fmt.Sprintf("the connection was closed: %v", e)
		case e := <-pubClosed:
			why = fmt.Sprintf("the publishing channel was closed: %v", e)
		case e := <-subClosed:
			why = fmt.Sprintf("the consuming channel was closed: %v", e)
		case tag := <-cancels:
			why = fmt.Sprintf("the broker cancelled consumer %q", tag)
		}
		close(lost)
	}()
	stillOpen := func(when string) {
		select {
		case <-lost:
			fail("%s: %s", when, why)
		default:
		}
	}
	// reason, after an error: the close or cancel behind it, if notified within a second.
	reason := func() string {
		select {
		case <-lost:
			return why
		case <-time.After(time.Second):
			return "no close or cancel was notified"
		}
	}

	ds, err := sub.Consume(q, "go-restart-consumer", false, false, false, false, nil)
	must(err, "basic.consume "+q)
	var mu sync.Mutex
	delivered := map[uint64]int{} // message id → deliveries
	repeats := 0
	go func() {
		for d := range ds {
			id, err := strconv.ParseUint(d.MessageId, 10, 64)
			if err != nil {
				fail("delivery %q has message id %q, want a publish sequence number", d.Body, d.MessageId)
			}
			mu.Lock()
			delivered[id]++
			n := delivered[id]
			if n > 1 {
				repeats++
			}
			mu.Unlock()
			if n > 1 && !d.Redelivered {
				fail("message %d was delivered %d times, the last without redelivered=true", id, n)
			}
			if err := d.Ack(false); err != nil {
				fail("basic.ack of message %d: %v (%s)", id, err, reason())
			}
		}
	}()

	fmt.Println("ready") // os.Stdout is unbuffered: the line is out before the first publish

	// Each publish waits for its confirm: every one is acked or nacked, or the scenario fails.
	acked := map[uint64]bool{} // publish sequence number → acked (false: nacked)
	var firstNack uint64
	for stop := time.Now().Add(time.Duration(*seconds) * time.Second); time.Now().Before(stop); {
		stillOpen("while publishing")
		seq := pub.GetNextPublishSeqNo()
		id := strconv.FormatUint(seq, 10)
		if err := pub.Publish("", q, false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent, MessageId: id, Body: []byte("m" + id)}); err != nil {
			fail("publish %s: %v (%s)", id, err, reason())
		}
		select {
		case c := <-confirms:
			if c.DeliveryTag != seq {
				fail("publish %d was confirmed with tag %d (ack=%v)", seq, c.DeliveryTag, c.Ack)
			}
			acked[seq] = c.Ack
			if !c.Ack && firstNack == 0 {
				firstNack = seq
			}
		case <-lost:
			fail("waiting for the confirm of publish %d: %s", seq, why)
		case <-time.After(10 * time.Second):
			fail("publish %d was neither acked nor nacked within 10s", seq)
		}
	}
	published := uint64(len(acked))
	nacked := 0
	for _, ok := range acked {
		if !ok {
			nacked++
		}
	}

	// Every acked publish is delivered within 10 s of the last publish.
	missing := []uint64{}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		stillOpen("waiting for the acked publishes to be delivered")
		missing = missing[:0]
		mu.Lock()
		for seq := uint64(1); seq <= published; seq++ {
			if acked[seq] && delivered[seq] == 0 {
				missing = append(missing, seq)
			}
		}
		mu.Unlock()
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	nackedDelivered := 0
	for seq, ok := range acked {
		if !ok && delivered[seq] > 0 {
			nackedDelivered++
		}
	}
	fmt.Printf("published %d: %d acked, %d nacked (first nack: %d); %d distinct messages delivered "+
		"(%d of the nacked ones), %d repeats with redelivered=true\n",
		published, int(published)-nacked, nacked, firstNack, len(delivered), nackedDelivered, repeats)
	stillOpen("after publishing")
	if len(missing) > 0 {
		fail("%d acked publishes were not delivered within 10s: %v", len(missing), head(missing, 20))
	}
	after := firstNack
	if after == 0 {
		after = published / 2
	}
	resumed := false
	for seq := after + 1; seq <= published && !resumed; seq++ {
		resumed = acked[seq] && delivered[seq] > 0
	}
	if !resumed {
		fail("no publish after %d (of %d; first nack: %d) was both acked and delivered: the consumer did not resume",
			after, published, firstNack)
	}
	for id := range delivered {
		if id < 1 || id > published {
			fail("delivered message id %d was never published (published 1..%d)", id, published)
		}
	}
}

// head is at most the first n of xs.
func head(xs []uint64, n int) []uint64 {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

func main() {
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: amqpcheck [-url URL] [-workers N] [-seconds S] SCENARIO")
		os.Exit(2)
	}
	scenario = flag.Arg(0)
	scenarios := map[string]func(){
		"tags":              scenarioTags,
		"confirms":          scenarioConfirms,
		"mandatory":         scenarioMandatory,
		"errors":            scenarioErrors,
		"topic_headers":     scenarioTopicHeaders,
		"get_qos":           scenarioGetQos,
		"e2e_tx":            scenarioE2ETx,
		"inequivalent":      scenarioInequivalent,
		"priority":          scenarioPriority,
		"consumer_priority": scenarioConsumerPriority,
		"global_qos":        scenarioGlobalQos,
		"reply_to":          scenarioReplyTo,
		"delayed":           scenarioDelayed,
		"cc_bcc":            scenarioCcBcc,
		"worker-restart":    scenarioWorkerRestart,
	}
	run, ok := scenarios[scenario]
	if !ok {
		names := []string{}
		for k := range scenarios {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "unknown scenario %q; known: %s\n", scenario, strings.Join(names, ", "))
		os.Exit(2)
	}
	run()
	fmt.Printf("ok %s\n", scenario)
}

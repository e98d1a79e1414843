# Drives the broker with Ruby's bunny (Debian ruby-bunny) and checks that it behaves as
# RabbitMQ does. Usage:
#
#   ruby bunny_check.rb PORT WORKERS SCENARIO
#
# Prints "ok SCENARIO" and exits 0 on success; on any deviation prints
# "FAIL SCENARIO: what happened" to stderr and exits 1. Scenarios: tags, confirms,
# mandatory, errors, topic_headers, get_qos, e2e_tx, inequivalent, single_active,
# consumer_timeout, delayed_topic.
begin
  require "bunny"
rescue LoadError => e
  warn "FAIL: cannot load bunny (#{e.message}): install ruby-bunny (apt-get install ruby-bunny, or run Deploy/install-deps.sh)"
  exit 1
end
require "logger"
require "timeout"

PORT = Integer(ARGV.fetch(0) { abort "usage: ruby bunny_check.rb PORT WORKERS SCENARIO" })
WORKERS = Integer(ARGV.fetch(1) { abort "usage: ruby bunny_check.rb PORT WORKERS SCENARIO" })
SCENARIO = ARGV.fetch(2) { abort "usage: ruby bunny_check.rb PORT WORKERS SCENARIO" }

class Deviation < StandardError; end

def fail!(msg)
  raise Deviation, msg
end

def check(cond, msg)
  fail!(msg) unless cond
end

# The placement hash (README: fnv1a64(vhost + "\0" + queue) mod N), computed independently
# of the broker's code.
def fnv1a64(bytes)
  h = 0xcbf29ce484222325
  bytes.each_byte do |b|
    h ^= b
    h = (h * 0x100000001b3) & 0xffffffffffffffff
  end
  h
end

def partition_of(queue, partitions = WORKERS)
  fnv1a64("/\0" + queue) % partitions
end

# Names prefix-N, one per partition 0..count-1 (as conftest.py's helper).
def queues_on_distinct_partitions(prefix, count)
  found = {}
  i = 0
  while found.size < count
    name = "#{prefix}-#{i}"
    p = partition_of(name)
    found[p] = name if p < count && !found.key?(p)
    i += 1
  end
  (0...count).map { |p| found[p] }
end

def connect
  conn = Bunny.new(host: "127.0.0.1", port: PORT, user: "guest", pass: "guest",
                   automatically_recover: false, logger: Logger.new(File::NULL),
                   continuation_timeout: 10_000)
  conn.start
  conn
end

def get_all(ch, queue)
  out = []
  loop do
    info, _props, body = ch.basic_get(queue, manual_ack: false)
    return out if info.nil?
    out << body
  end
end

def count(ch, queue)
  ch.queue_declare(queue, passive: true).message_count
end

def wait_until(seconds, what)
  deadline = Time.now + seconds
  until yield
    fail!("timed out after #{seconds}s waiting for #{what}") if Time.now > deadline
    sleep 0.02
  end
end

# --- scenarios ---------------------------------------------------------------------------

# One channel consumes from queues on three workers with manual ack: the delivery tags are
# exactly 1..N in order; ack(multiple) of a middle tag acks exactly the earlier ones, and
# after the channel closes only the later ones come back, redelivered.
def scenario_tags(conn)
  names = queues_on_distinct_partitions("rb-tags", 3)
  ch = conn.create_channel
  queues = names.map { |n| ch.queue(n, exclusive: true) }
  rounds = 4
  total = rounds * names.size
  rounds.times { |r| names.each { |n| ch.default_exchange.publish("#{n}:#{r}", routing_key: n) } }
  got = Queue.new
  queues.each do |q|
    q.subscribe(manual_ack: true) do |info, _props, body|
      got << [info.delivery_tag.to_i, body, info.redelivered]
    end
  end
  received = []
  Timeout.timeout(10, Deviation, "received only #{received.size} of #{total} deliveries in 10s") do
    received << got.pop while received.size < total
  end
  sleep 0.3
  check(got.empty?, "unexpected extra deliveries: #{got.size}")
  tags = received.map(&:first)
  check(tags == (1..total).to_a, "delivery tags on one channel must be 1..#{total} in order, got #{tags.inspect}")
  check(received.none? { |_, _, r| r }, "first deliveries marked redelivered: #{received.inspect}")
  middle = 7
  ch.ack(middle, true)
  ch.close
  want = received.select { |t, _, _| t > middle }.map { |_, b, _| b }.sort
  ch2 = conn.create_channel
  back = []
  names.each do |n|
    loop do
      info, _props, body = ch2.basic_get(n, manual_ack: false)
      break if info.nil?
      check(info.redelivered, "message #{body.inspect} came back without redelivered=true")
      back << body
    end
  end
  check(back.sort == want, "after ack(#{middle}, multiple) and channel close want exactly #{want.inspect} back, got #{back.sort.inspect}")
end

# Publisher confirms to a fanout exchange bound to queues on three workers: every publish
# is acked, none nacked, and each queue holds all of them.
def scenario_confirms(conn)
  ch = conn.create_channel
  names = queues_on_distinct_partitions("rb-confirm", 3)
  x = ch.fanout("rb-confirm-fanout", auto_delete: true)
  names.each { |n| ch.queue(n, exclusive: true).bind(x) }
  acked = []
  nacked = []
  lock = Mutex.new
  ch.confirm_select(proc { |tag, _multiple, nack| lock.synchronize { (nack ? nacked : acked) << tag } })
  n = 50
  n.times { |i| x.publish("m#{i}") }
  check(ch.wait_for_confirms, "wait_for_confirms reported nacks: #{ch.nacked_set.to_a.inspect}")
  wait_until(10, "confirm callbacks") { lock.synchronize { acked.size + nacked.size >= n } }
  check(nacked.empty?, "publishes nacked: #{nacked.inspect}")
  check(acked.sort == (1..n).to_a, "confirmed tags #{acked.sort.inspect}, want 1..#{n}")
  names.each do |q|
    c = count(ch, q)
    check(c == n, "queue #{q} (worker #{partition_of(q)}) holds #{c} messages after #{n} confirmed publishes")
  end
end

# An unroutable mandatory publish comes back as basic.return 312 NO_ROUTE with its body,
# and is still confirmed; a non-mandatory one is simply confirmed.
def scenario_mandatory(conn)
  ch = conn.create_channel
  returns = Queue.new
  x = ch.direct("amq.direct", no_declare: true)
  x.on_return { |info, _props, body| returns << [info.reply_code, info.reply_text, info.exchange, info.routing_key, body] }
  ch.confirm_select
  x.publish("x", routing_key: "rb-nobody-home", mandatory: true)
  check(ch.wait_for_confirms, "returned mandatory publish was nacked")
  r = Timeout.timeout(10, Deviation, "no basic.return within 10s") { returns.pop }
  check(r == [312, "NO_ROUTE", "amq.direct", "rb-nobody-home", "x"],
        "basic.return = #{r.inspect}, want [312, \"NO_ROUTE\", \"amq.direct\", \"rb-nobody-home\", \"x\"]")
  x.publish("y", routing_key: "rb-nobody-home")
  check(ch.wait_for_confirms, "non-mandatory unroutable publish was nacked")
  sleep 0.2
  check(returns.empty?, "non-mandatory publish was returned")

  ch2 = conn.create_channel
  returns2 = Queue.new
  # Bunny's default_exchange builds a new object (replacing the channel's cached one) on
  # every call, so keep one: returns go to the handler of the cached exchange object.
  dx = ch2.default_exchange
  dx.on_return { |info, _props, body| returns2 << [info.reply_code, info.reply_text, body] }
  dx.publish("z", routing_key: "rb-no-such-queue", mandatory: true)
  r = Timeout.timeout(10, Deviation, "no basic.return within 10s (default exchange, no confirms)") { returns2.pop }
  check(r == [312, "NO_ROUTE", "z"], "basic.return = #{r.inspect}, want [312, \"NO_ROUTE\", \"z\"]")
end

# Passive declare of a missing queue closes the channel with 404 and RabbitMQ's text; the
# connection stays; ack of an unknown tag closes the channel with 406.
def scenario_errors(conn)
  ch = conn.create_channel
  begin
    ch.queue_declare("rb-surely-missing", passive: true)
    fail!("passive declare of a missing queue succeeded")
  rescue Bunny::NotFound => e
    close = e.channel_close
    want = "NOT_FOUND - no queue 'rb-surely-missing' in vhost '/'"
    check(close.reply_code == 404 && close.reply_text == want,
          "passive declare of a missing queue: got #{close.reply_code} #{close.reply_text.inspect}, want 404 #{want.inspect}")
  end
  check(conn.open?, "a channel error closed the connection")
  check(ch.closed?, "the channel should be closed after a 404")

  ch = conn.create_channel
  errors = Queue.new
  ch.on_error { |_ch, close| errors << [close.reply_code, close.reply_text] }
  ch.ack(42)
  r = Timeout.timeout(10, Deviation, "ack of unknown tag 42 did not close the channel within 10s") { errors.pop }
  check(r == [406, "PRECONDITION_FAILED - unknown delivery tag 42"],
        "ack of unknown tag 42: channel closed with #{r.inspect}, want [406, \"PRECONDITION_FAILED - unknown delivery tag 42\"]")
  check(ch.closed?, "channel should be closed after the 406")

  ch = conn.create_channel
  ch.basic_publish("x", "rb-no-such-exchange", "k")
  begin
    ch.queue_declare("", exclusive: true) # a synchronous call surfaces the asynchronous close
    fail!("publish to a missing exchange did not close the channel")
  rescue Bunny::NotFound => e
    want = "NOT_FOUND - no exchange 'rb-no-such-exchange' in vhost '/'"
    check(e.channel_close.reply_text == want, "publish to a missing exchange: got #{e.channel_close.reply_text.inspect}, want #{want.inspect}")
  end
  ch = conn.create_channel
  ch.queue_declare("", exclusive: true)
end

# Topic matching (*, #, # for zero words) and headers x-match all/any, with the bound
# queues on three workers.
def scenario_topic_headers(conn)
  ch = conn.create_channel
  qs = queues_on_distinct_partitions("rb-topic", 3)
  x = ch.topic("rb-topic-x", auto_delete: true)
  qs.each { |q| ch.queue(q, exclusive: true) }
  ch.queue_bind(qs[0], x.name, routing_key: "a.*")
  ch.queue_bind(qs[1], x.name, routing_key: "a.#")
  ch.queue_bind(qs[2], x.name, routing_key: "*.b.#")
  %w[a a.b a.b.c x.b b x.y].each { |k| x.publish(k, routing_key: k) }
  want = [%w[a.b], %w[a a.b a.b.c], %w[a.b a.b.c x.b]]
  qs.each_with_index do |q, i|
    got = get_all(ch, q)
    check(got == want[i], "topic: queue #{q} got #{got.inspect}, want #{want[i].inspect}")
  end

  hq = queues_on_distinct_partitions("rb-headers", 3)
  h = ch.headers("rb-headers-x", auto_delete: true)
  hq.each { |q| ch.queue(q, exclusive: true) }
  ch.queue_bind(hq[0], h.name, arguments: { "x-match" => "all", "format" => "pdf", "type" => "report" })
  ch.queue_bind(hq[1], h.name, arguments: { "x-match" => "any", "format" => "pdf", "type" => "log" })
  ch.queue_bind(hq[2], h.name, arguments: { "format" => "zip" })
  h.publish("pdf-report", headers: { "format" => "pdf", "type" => "report" })
  h.publish("pdf-only", headers: { "format" => "pdf" })
  h.publish("log", headers: { "type" => "log", "format" => "zip" })
  h.publish("none", headers: { "other" => 1 })
  h.publish("no-headers", routing_key: "ignored")
  hwant = [%w[pdf-report], %w[pdf-report pdf-only log], %w[log]]
  hq.each_with_index do |q, i|
    got = get_all(ch, q)
    check(got == hwant[i], "headers: queue #{q} got #{got.inspect}, want #{hwant[i].inspect}")
  end
end

# basic.get / get-empty / message-count, reject with requeue, and basic.qos prefetch-count
# limiting unacked deliveries (the next arrives only after an ack).
def scenario_get_qos(conn)
  ch = conn.create_channel
  q = ch.queue("rb-getq", exclusive: true)
  info, _p, _b = ch.basic_get(q.name, manual_ack: true)
  check(info.nil?, "basic.get on an empty queue returned a message")
  3.times { |i| ch.default_exchange.publish("g#{i}", routing_key: q.name) }
  info, _p, body = ch.basic_get(q.name, manual_ack: true)
  check(info && body == "g0" && info.message_count == 2 && info.delivery_tag.to_i == 1 && !info.redelivered,
        "basic.get-ok: #{info.inspect} body #{body.inspect}; want g0, message-count 2, tag 1, not redelivered")
  ch.reject(info.delivery_tag, true)
  info, _p, body = ch.basic_get(q.name, manual_ack: false)
  check(info && body == "g0" && info.redelivered, "after reject(requeue) basic.get gave #{body.inspect} redelivered=#{info && info.redelivered}")
  get_all(ch, q.name)

  qs = queues_on_distinct_partitions("rb-qos", 2)
  cch = conn.create_channel
  qs.each do |n|
    cch.queue(n, exclusive: true)
    5.times { |i| ch.default_exchange.publish("#{n}:#{i}", routing_key: n) }
  end
  cch.prefetch(2)
  first = Queue.new
  cch.basic_consume(qs[0], "rb-qos-c1", false) { |info, _p, body| first << [info.delivery_tag, body] }
  sleep 1.5
  check(first.size == 2, "with basic.qos prefetch-count=2 the consumer got #{first.size} unacked deliveries, want 2")
  tag, _ = first.pop
  cch.ack(tag)
  first.pop
  sleep 1.5
  check(first.size == 1, "after one ack with prefetch-count=2 the consumer got #{first.size} more deliveries, want 1")
  first.pop
  second = Queue.new
  cch.basic_consume(qs[1], "rb-qos-c2", false) { |info, _p, body| second << body }
  sleep 1.5
  check(second.size == 2, "second consumer (other worker) with per-consumer prefetch 2 got #{second.size}, want 2")
  check(first.empty?, "first consumer got more beyond its prefetch")
end

# exchange.bind / exchange.unbind route through a second exchange to a queue on another
# worker; tx.select / commit / rollback buffer publishes and acks.
def scenario_e2e_tx(conn)
  ch = conn.create_channel
  q1, q2 = queues_on_distinct_partitions("rb-e2e", 2)
  front = ch.topic("rb-e2e-front", auto_delete: true)
  back = ch.fanout("rb-e2e-back", auto_delete: true)
  ch.queue(q1, exclusive: true).bind(front, routing_key: "direct.#")
  ch.queue(q2, exclusive: true).bind(back)
  back.bind(front, routing_key: "fwd.*")
  front.publish("via-back", routing_key: "fwd.one")
  front.publish("direct", routing_key: "direct.x")
  got = get_all(ch, q2)
  check(got == ["via-back"], "exchange-to-exchange: #{q2} got #{got.inspect}, want [\"via-back\"]")
  got = get_all(ch, q1)
  check(got == ["direct"], "exchange-to-exchange: #{q1} got #{got.inspect}, want [\"direct\"]")
  back.unbind(front, routing_key: "fwd.*")
  front.publish("dropped", routing_key: "fwd.two")
  got = get_all(ch, q2)
  check(got.empty?, "after exchange.unbind #{q2} still got #{got.inspect}")

  tq = queues_on_distinct_partitions("rb-tx", 2)
  other = conn.create_channel
  tq.each { |n| other.queue(n, exclusive: true) }
  tx = conn.create_channel
  tx.tx_select
  tx.default_exchange.publish("a", routing_key: tq[0])
  tx.default_exchange.publish("b", routing_key: tq[1])
  c = count(other, tq[0])
  check(c == 0, "a publish in a transaction was visible (#{c}) before tx.commit")
  tx.tx_commit
  c0 = count(other, tq[0])
  c1 = count(other, tq[1])
  check(c0 == 1 && c1 == 1, "after tx.commit the queues on two workers hold #{c0} and #{c1}, want 1 and 1")
  tx.default_exchange.publish("never", routing_key: tq[0])
  tx.tx_rollback
  tx.tx_commit
  c = count(other, tq[0])
  check(c == 1, "a rolled-back publish arrived: #{tq[0]} holds #{c}, want 1")
  info, _p, _b = tx.basic_get(tq[0], manual_ack: true)
  check(info, "basic.get in tx found nothing")
  tx.ack(info.delivery_tag)
  tx.tx_rollback
  tx.close
  c = count(other, tq[0])
  check(c == 1, "a rolled-back ack took effect: #{tq[0]} holds #{c} after close, want 1")
  tx = conn.create_channel
  tx.tx_select
  info, _p, _b = tx.basic_get(tq[0], manual_ack: true)
  check(info, "basic.get in tx found nothing after requeue")
  tx.ack(info.delivery_tag)
  tx.tx_commit
  tx.close
  c = count(other, tq[0])
  check(c == 0, "a committed ack did not take effect: #{tq[0]} holds #{c}, want 0")
end

# Runs a declaration expected to close the channel with code and text; returns a
# description of any difference (nil when it matched).
def declare_error(conn, what, code, text)
  ch = conn.create_channel
  yield ch
  "#{what}: succeeded, want #{code} #{text.inspect}"
rescue Bunny::ChannelLevelException => e
  c = e.channel_close
  return nil if c.reply_code == code && c.reply_text == text
  "#{what}: got #{c.reply_code} #{c.reply_text.inspect}, want #{code} #{text.inspect}"
end

# Redeclarations with different properties or arguments get the codes and texts of
# RabbitMQ 3.10 (checked against Debian's rabbitmq-server 3.10.8). Every check runs; the
# scenario fails listing all deviations.
def scenario_inequivalent(conn)
  ch = conn.create_channel
  deviations = []
  ch.queue_declare("rb-ineq-durable", auto_delete: true)
  deviations << declare_error(conn, "redeclare durable=true of a transient queue", 406,
                              "PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'rb-ineq-durable' in vhost '/': received 'true' but current is 'false'") { |c|
    c.queue_declare("rb-ineq-durable", durable: true, auto_delete: true)
  }
  ch.queue_delete("rb-ineq-durable")
  ch.exchange_declare("rb-ineq-x", "direct", auto_delete: true)
  deviations << declare_error(conn, "redeclare of a direct exchange as fanout", 406,
                              "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'rb-ineq-x' in vhost '/': received 'fanout' but current is 'direct'") { |c|
    c.exchange_declare("rb-ineq-x", "fanout", auto_delete: true)
  }
  deviations << declare_error(conn, "queue name with the reserved prefix amq.", 403,
                              "ACCESS_REFUSED - queue name 'amq.rb-mine' contains reserved prefix 'amq.*'") { |c|
    c.queue_declare("amq.rb-mine")
  }
  ch.queue_declare("rb-ineq-args", exclusive: true, arguments: { "x-max-length" => 5 })
  deviations << declare_error(conn, "redeclare with x-max-length 6 instead of 5", 406,
                              "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'rb-ineq-args' in vhost '/': received '6' but current is '5'") { |c|
    c.queue_declare("rb-ineq-args", exclusive: true, arguments: { "x-max-length" => 6 })
  }
  # RabbitMQ 3.10 declares every exclusive queue transient whatever durable says, so a
  # redeclaration that differs only in durable is equivalent (declare-ok).
  ch = conn.create_channel
  ch.queue_declare("rb-ineq-excl", exclusive: true)
  begin
    ch.queue_declare("rb-ineq-excl", exclusive: true, durable: true)
  rescue Bunny::ChannelLevelException => e
    deviations << "redeclare of an exclusive queue with durable=true: got #{e.channel_close.reply_code} " \
                  "#{e.channel_close.reply_text.inspect}; RabbitMQ 3.10 answers declare-ok (exclusive queues are always transient, durable is ignored)"
  end
  deviations.compact!
  fail!("#{deviations.size} deviation(s) from RabbitMQ 3.10:\n  #{deviations.join("\n  ")}") unless deviations.empty?
end

# Single active consumer: of two consumers (on two channels) on a queue declared with
# x-single-active-consumer, only the first gets messages; after its channel closes, the
# second gets its unacked messages redelivered, then the new ones.
def scenario_single_active(conn)
  q = "rb-sac-#{Process.pid}"
  ch1 = conn.create_channel
  ch2 = conn.create_channel
  pub = conn.create_channel
  ch1.queue_declare(q, arguments: { "x-single-active-consumer" => true })
  got1 = Queue.new
  got2 = Queue.new
  ch1.basic_consume(q, "rb-sac-1", false) { |info, _p, body| got1 << [info.delivery_tag, body, info.redelivered] }
  ch2.basic_consume(q, "rb-sac-2", false) { |info, _p, body| got2 << [info.delivery_tag, body, info.redelivered] }
  4.times { |i| pub.default_exchange.publish("m#{i}", routing_key: q) }
  first = []
  Timeout.timeout(10, Deviation, "the first (active) consumer got only #{first.size} of 4 within 10s") do
    first << got1.pop while first.size < 4
  end
  sleep 0.3
  check(got2.empty?, "the second (inactive) consumer got deliveries: #{got2.size}")
  check(got1.empty?, "the first consumer got more than the 4 published")
  check(first.map { |_, b, r| [b, r] } == [["m0", false], ["m1", false], ["m2", false], ["m3", false]],
        "the active consumer got #{first.map { |_, b, r| [b, r] }.inspect}, want m0..m3 not redelivered")
  ch1.ack(first[1][0], true) # m0 and m1
  ch1.close
  rest = []
  Timeout.timeout(10, Deviation, "after the active consumer's channel closed the second got #{rest.size} of 2 requeued in 10s") do
    rest << got2.pop while rest.size < 2
  end
  check(rest.map { |_, b, r| [b, r] } == [["m2", true], ["m3", true]],
        "after the active consumer's channel closed the second got #{rest.map { |_, b, r| [b, r] }.inspect}, " \
        "want [[\"m2\", true], [\"m3\", true]] (its unacked messages, redelivered)")
  2.times { |i| pub.default_exchange.publish("m#{i + 4}", routing_key: q) }
  more = []
  Timeout.timeout(10, Deviation, "the new active consumer got #{more.size} of 2 new messages in 10s") do
    more << got2.pop while more.size < 2
  end
  check(more.map { |_, b, r| [b, r] } == [["m4", false], ["m5", false]],
        "the new active consumer got #{more.map { |_, b, r| [b, r] }.inspect}, want m4, m5 not redelivered")
  sleep 0.3
  check(got2.empty?, "unexpected extra deliveries to the second consumer: #{got2.size}")
  ch2.ack(more.last[0], true)
  pub.queue_delete(q)
end

# Consumer timeout from the x-consumer-timeout queue argument (RabbitMQ 3.12+; 3.10 only
# has the server-wide consumer_timeout): the channel of a consumer that does not ack is
# closed with 406 and RabbitMQ's text, and the message is redelivered.
def scenario_consumer_timeout(conn)
  q = "rb-ctimeout-#{Process.pid}"
  ch = conn.create_channel
  ch.queue_declare(q, arguments: { "x-consumer-timeout" => 500 })
  got = Queue.new
  ch.basic_consume(q, "rb-ctimeout-c", false) { |_info, _p, body| got << [body, Time.now] } # never acks
  other = conn.create_channel
  started = Time.now
  other.default_exchange.publish("slow-work", routing_key: q)
  body, _delivered_at = Timeout.timeout(5, Deviation, "the consumer got no delivery within 5s") { got.pop }
  check(body == "slow-work", "the consumer got #{body.inspect}, want \"slow-work\"")
  # Bunny 2.19 calls on_error only for a channel.close answering basic.ack/nack/reject
  # ("unknown delivery tag"); any other asynchronous close just marks the channel closed and
  # keeps the error for the next call on it, so poll for that and read the kept error.
  wait_until([started + 5 - Time.now, 0.01].max, "the channel of a consumer that never acks to be closed within 5s " \
                                                 "of the publish (x-consumer-timeout 500)") { ch.closed? }
  closed_at = Time.now
  error = ch.instance_variable_get(:@last_channel_error)
  check(error.is_a?(Bunny::ChannelLevelException), "the channel was closed without a channel.close from the broker: #{error.inspect}")
  code = error.channel_close.reply_code
  text = error.channel_close.reply_text
  want = "PRECONDITION_FAILED - delivery acknowledgement on channel #{ch.number} timed out. Timeout value used: 500 ms. " \
         "This timeout value can be configured, see consumers doc guide to learn more"
  check(code == 406 && text.start_with?("PRECONDITION_FAILED - delivery acknowledgement on channel"),
        "consumer timeout: channel closed with #{code} #{text.inspect}, want 406 #{want.inspect}")
  check(text == want, "consumer timeout: channel closed with text #{text.inspect}, want #{want.inspect}")
  check(closed_at - started >= 0.45,
        "the channel was closed #{((closed_at - started) * 1000).round} ms after the publish, before the 500 ms timeout")
  check(conn.open?, "the consumer timeout closed the connection, not just the channel")
  wait_until(2, "the channel to be marked closed") { ch.closed? }
  info = props = nil
  wait_until(5, "the timed-out message to be back in #{q}") do
    info, props, body = other.basic_get(q, manual_ack: false)
    info
  end
  check(body == "slow-work" && info.redelivered,
        "after the timeout basic.get gave #{body.inspect} redelivered=#{info.redelivered}, want \"slow-work\" redelivered=true")
  other.queue_delete(q)
end

# x-delayed-message with x-delayed-type topic: a message with x-delay 200 is routed by the
# topic rules to queues on three workers, not before 200 ms, carrying x-delay -200.
def scenario_delayed_topic(conn)
  ch = conn.create_channel
  x = "rb-delayed-topic"
  ch.exchange_declare(x, "x-delayed-message", auto_delete: true, arguments: { "x-delayed-type" => "topic" })
  qa, qb, qc = queues_on_distinct_partitions("rb-delayed", 3)
  [[qa, "a.*"], [qb, "b.#"], [qc, "#.z"]].each do |q, key|
    ch.queue_declare(q, exclusive: true)
    ch.queue_bind(q, x, routing_key: key)
  end
  started = Time.now
  ch.basic_publish("later", x, "a.z", headers: { "x-delay" => 200, "keep" => "me" })
  [qa, qc].each do |q|
    info = props = body = nil
    wait_until(5, "the delayed message in #{q} (worker #{partition_of(q)})") do
      info, props, body = ch.basic_get(q, manual_ack: false)
      info
    end
    elapsed = Time.now - started
    check(elapsed >= 0.2, "the message with x-delay 200 reached #{q} after only #{(elapsed * 1000).round} ms")
    check(body == "later" && info.exchange == x && info.routing_key == "a.z",
          "#{q}: got #{body.inspect} from exchange #{info.exchange.inspect} key #{info.routing_key.inspect}, want \"later\", #{x}, a.z")
    check(props[:headers] == { "x-delay" => -200, "keep" => "me" },
          "#{q}: headers #{props[:headers].inspect}, want {\"x-delay\"=>-200, \"keep\"=>\"me\"}")
  end
  sleep 0.2
  got = get_all(ch, qb)
  check(got.empty?, "#{qb} bound with b.# got #{got.inspect} for key a.z")
end

SCENARIOS = %w[tags confirms mandatory errors topic_headers get_qos e2e_tx inequivalent
               single_active consumer_timeout delayed_topic].freeze

unless SCENARIOS.include?(SCENARIO)
  warn "unknown scenario #{SCENARIO.inspect}; known: #{SCENARIOS.join(', ')}"
  exit 2
end

begin
  conn = connect
  begin
    send("scenario_#{SCENARIO}", conn)
  ensure
    conn.close if conn.open?
  end
  puts "ok #{SCENARIO}"
rescue Deviation => e
  warn "FAIL #{SCENARIO}: #{e.message}"
  exit 1
rescue StandardError, Timeout::Error => e
  warn "FAIL #{SCENARIO}: #{e.class}: #{e.message}\n  #{(e.backtrace || []).first(8).join("\n  ")}"
  exit 1
end

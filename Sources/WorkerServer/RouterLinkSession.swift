// One HTTP/2 connection from the router (one per router event loop). Maps its streams to
// client connections and feeds their requests to the partition host.
import BrokerModel
import LinkHTTP2
import LinkWire
import Logging
import NIOCore

final class RouterLinkSession: HTTP2LinkDelegate {
    private let host: PartitionHost
    private let logger: Logger
    weak var link: HTTP2LinkHandler?

    private enum StreamRole {
        case connection(ConnectionID, LinkMessageDecoder<LinkRequest>)
        /// The router's own requests (e.g. republishing dead-lettered messages).
        case control(LinkMessageDecoder<LinkRequest>)
        case request(method: String, path: String)
    }

    private var streams: [HTTP2StreamID: StreamRole] = [:]
    /// This worker's claim epoch (etcd), nil without one.
    private let epoch: Int64?
    /// Set once a router expecting another epoch was refused: nothing more of it is taken.
    private var fenced = false
    /// Set once the link's first request stream named this worker's epoch (or none, as it holds none).
    private var epochChecked = false

    init(host: PartitionHost, epoch: Int64?, logger: Logger) {
        self.host = host
        self.epoch = epoch
        self.logger = logger
    }

    private func ref(_ stream: HTTP2StreamID) -> PartitionHost.StreamRef? {
        guard let link else { return nil }
        return PartitionHost.StreamRef(session: ObjectIdentifier(self), stream: stream, link: link)
    }

    func linkActive(_ link: HTTP2LinkHandler) {
        logger.info("router link connected")
    }

    func link(_ link: HTTP2LinkHandler, didOpenStream stream: HTTP2StreamID, method: String, path: String) {
        guard !fenced else { return }
        // A drained worker takes no new link: its router waits for the next owner. Only the
        // new owner's word that it has the files still comes, on its own link.
        if host.draining, !(method == "POST" && path.hasPrefix(Self.handoverDonePrefix)) {
            link.resetStream(stream, errorCode: 7)  // REFUSED_STREAM
            link.closeConnection()
            return
        }
        // Fencing (etcd): a router names the claim it expects on its control stream, the
        // first it opens, and a worker taking the partition over on its request; it must be
        // this worker's claim (none names none). Operators' GET requests are not checked.
        if !epochChecked, method == "POST" {
            let expected = path.range(of: "?epoch=").flatMap { Int64(path[$0.upperBound...]) }
            guard expected == epoch else {
                logger.error("refused a router link that does not expect this worker's claim on the partition", metadata: [
                    "expected": "\(expected.map(String.init) ?? "none")", "held": "\(epoch.map(String.init) ?? "none")",
                ])
                fenced = true
                link.resetStream(stream, errorCode: 7)  // REFUSED_STREAM
                link.closeConnection()
                return
            }
            epochChecked = true
        }
        let connectionPrefix = "/v1/connections/"
        if method == "POST", path.hasPrefix(connectionPrefix), let id = UInt64(path.dropFirst(connectionPrefix.count)) {
            let connection = ConnectionID(id)
            streams[stream] = .connection(connection, LinkMessageDecoder())
            host.attach(connection: connection, at: ref(stream)!)
            link.respond(stream: stream, status: 200, endStream: false)
        } else if method == "POST", path == "/v1/control" || path.hasPrefix(Self.epochControlPrefix) {
            streams[stream] = .control(LinkMessageDecoder())
            host.attachControl(ref(stream)!)
            link.respond(stream: stream, status: 200, endStream: false)
        } else {
            streams[stream] = .request(method: method, path: path)
        }
    }

    static let epochControlPrefix = "/v1/control?epoch="
    /// A worker on another host taking the partition over (`broker cluster move-partition`).
    static let handoverPrefix = "/v1/handover?epoch="
    static let handoverDonePrefix = "/v1/handover-done?epoch="

    func link(_ link: HTTP2LinkHandler, didReceiveResponse stream: HTTP2StreamID, status: Int) {}

    /// Requests on a control stream come from the router itself.
    static let routerConnection = ConnectionID(0)

    func link(_ link: HTTP2LinkHandler, stream: HTTP2StreamID, didReceive data: ByteBuffer) {
        guard !host.draining, !fenced else { return }
        host.advanceClock()
        if case .control(let decoder) = streams[stream] {
            decoder.append(data)
            do {
                while let request = try decoder.next() { host.applyControl(request, from: ref(stream)!) }
            } catch {
                logger.error("malformed link message on the control stream; resetting it", metadata: ["error": "\(error)"])
                streams[stream] = nil
                if let ref = ref(stream) { host.detachControl(ref) }
                link.resetStream(stream, errorCode: 1)
            }
            return
        }
        guard case .connection(let connection, let decoder) = streams[stream] else { return }
        decoder.append(data)
        // The chunk's requests are applied first and their events sent together, so a run
        // of deliveries to one connection is written into its buffer in one go.
        defer { host.dispatchOutput() }
        do {
            while let request = try decoder.next() {
                host.apply(request, from: connection)
            }
        } catch {
            logger.error("malformed link message; resetting the stream", metadata: [
                "connection": "\(connection)", "error": "\(error)",
            ])
            streams[stream] = nil
            link.resetStream(stream, errorCode: 1)  // PROTOCOL_ERROR
            host.connectionGone(connection)
        }
    }

    func link(_ link: HTTP2LinkHandler, streamDidEnd stream: HTTP2StreamID) {
        switch streams[stream] {
        case .connection(let connection, _):
            host.connectionGone(connection)
            link.endStream(stream)
        case .control:
            link.endStream(stream)
        case .request(let method, let path):
            answer(link, stream: stream, method: method, path: path)
        case nil:
            break
        }
    }

    func link(_ link: HTTP2LinkHandler, streamDidClose stream: HTTP2StreamID, errorCode: UInt32) {
        switch streams.removeValue(forKey: stream) {
        case .connection(let connection, _):
            host.connectionGone(connection)
        case .control:
            if let ref = ref(stream) { host.detachControl(ref) }
        default:
            break
        }
    }

    func linkInactive(_ link: HTTP2LinkHandler) {
        logger.info("router link closed")
        if host.handover?.isOn(link) == true { host.endHandover(done: false) }
        for (stream, role) in streams {
            switch role {
            case .connection(let connection, _): host.connectionGone(connection)
            case .control: if let ref = ref(stream) { host.detachControl(ref) }
            case .request: break
            }
        }
        streams.removeAll()
    }

    func linkDidWrite(_ link: HTTP2LinkHandler) {
        host.pumpHandover(from: link)
    }

    private func answer(_ link: HTTP2LinkHandler, stream: HTTP2StreamID, method: String, path: String) {
        if method == "POST", path.hasPrefix(Self.handoverPrefix) {
            host.handOver(on: link, stream: stream)
            return
        }
        if method == "POST", path.hasPrefix(Self.handoverDonePrefix) {
            link.respond(stream: stream, status: host.handoverWritten(on: link) ? 200 : 409, endStream: true)
            return
        }
        let (status, body) = WorkerIntrospection.answer(method: method, path: path, host: host)
        link.respond(stream: stream, status: status, headers: [("content-type", "application/json")], endStream: false)
        link.send(stream: stream, data: ByteBuffer(string: body))
        link.endStream(stream)
    }
}

import Synchronization

/// The per-client limits of one instance: publishes per second (a token bucket per
/// client) and open streams (SSE and WebSocket connections) per client id.
///
/// A client is its token's `sub`, or, with authentication off, its IP address for
/// publishing and the `client` it names for streams. A request over a limit is refused
/// with `429 rate_limited` (and a `Retry-After` from the bucket) before anything is done
/// for it, so no limit ever drops a committed notification.
public final class ClientLimits: Sendable {
    /// The limits.
    public struct Configuration: Sendable {
        /// Publishes per client per second; 0: no limit.
        public var publishRate: Double
        /// The most publishes a client may make at once, after a pause.
        public var publishBurst: Double
        /// The most open streams per client id; 0: no limit.
        public var connectionsPerClient: Int

        /// Creates limits; `publishBurst` defaults to one second's worth (at least 1).
        public init(publishRate: Double = 0, publishBurst: Double? = nil, connectionsPerClient: Int = 100) {
            self.publishRate = publishRate
            self.publishBurst = publishBurst ?? max(1, publishRate)
            self.connectionsPerClient = connectionsPerClient
        }
    }

    /// The limits in force.
    public let configuration: Configuration
    private let buckets = Mutex<[String: TokenBucket]>([:])
    private let streams = Mutex<[String: Int]>([:])
    private let start = ContinuousClock.now

    /// The most clients whose buckets are kept; beyond it, full buckets are forgotten.
    static let maximumBuckets = 65_536

    /// Creates the limits.
    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    private var now: Double {
        let elapsed = ContinuousClock.now - self.start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Takes `count` publishes from the bucket of the client `principal` is (its token's
    /// subject, else the IP `address` it comes from), or throws `429 rate_limited` with
    /// the seconds until they would be allowed.
    public func admitPublish(_ principal: Principal, address: String?, count: Int = 1) throws(HeraldError) {
        guard self.configuration.publishRate > 0 else { return }
        let client = principal.subject.map { "sub:" + $0 } ?? "ip:" + (address ?? "unknown")
        try self.admitPublish(client: client, count: count)
    }

    /// Takes `count` publishes from `client`'s bucket, or throws `429 rate_limited` with
    /// the seconds until they would be allowed (the rate is not 0: `admitPublish(_:address:count:)`).
    private func admitPublish(client: String, count: Int) throws(HeraldError) {
        let rate = self.configuration.publishRate
        let now = self.now
        let decision = self.buckets.withLock { buckets in
            if buckets.count >= Self.maximumBuckets {
                // Full buckets are the same as new ones; if that frees too little (many
                // clients at once), start over rather than grow without bound.
                buckets = buckets.filter { !$0.value.isFull(now: now) }
                if buckets.count >= Self.maximumBuckets / 2 { buckets.removeAll(keepingCapacity: true) }
            }
            var bucket = buckets[client] ?? TokenBucket(rate: rate, burst: self.configuration.publishBurst, now: now)
            let decision = bucket.take(Double(count), now: now)
            buckets[client] = bucket
            return decision
        }
        if case .refused(let seconds) = decision {
            HeraldMetrics.refused(.publishRate)
            var error = HeraldError(.rateLimited, "more than \(Self.format(rate)) publishes a second from this client; slow down")
            error.retryAfter = max(1, Int(seconds.rounded(.up)))
            throw error
        }
    }

    /// Counts a new stream of `client`, or throws `429 rate_limited` when it has as many
    /// as allowed; the admission gives the place back when the stream ends (or is dropped).
    public func admitStream(client: String) throws(HeraldError) -> StreamAdmission? {
        let maximum = self.configuration.connectionsPerClient
        guard maximum > 0 else { return nil }
        let admitted = self.streams.withLock { streams in
            let open = streams[client, default: 0]
            guard open < maximum else { return false }
            streams[client] = open + 1
            return true
        }
        guard admitted else {
            HeraldMetrics.refused(.clientStreams)
            var error = HeraldError(
                .rateLimited, "client '\(client.prefix(140))' has \(maximum) streams open here already; close one first"
            )
            error.retryAfter = 1
            throw error
        }
        return StreamAdmission(client: client, limits: self)
    }

    /// A stream of `client` admitted by `admitStream` has ended (`StreamAdmission.release`).
    func releaseStream(client: String) {
        guard self.configuration.connectionsPerClient > 0 else { return }
        self.streams.withLock { streams in
            let open = streams[client, default: 0] - 1
            streams[client] = open > 0 ? open : nil
        }
    }

    private static func format(_ rate: Double) -> String {
        rate == rate.rounded() ? String(Int(rate)) : String(rate)
    }
}

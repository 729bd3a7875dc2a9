import HeraldCore
import Hummingbird

/// `GET /v1/poll`: plain polling and long-polling.
struct PollRoutes: Sendable {
    let poller: Poller
    let authenticator: Authenticator
    /// With `poll` off (`--transports`) only `wait` > 0 is served, with `longpoll` off only
    /// `wait=0`; with both off the path is `404`.
    let transports: Transports

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/v1/poll", [(.get, self.poll)])
    }

    @Sendable func poll(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        guard !self.transports.isDisjoint(with: [.poll, .longpoll]) else { throw Transports.disabled("Polling") }
        let principal = try await self.authenticator.principal(request)
        let subscription = try SubscriptionParameters(request)
        try principal.authorize(.subscribe, topics: subscription.topics)
        let limit = try Self.limit(request.query("limit"))
        let wait = try Self.wait(request.query("wait"))
        if wait > .zero, !self.transports.contains(.longpoll) {
            throw HeraldError(.invalidParameter, "long-polling is turned off on this server (--transports): poll with wait=0")
        }
        if wait == .zero, !self.transports.contains(.poll) {
            throw HeraldError(.invalidParameter, "plain polling is turned off on this server (--transports): poll with wait > 0")
        }
        let pollRequest = try PollRequest(
            topics: subscription.topics, after: subscription.after, limit: limit, wait: wait, client: try principal.clientID(requested: subscription.client)
        )
        let transport: HeraldMetrics.Transport = wait > .zero ? .longpoll : .poll
        if transport == .longpoll { HeraldMetrics.subscriber(.longpoll, by: 1) }
        defer { if transport == .longpoll { HeraldMetrics.subscriber(.longpoll, by: -1) } }
        let result = try await self.poller.poll(pollRequest)
        HeraldMetrics.delivered(result.notifications.count, over: transport)
        return JSONResponse.make(.ok, result.json)
    }

    static func limit(_ text: String?) throws(HeraldError) -> Int {
        guard let text else { return 100 }
        guard let value = Int(text) else { throw HeraldError(.invalidParameter, "limit must be from 1 to 1000") }
        return value
    }

    static func wait(_ text: String?) throws(HeraldError) -> Duration {
        guard let text else { return .zero }
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds <= 60 else {
            throw HeraldError(.invalidParameter, "wait must be from 0 to 60 seconds")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

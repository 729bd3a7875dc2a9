import HTTPTypes
import HeraldCore
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// One Server-Sent Events stream on a connection of the fast path.
///
/// Starts with `retry:` and the starting cursor (`id:`); each notification is an event with `id:` (the cursor after it),
/// `event:` and one `data:` line; a reset is the event `herald.reset`; a `: keep-alive`
/// comment goes out every heartbeat. `Last-Event-ID` resumes exactly after that cursor
/// (and acknowledges it). With a client id, every event written is recorded as that
/// client's cursor (coalesced, about a second late at most). Live notifications are
/// written by the stream's `SSELiveSink` on the event loop; the rest (catch-up pages,
/// resets, the end) by a task of its `SubscriptionDriver`, which exists only while there
/// is such work and waits while the socket is full. On graceful shutdown (or when the
/// client goes) the stream ends: `EventSource` reconnects, elsewhere if need be, and
/// resumes.
final class SSEStream: Sendable {
    let handler: FastPathHandler
    let loop: any EventLoop
    let routes: FastPathRoutes
    private let inbox = Mutex<SubscriberInbox?>(nil)
    private let ended = Atomic<Bool>(false)
    /// The end of the stream at its token's expiry.
    private let expiry = Mutex<Scheduled<Void>?>(nil)

    /// The reconnection delay suggested to clients, in milliseconds.
    static let retryMilliseconds = 1000

    init(handler: FastPathHandler, loop: any EventLoop, routes: FastPathRoutes) {
        self.handler = handler
        self.loop = loop
        self.routes = routes
    }

    /// Ends the stream: the connection closed, or the server is shutting down.
    func end() {
        self.ended.store(true, ordering: .releasing)
        self.inbox.withLock { $0?.close() }
        self.expiry.withLock { $0?.cancel() }
    }

    func start(_ request: HTTPRequest) {
        Task { await self.run(request) }
    }

    private func run(_ request: HTTPRequest) async {
        let opening: SSEOpening
        do throws(HeraldError) {
            opening = try await SSEOpening.open(request.headerFields, uri: URI(request.path ?? "/"), routes: self.routes) { client in
                SSELiveSink(handler: self.handler, loop: self.loop, cursors: client.map { (self.routes.subscriptions.policy, $0) })
            }
        } catch {
            self.loop.execute { self.handler.failStream(error, request: request) }
            return
        }
        let (subscription, client, principal, admission) = (opening.subscription, opening.client, opening.principal, opening.admission)
        self.inbox.withLock { $0 = subscription.inbox }
        // A stream ends when its token expires: EventSource reconnects, with a new token
        // if the page has one.
        if let remaining = principal.remaining() {
            let scheduled = self.loop.scheduleTask(in: TimeAmount(remaining)) { self.end() }
            self.expiry.withLock { $0 = scheduled }
        }
        if self.ended.load(ordering: .acquiring) { self.end() }

        var headers = SSEOpening.headers
        self.handler.addCORSFromAnyThread(to: &headers, request: request)
        headers[.date] = HTTPDate.now
        headers[.server] = "Herald"
        let head = HTTPResponse(status: .ok, headerFields: headers)
        let preamble = opening.preamble
        self.loop.execute { self.handler.beginStream(head, first: preamble) }
        // The stream may live for days: deliver from a task of its own, started fresh.
        // A task keeps the memory its deepest await needed until it ends, and setting the
        // subscription up (database queries) needs far more than waiting for the next
        // event does; this task ends now and gives that memory back. While the sink
        // delivers, no task waits at all (`SubscriptionDriver`).
        HeraldMetrics.connection(.sse, by: 1)
        HeraldMetrics.subscriber(.sse, by: 1)
        SubscriptionDriver.start(subscription) { subscription, next in
            await self.deliver(next, of: subscription, client: client, admission: admission)
        }
    }

    /// Delivers what `next()` returned; returns whether to go on.
    private func deliver(
        _ next: Subscription.Next, of subscription: Subscription, client: String?, admission: StreamAdmission?
    ) async -> Bool {
        let buffer: ByteBuffer
        var written: (@Sendable () -> Void)? = nil
        switch next {
        case .events(let events):
            buffer = SSEEncoding.encode(events)
            HeraldMetrics.delivered(events.count(where: \.isNotification), over: .sse)
            // The client's cursor moves once the write is done, not when it is handed over.
            if let client {
                let (policy, marks) = (self.routes.subscriptions.policy, subscription.marks(events.map(\.position)))
                written = { policy.delivered(client: client, marks) }
            }
        case .heartbeat:
            buffer = SSEEncoding.keepAlive()
        case .message:
            return true
        case .closed:
            HeraldMetrics.connection(.sse, by: -1)
            HeraldMetrics.subscriber(.sse, by: -1)
            subscription.close()
            self.expiry.withLock { $0?.cancel() }
            admission?.release()
            self.loop.execute { self.handler.endStream() }
            return false
        }
        // A page of history holds a turn until the loop has written it (`Hub.pageTurns`).
        let turn = subscription.takePageTurn()
        self.loop.execute { [written] in
            self.handler.writeChunk(buffer, whenWritten: written)
            turn?.end()
        }
        // The socket is full (a slow reader): wait, so the inbox fills and the
        // subscription falls back to reading PostgreSQL at the reader's pace.
        if !self.handler.isWritable {
            await withCheckedContinuation { continuation in
                self.loop.execute { self.handler.whenWritable(continuation) }
            }
        }
        return true
    }
}

import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// Publishers and subscribers of every kind that keep going while the database fails over,
/// and the record of what each was answered and received, to hold against what is stored.
///
/// A publisher retries each publish with its idempotency key until it is answered 2xx, as
/// a client told "503, retry" does; a subscriber follows its topics with a client id and
/// resumes as its transport does (SSE from its last id, WebSocket from its stored cursor,
/// long-poll from its cursor).
final class FailoverTraffic: Sendable {
    /// A publish answered 2xx.
    struct Acknowledged: Sendable {
        var topic: String
        var seq: Int
        var id: String
        var sentAt: ContinuousClock.Instant
        var answeredAt: ContinuousClock.Instant
    }

    private struct State {
        var acknowledged: [Acknowledged] = []
        /// When each publish answered 503 was answered.
        var refused: [ContinuousClock.Instant] = []
        /// Anything a user would call wrong: another status, a 503 without Retry-After, a
        /// reset, a transport error.
        var unexpected: [String] = []
        /// Per subscriber, per topic, the seqs in the order they arrived.
        var received: [String: [String: [Int]]] = [:]
        var reconnects: [String: Int] = [:]
        /// Per instance, its /readyz answers as (time, status) when the status changed.
        var readiness: [Int: [(ContinuousClock.Instant, Int)]] = [:]
        /// Per publisher, what it is doing now (for a test that waits for one in vain).
        var doing: [String: String] = [:]
    }

    let topics: [String]
    private let state = Mutex(State())
    private let publishing = Atomic<Bool>(true)
    private let subscribing = Atomic<Bool>(true)

    init(topics: [String]) {
        self.topics = topics
    }

    var acknowledged: [Acknowledged] { self.state.withLock { $0.acknowledged } }
    var refused: [ContinuousClock.Instant] { self.state.withLock { $0.refused } }
    var unexpected: [String] { self.state.withLock { $0.unexpected } }
    var received: [String: [String: [Int]]] { self.state.withLock { $0.received } }
    var reconnects: [String: Int] { self.state.withLock { $0.reconnects } }
    var readiness: [Int: [(ContinuousClock.Instant, Int)]] { self.state.withLock { $0.readiness } }
    /// What each publisher is doing now.
    var doing: [String: String] { self.state.withLock { $0.doing } }

    private func doing(_ name: String, _ what: String) {
        self.state.withLock { $0.doing[name] = what }
    }

    /// Publishers finish the publish they are on and stop.
    func stopPublishing() { self.publishing.store(false, ordering: .releasing) }
    /// Everything stops (a test that failed half-way).
    func stop() {
        self.stopPublishing()
        self.stopSubscribing()
    }
    /// Subscribers and monitors stop.
    func stopSubscribing() { self.subscribing.store(false, ordering: .releasing) }

    private func note(_ problem: String) { self.state.withLock { $0.unexpected.append(problem) } }

    private func receive(_ subscriber: String, _ topic: String, _ seq: Int) {
        self.state.withLock { $0.received[subscriber, default: [:]][topic, default: []].append(seq) }
    }

    // MARK: - Publishers

    /// Publishes over REST to `base` until stopped, a topic after another.
    func publishOverREST(_ name: String, base: String) async {
        var count = 0
        while self.publishing.load(ordering: .acquiring) {
            count += 1
            let topic = self.topics[count % self.topics.count]
            let body = Array(#"{"data":{"p":"\#(name)","n":\#(count)}}"#.utf8)
            let headers = [("Content-Type", "application/json"), ("Idempotency-Key", "\(name)-\(count)")]
            for attempt in 1... {
                let sent = ContinuousClock.now
                self.doing(name, "publish \(count) to \(topic), try \(attempt), sent at \(sent)")
                do {
                    let answer = try await TestHTTP.request(.POST, "\(base)/v1/topics/\(topic)/notifications", body: body, headers: headers, timeout: .seconds(30))
                    if answer.status == 200 || answer.status == 201 {
                        self.acknowledge(answer.json, sentAt: sent)
                        break
                    }
                    if answer.status == 503, answer.errorCode == "unavailable", answer.header("Retry-After") != nil {
                        self.state.withLock { $0.refused.append(.now) }
                    } else {
                        self.note("\(name): publish answered \(answer.status) \(answer.text)")
                    }
                } catch {
                    self.note("\(name): publish failed: \(error)")
                }
                guard attempt < 300 else {
                    self.note("\(name): publish \(count) not answered 2xx in 300 tries")
                    break
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        self.doing(name, "done")
    }

    /// Publishes over one WebSocket to `base` (ws://) until stopped; reconnects if it closes.
    func publishOverWebSocket(_ name: String, base: String) async {
        var socket = TestWebSocket.connect("\(base)/v1/ws")
        var count = 0
        while self.publishing.load(ordering: .acquiring) {
            count += 1
            let topic = self.topics[count % self.topics.count]
            for attempt in 1... {
                let ref = "\(count)-\(attempt)"
                let sent = ContinuousClock.now
                self.doing(name, "publish \(count) to \(topic), try \(attempt), sent at \(sent)")
                socket.send(
                    #"{"type":"publish","ref":"\#(ref)","topic":"\#(topic)","data":{"p":"\#(name)","n":\#(count)},"idempotency_key":"\#(name)-\#(count)"}"#
                )
                var answer: [String: Any]?
                while let message = await socket.next(timeout: .seconds(10)) {
                    if message["ref"] as? String == ref {
                        answer = message
                        break
                    }
                }
                if let answer, answer["type"] as? String == "published", let notification = answer["notification"] as? [String: Any] {
                    self.acknowledge(notification, sentAt: sent)
                    break
                }
                if let answer, answer["code"] as? String == "unavailable" {
                    self.state.withLock { $0.refused.append(.now) }
                } else {
                    self.note("\(name): publish answered \(String(describing: answer))")
                    if answer == nil {
                        socket.close()
                        socket = TestWebSocket.connect("\(base)/v1/ws")
                    }
                }
                guard attempt < 300 else {
                    self.note("\(name): publish \(count) not answered in 300 tries")
                    break
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        socket.close()
        self.doing(name, "done")
    }

    private func acknowledge(_ notification: [String: Any], sentAt: ContinuousClock.Instant) {
        guard let topic = notification["topic"] as? String, let seq = notification["seq"] as? Int, let id = notification["id"] as? String else {
            self.note("a 2xx without a notification: \(notification)")
            return
        }
        let acknowledged = Acknowledged(topic: topic, seq: seq, id: id, sentAt: sentAt, answeredAt: .now)
        self.state.withLock { $0.acknowledged.append(acknowledged) }
    }

    // MARK: - Subscribers

    /// Follows the topics over SSE as `client`; a stream that ends is opened again from its
    /// last id (what `EventSource` sends as `Last-Event-ID`).
    func subscribeOverSSE(_ client: String, base: String) async {
        var lastID: String?
        while self.subscribing.load(ordering: .acquiring) {
            let url = "\(base)/v1/sse?topics=\(self.topics.joined(separator: ","))&client=\(client)"
            guard let stream = try? await SSEClient.open(url, headers: lastID.map { [("Last-Event-ID", $0)] } ?? []), stream.status == 200 else {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            if lastID != nil { self.state.withLock { $0.reconnects[client, default: 0] += 1 } }
            lastID = lastID ?? stream.startCursor
            while self.subscribing.load(ordering: .acquiring) {
                let started = ContinuousClock.now
                guard let event = await stream.next(timeout: .milliseconds(500)) else {
                    // Nothing for a while, or the stream ended (then nothing comes at once).
                    if ContinuousClock.now - started < .milliseconds(400) { break }
                    continue
                }
                lastID = event.id ?? lastID
                if let topic = event.topic, let seq = event.seq {
                    self.receive(client, topic, seq)
                } else {
                    self.note("\(client): unexpected event \(event.event) \(event.data)")
                }
            }
            stream.close()
        }
    }

    /// Follows the topics over a WebSocket as `client` with `ack=auto`; one that closes is
    /// opened again with the client id alone, so it resumes from its stored cursor.
    func subscribeOverWebSocket(_ client: String, base: String) async {
        var opened = false
        while self.subscribing.load(ordering: .acquiring) {
            if opened {
                self.state.withLock { $0.reconnects[client, default: 0] += 1 }
                try? await Task.sleep(for: .milliseconds(200))
            }
            let socket = TestWebSocket.connect("\(base)/v1/ws?topics=\(self.topics.joined(separator: ","))&client=\(client)&ack=auto")
            opened = true
            while self.subscribing.load(ordering: .acquiring) {
                let started = ContinuousClock.now
                guard let message = await socket.next(timeout: .milliseconds(500)) else {
                    if ContinuousClock.now - started < .milliseconds(400) { break }
                    continue
                }
                switch message["type"] as? String {
                case "notification":
                    let notification = message["notification"] as? [String: Any] ?? [:]
                    if let topic = notification["topic"] as? String, let seq = notification["seq"] as? Int {
                        self.receive(client, topic, seq)
                    }
                case "subscribed":
                    break
                default:
                    self.note("\(client): unexpected message \(message)")
                }
            }
            socket.close()
        }
    }

    /// Long-polls the topics as `client`, sending back each answer's cursor; a 503 is
    /// asked again with the same cursor.
    func subscribeOverLongPoll(_ client: String, base: String) async {
        var cursor: String?
        while self.subscribing.load(ordering: .acquiring) {
            var url = "\(base)/v1/poll?topics=\(self.topics.joined(separator: ","))&client=\(client)&wait=1"
            if let cursor { url += "&after=\(cursor)" }
            do {
                let answer = try await TestHTTP.get(url, timeout: .seconds(30))
                switch answer.status {
                case 200:
                    for notification in answer.json["notifications"] as? [[String: Any]] ?? [] {
                        if let topic = notification["topic"] as? String, let seq = notification["seq"] as? Int {
                            self.receive(client, topic, seq)
                        }
                    }
                    if let resets = answer.json["resets"] as? [Any], !resets.isEmpty { self.note("\(client): resets \(resets)") }
                    cursor = answer.json["cursor"] as? String ?? cursor
                case 503 where answer.header("Retry-After") != nil:
                    try? await Task.sleep(for: .milliseconds(100))
                default:
                    self.note("\(client): poll answered \(answer.status) \(answer.text)")
                    try? await Task.sleep(for: .milliseconds(100))
                }
            } catch {
                self.note("\(client): poll failed: \(error)")
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Asks `base/readyz` every 50 ms and keeps each change of its status.
    func watchReadiness(_ instance: Int, base: String) async {
        var last = 0
        while self.subscribing.load(ordering: .acquiring) {
            let status = (try? await TestHTTP.get("\(base)/readyz", timeout: .seconds(3)).status) ?? 0
            if status != last {
                self.state.withLock { $0.readiness[instance, default: []].append((.now, status)) }
                last = status
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Whether every subscriber has received each topic up to `lastSeqs`.
    func subscribersReached(_ lastSeqs: [String: Int], subscribers: [String]) -> Bool {
        let received = self.received
        return subscribers.allSatisfy { subscriber in
            lastSeqs.allSatisfy { topic, last in last == 0 || received[subscriber]?[topic]?.last == last }
        }
    }
}

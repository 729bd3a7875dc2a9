import Foundation
import Synchronization
@testable import HeraldCore
import HeraldServer
import Testing

@Suite("What an instance commits reaches its own subscribers without a read back")
struct CommittedDeliveryTests {
    @Test("with no NOTIFY at all (no listener), what the publisher commits reaches the hub's subscriber: 1...60 in order, once")
    func withoutNotify() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let instance = server.instance
        // A hub and a publisher of their own, on the instance's database, with no LISTEN
        // connection: the only way in is the publisher's hand-off.
        let hub = Hub(store: instance.store)
        let reads = Task { await hub.runReads() }
        let publisher = Publisher(pool: instance.publishPool, onCommit: { hub.deliverCommitted($0) })
        let committing = Task { await publisher.run() }
        defer {
            publisher.shutdown()
            reads.cancel()
            committing.cancel()
        }
        let subscription = Subscription(hub: hub, policy: CursorPolicy(store: instance.store, cursors: nil), clientID: nil)
        defer { subscription.close() }
        func item(_ index: Int) -> PublishItem {
            PublishItem(checkedTopic: "nr", event: "message", data: "\(index)", ttl: nil, idempotencyKey: nil)
        }
        _ = try await publisher.publish([item(0)])
        try await subscription.subscribe(["nr"])  // from now: after 1
        // Give the new feed's first read time to end (it starts at the last seq).
        try await Task.sleep(for: .milliseconds(200))
        let publishing = Task {
            // One at a time, and three in one request: batches of several rows come too.
            for start in stride(from: 1, through: 60, by: 4) {
                _ = try await publisher.publish([item(start)])
                _ = try await publisher.publish([item(start + 1), item(start + 2), item(start + 3)])
            }
        }
        var seqs: [Int64] = []
        // Nothing for 20 s: the inbox closes, and `next()` says so.
        let inbox = subscription.inbox
        let giveUp = Task {
            try await Task.sleep(for: .seconds(20))
            inbox.close()
        }
        defer { giveUp.cancel() }
        while seqs.count < 60, case .events(let events) = await subscription.next() {
            for case .notification(let encoded, _) in events { seqs.append(encoded.seq) }
        }
        try await publishing.value
        #expect(seqs == Array(2...61), "got \(seqs.count) of 60: \(seqs.prefix(10))…")
    }

    @Test("a publish is answered only once the hub has its notifications, so a producer's next publish cannot overtake them")
    func handedBeforeAnswered() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let handed = Mutex<[Int64]>([])
        let publisher = Publisher(
            pool: server.instance.publishPool,
            onCommit: { notifications in
                // A hand-off that takes a while: the answer must wait for it.
                usleep(50_000)
                handed.withLock { $0 += notifications.map(\.seq) }
            }
        )
        let committing = Task { await publisher.run() }
        defer {
            publisher.shutdown()
            committing.cancel()
        }
        for index in 0..<3 {
            let item = PublishItem(checkedTopic: "handed", event: "message", data: "\(index)", ttl: nil, idempotencyKey: nil)
            let results = try await publisher.publish([item])
            let seq = try #require(results.first?.notification.seq)
            #expect(handed.withLock { $0.contains(seq) }, "seq \(seq) was answered before the hub had it")
        }
    }
}

import Foundation
@testable import HeraldCore
import HeraldServer
import NIOCore
import Synchronization
import Testing

/// A transport's sink that holds what it is handed, so a test decides when it "writes".
final class HeldSink: LiveSink {
    let positions = Mutex<Positions?>(nil)
    let batches = Mutex<[[EncodedNotification]]>([])

    func activate(_ positions: Positions) {
        self.positions.withLock { $0 = positions }
    }

    func deactivate() -> Positions? {
        self.positions.withLock { positions in
            defer { positions = nil }
            return positions
        }
    }

    var eventLoop: (any EventLoop)? { nil }

    var currentPositions: Positions? { self.positions.withLock { $0 } }

    func write(_ batch: [EncodedNotification], topic: String) {
        self.batches.withLock { $0.append(batch) }
    }

    let heartbeats = Atomic<Int>(0)

    func heartbeat() {
        self.heartbeats.add(1, ordering: .relaxed)
    }

    func dropped(_ batch: [EncodedNotification], topic: String) {}

    var heldSeqs: [Int64] { self.batches.withLock { $0.flatMap { $0.map(\.seq) } } }
}

@Suite("Subscriptions: direct delivery and its hand-back")
struct SubscriptionTests {
    @Test("a sink that cannot write hands delivery back: the subscription reads what it dropped, in order, then hands back to it")
    func leavingWithBatchesInFlight() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let instance = server.instance
        for index in 1...3 { _ = try await SSETests.publish(server, "h", "\(index)") }
        let sink = HeldSink()
        let subscription = Subscription(hub: instance.hub, policy: CursorPolicy(store: instance.store, cursors: nil), clientID: nil, sink: sink)
        try await subscription.subscribe(["h"], after: try Cursor.parse("h:0"))
        guard case .events(let first) = await subscription.next() else {
            Issue.record("expected the catch-up events")
            return
        }
        #expect(first.count == 3)

        // While the subscription waits for more (below), it hands live delivery to the
        // sink. Then 4 and 5 reach the sink; it cannot write 4 and leaves, while 5 is still
        // on its way to it; 6 comes after it left and is queued for the subscription.
        let inbox = subscription.inbox
        let driver = Task {
            let deadline = ContinuousClock.now + .seconds(5)
            while sink.positions.withLock({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(sink.positions.withLock { $0?["h"] } == 3)
            _ = try await SSETests.publish(server, "h", "4")
            _ = try await SSETests.publish(server, "h", "5")
            while sink.heldSeqs.count < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(sink.heldSeqs == [4, 5])
            inbox.leaveDirect(sink, positions: sink.positions.withLock { $0 }, overflowed: "h", through: 4)
            sink.positions.withLock { $0 = nil }
        }

        // The subscription takes its positions back and reads 4 and 5 from PostgreSQL.
        var seqs: [Int64] = []
        var resets = 0
        let giveUp = ContinuousClock.now + .seconds(10)
        while seqs.last != 5, ContinuousClock.now < giveUp {
            guard case .events(let events) = await subscription.next() else { continue }
            for event in events {
                switch event {
                case .notification(let encoded, _): seqs.append(encoded.seq)
                case .reset: resets += 1
                }
            }
        }
        #expect(seqs == [4, 5])
        #expect(resets == 0)
        try await driver.value
        // Waiting again, it hands live delivery back to the sink, from 5 on: 6 goes there.
        let rejoined = Task {
            let deadline = ContinuousClock.now + .seconds(5)
            while sink.positions.withLock({ $0?["h"] }) != 5, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(sink.positions.withLock { $0?["h"] } == 5)
            _ = try await SSETests.publish(server, "h", "6")
            while sink.heldSeqs.last != 6, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(sink.heldSeqs.last == 6)
            inbox.close()
        }
        #expect(await subscription.next().isClosed)
        try await rejoined.value
        subscription.close()
    }
}

@Suite("Heartbeats")
struct HeartbeatTests {
    @Test("a subscription delivering directly gets its keep-alive through the sink, without waking; one that is not gets a heartbeat; one that does not want them gets nothing")
    func heartbeatsGoToSinks() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let instance = server.instance
        let sink = HeldSink()
        let direct = Subscription(hub: instance.hub, policy: CursorPolicy(store: instance.store, cursors: nil), clientID: nil, sink: sink)
        let queued = Subscription(hub: instance.hub, policy: CursorPolicy(store: instance.store, cursors: nil), clientID: nil)
        let silent = Subscription(
            hub: instance.hub, policy: CursorPolicy(store: instance.store, cursors: nil), clientID: nil, wantsHeartbeats: false
        )
        for subscription in [direct, queued, silent] { try await subscription.subscribe(["hb"], after: try Cursor.parse("hb:0")) }
        // The first one hands delivery to its sink once it waits (below); then the heartbeat.
        let hub = instance.hub
        let directInbox = direct.inbox
        let driver = Task {
            let deadline = ContinuousClock.now + .seconds(5)
            while sink.positions.withLock({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            hub.heartbeat()
            let heartbeats = sink.heartbeats.load(ordering: .relaxed)
            directInbox.close()
            return heartbeats
        }
        // Not woken by the heartbeat: the next thing it sees is the closing.
        let directNext = await direct.next()
        #expect(directNext.isClosed)
        #expect(try await driver.value == 1)
        let queuedNext = await queued.next()
        guard case .heartbeat = queuedNext else {
            Issue.record("the subscription without a sink did not get its heartbeat")
            return
        }
        // The one that wants none has nothing waiting.
        silent.inbox.close()
        let silentNext = await silent.next()
        #expect(silentNext.isClosed)
        for subscription in [direct, queued, silent] { subscription.close() }
    }

    @Test("a driven subscription keeps no task while its sink delivers: a message, the sink leaving and closing each wake a new one, in order")
    func drivenParksWhileDirect() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let instance = server.instance
        for index in 1...2 { _ = try await SSETests.publish(server, "park", "\(index)") }
        let sink = HeldSink()
        let subscription = Subscription(hub: instance.hub, policy: CursorPolicy(store: instance.store, cursors: nil), clientID: nil, sink: sink)
        try await subscription.subscribe(["park"], after: try Cursor.parse("park:0"))
        let inbox = subscription.inbox
        // What each call of the driver's `deliver` got, and what woke its task: a new task
        // takes the task-local values of whoever started it.
        struct Call {
            var what: String
            var wokenBy: String
        }
        let calls = Mutex<[Call]>([])
        let inCall = Atomic<Int>(0)
        let overlapped = Atomic<Bool>(false)
        let deliver: @Sendable (Subscription, Subscription.Next) async -> Bool = { _, next in
            if inCall.add(1, ordering: .relaxed).newValue > 1 { overlapped.store(true, ordering: .relaxed) }
            defer { inCall.subtract(1, ordering: .relaxed) }
            let what: String
            switch next {
            case .events(let events):
                let seqs = events.compactMap { event -> Int64? in
                    if case .notification(let encoded, _) = event { encoded.seq } else { nil }
                }
                what = "events \(seqs)"
            case .message(let message): what = "message \(message)"
            case .heartbeat: what = "heartbeat"
            case .closed: what = "closed"
            }
            calls.withLock { $0.append(Call(what: what, wokenBy: WokenBy.name)) }
            // Some work that suspends, as a transport's write does.
            try? await Task.sleep(for: .milliseconds(5))
            return what != "closed"
        }
        SubscriptionDriver.start(subscription, deliver: deliver)
        func waitFor(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while calls.withLock({ $0.count }) < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try #require(calls.withLock { $0.count } >= count, "\(calls.withLock { $0.map(\.what) })")
        }
        // Parked: the sink delivers, and no task waits.
        func waitForParked() async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while !inbox.isParked, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try #require(inbox.isParked, "the subscription never parked")
            try #require(sink.positions.withLock { $0 } != nil, "parked while the sink does not deliver")
        }
        try await waitFor(1)
        try await waitForParked()
        // Live delivery goes to the sink; the first task has ended. A message wakes a new one.
        _ = try await SSETests.publish(server, "park", "3")
        let deadline = ContinuousClock.now + .seconds(10)
        while sink.heldSeqs != [3], ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(sink.heldSeqs == [3])
        WokenBy.$name.withValue("message") { inbox.post("hello") }
        try await waitFor(2)
        // The sink leaves, having written nothing: 3 is read again from PostgreSQL.
        try await waitForParked()
        let held = sink.deactivate()  // before it leaves: the next task may hand it back at once
        WokenBy.$name.withValue("leaving") { inbox.leaveDirect(sink, positions: held, overflowed: "park", through: 3) }
        try await waitFor(3)
        try await waitForParked()
        WokenBy.$name.withValue("closing") { inbox.close() }
        try await waitFor(4)
        let seen = calls.withLock { $0 }
        #expect(seen.map(\.what) == ["events [1, 2]", "message hello", "events [3]", "closed"])
        // Each came from a new task, started by what woke it: none waited while the sink delivered.
        #expect(seen.map(\.wokenBy) == ["nobody", "message", "leaving", "closing"])
        let overlapping = overlapped.load(ordering: .relaxed)
        #expect(!overlapping, "two tasks delivered at once")
    }
}

/// What started the task a `SubscriptionDriver` delivers from (test only).
enum WokenBy {
    @TaskLocal static var name = "nobody"
}

extension Subscription.Next {
    var isClosed: Bool {
        if case .closed = self { return true }
        return false
    }
}

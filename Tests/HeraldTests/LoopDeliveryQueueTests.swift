import Foundation
@testable import HeraldCore
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// What ran on the loop, in order.
final class RunLog: Sendable {
    let entries = Mutex<[String]>([])
    func append(_ entry: String) { self.entries.withLock { $0.append(entry) } }
}

/// A sink that records what it is written and on which thread it ran.
final class RecordingSink: LiveSink {
    let loop: any EventLoop
    let written = Mutex<[Int64]>([])
    let offLoop = Atomic<Int>(0)
    let log: RunLog
    let name: String

    init(_ name: String, loop: any EventLoop, log: RunLog) {
        self.name = name
        self.loop = loop
        self.log = log
    }

    func activate(_ positions: Positions) {}
    func deactivate() -> Positions? { nil }
    var currentPositions: Positions? { nil }
    var eventLoop: (any EventLoop)? { self.loop }

    func write(_ batch: [EncodedNotification], topic: String) {
        if !self.loop.inEventLoop { self.offLoop.add(1, ordering: .relaxed) }
        self.written.withLock { $0.append(contentsOf: batch.map(\.seq)) }
        self.log.append(self.name)
    }

    func heartbeat() {
        if !self.loop.inEventLoop { self.offLoop.add(1, ordering: .relaxed) }
        self.log.append("\(self.name) heartbeat")
    }

    let dropped = Mutex<[Int64]>([])

    func dropped(_ batch: [EncodedNotification], topic: String) {
        self.dropped.withLock { $0.append(contentsOf: batch.map(\.seq)) }
    }
}

@Suite("LoopDeliveryQueue: fan-out a slice at a time")
struct LoopDeliveryQueueTests {
    @Test("every sink gets every batch in order, on its loop; other work of the loop runs between slices")
    func slicesKeepOrderAndLetOthersIn() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let log = RunLog()
        let sinks = (0..<10).map { RecordingSink("sink\($0)", loop: loop, log: log) }
        let queue = LoopDeliveryQueue(loop: loop, sliceSize: 4)
        // Queued from the loop itself, so all three batches and the other task are queued
        // before any slice runs.
        try await loop.submit {
            for seq in Int64(1)...3 {
                queue.enqueue(.notifications([SSEFastPathTests.encoded("t", seq)], topic: "t"), sinks: sinks)
            }
            loop.execute { log.append("other") }
        }.get()
        let deadline = ContinuousClock.now + .seconds(5)
        while sinks.contains(where: { $0.written.withLock { $0.count } < 3 }), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        for sink in sinks {
            #expect(sink.written.withLock { $0 } == [1, 2, 3])
            #expect(sink.offLoop.load(ordering: .relaxed) == 0)
        }
        // The other task did not wait for the whole fan-out: it ran after the first slice.
        let entries = log.entries.withLock { $0 }
        let other = try #require(entries.firstIndex(of: "other"))
        #expect(other == 4, "\(entries)")
        try await group.shutdownGracefully()
    }

    @Test("the queue is bounded: a batch that does not fit is dropped by its sinks (they catch up from the database), the rest is written")
    func bounded() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let log = RunLog()
        let sinks = (0..<2).map { RecordingSink("sink\($0)", loop: loop, log: log) }
        let queue = LoopDeliveryQueue(loop: loop, sliceSize: 64, maximumPendingWrites: 5)
        try await loop.submit {
            for seq in Int64(1)...3 {
                queue.enqueue(.notifications([SSEFastPathTests.encoded("t", seq)], topic: "t"), sinks: sinks)
            }
        }.get()
        let deadline = ContinuousClock.now + .seconds(5)
        while queue.pendingWriteCount > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        for sink in sinks {
            #expect(sink.written.withLock { $0 } == [1, 2])
            #expect(sink.dropped.withLock { $0 } == [3])
        }
        #expect(queue.pendingWriteCount == 0)
        try await group.shutdownGracefully()
    }
}

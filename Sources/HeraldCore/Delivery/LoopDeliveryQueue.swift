import DequeModule
import NIOCore
import Synchronization

/// The hub's deliveries to the direct sinks of one event loop, written a slice at a time.
///
/// A notification for a thousand subscribers is a thousand socket writes, ~10 ms of one
/// loop. Written in one go, everything else that loop does waits behind it: reading the
/// next publish, resuming the tasks that commit it and read it back. Each of those waits
/// adds to the next notification's latency, so a busy loop delayed every notification by
/// several fan-outs. Here the writes go out `sliceSize` sinks at a time; between slices
/// the loop reads its sockets and runs the tasks that queued up, so they wait for one slice
/// at most.
///
/// Batches are written in the order they were queued, each to all its sinks before the
/// next begins, so every sink still gets a topic's batches in seq order. The queue is
/// confined to its loop: `enqueue` hops there, and everything else runs there.
///
/// It is bounded: at most `maximumPendingWrites` writes (a batch to a sink is one) wait.
/// A loop that falls that far behind gets no more: the sinks of a batch that does not fit
/// drop it (`LiveSink.dropped`) and their subscriptions catch up from PostgreSQL, at
/// their readers' pace, as for a full socket.
final class LoopDeliveryQueue: @unchecked Sendable {
    // @unchecked Sendable: `items`, `nextSink` and `isDraining` are only touched on `loop`
    // (`enqueue` hops there with `execute`; `drain` runs there), so one thread at a time;
    // `pendingWrites` is atomic.
    /// What is written to each sink of an item.
    enum Work {
        /// A topic's next notifications (`LiveSink.write`).
        case notifications([EncodedNotification], topic: String)
        /// A keep-alive (`LiveSink.heartbeat`).
        case heartbeat
    }

    struct Item {
        var work: Work
        var sinks: [any LiveSink]
    }

    let loop: any EventLoop
    /// Sinks written per turn of the loop.
    let sliceSize: Int
    /// The most writes waiting, queued or on their way to the loop.
    let maximumPendingWrites: Int
    private let pendingWrites = Atomic<Int>(0)
    private var items: Deque<Item> = []
    /// Where the first item's writing stands.
    private var nextSink = 0
    private var isDraining = false

    init(loop: any EventLoop, sliceSize: Int = 64, maximumPendingWrites: Int = 1 << 20) {
        self.loop = loop
        self.sliceSize = sliceSize
        self.maximumPendingWrites = maximumPendingWrites
    }

    /// The writes waiting now.
    var pendingWriteCount: Int { self.pendingWrites.load(ordering: .relaxed) }

    /// Queues `work` for `sinks` (from any thread); when it does not fit, notifications
    /// are dropped by their sinks and a heartbeat is skipped.
    func enqueue(_ work: Work, sinks: [any LiveSink]) {
        let (before, _) = self.pendingWrites.wrappingAdd(sinks.count, ordering: .relaxed)
        guard before + sinks.count <= self.maximumPendingWrites else {
            self.pendingWrites.wrappingSubtract(sinks.count, ordering: .relaxed)
            if case .notifications(let batch, let topic) = work {
                for sink in sinks { sink.dropped(batch, topic: topic) }
            }
            return
        }
        let item = Item(work: work, sinks: sinks)
        self.loop.execute {
            self.items.append(item)
            if !self.isDraining {
                self.isDraining = true
                self.drain()
            }
        }
    }

    /// Writes one slice, then lets the loop do other work before the next.
    private func drain() {
        var budget = self.sliceSize
        while budget > 0, let item = self.items.first {
            let end = min(item.sinks.count, self.nextSink + budget)
            switch item.work {
            case .notifications(let batch, let topic):
                for index in self.nextSink..<end { item.sinks[index].write(batch, topic: topic) }
            case .heartbeat:
                for index in self.nextSink..<end { item.sinks[index].heartbeat() }
            }
            budget -= end - self.nextSink
            self.pendingWrites.wrappingSubtract(end - self.nextSink, ordering: .relaxed)
            if end == item.sinks.count {
                self.items.removeFirst()
                self.nextSink = 0
            } else {
                self.nextSink = end
            }
        }
        if self.items.isEmpty {
            self.isDraining = false
        } else {
            self.loop.execute { self.drain() }
        }
    }
}

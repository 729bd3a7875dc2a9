import DequeModule
import Dispatch
import Synchronization

import class Foundation.Thread

/// A thread of its own for one libpq connection.
///
/// libpq's calls block. Rather than run them on Swift concurrency's cooperative pool
/// (where a blocked call would stall unrelated tasks), every connection owns a thread that
/// runs its jobs one after another; async callers wait on a continuation. The connection
/// itself is a local of that thread's loop and is handed to each job, so it is never
/// touched from anywhere else.
final class ConnectionThread: Sendable {
    /// A unit of work; it receives the thread's connection (nil until one is made).
    typealias Job = @Sendable (inout LibPQConnection?) -> Void

    private enum Entry {
        case job(Job)
        case stop
    }

    private struct Queue {
        var entries: Deque<Entry> = []
        var isStopping = false
    }

    private let queue = Mutex(Queue())
    private let wakeup = DispatchSemaphore(value: 0)

    /// Starts a thread named `name`.
    init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    /// Queues `job`; returns false when the thread is stopping and the job will not run.
    @discardableResult
    func submit(_ job: @escaping Job) -> Bool {
        let accepted = self.queue.withLock { queue in
            guard !queue.isStopping else { return false }
            queue.entries.append(.job(job))
            return true
        }
        if accepted { self.wakeup.signal() }
        return accepted
    }

    /// Runs `body` on the thread and returns its result.
    func run<Result: Sendable>(
        _ body: @escaping @Sendable (inout LibPQConnection?) throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            let accepted = self.submit { connection in
                continuation.resume(with: Swift.Result { try body(&connection) })
            }
            if !accepted {
                continuation.resume(throwing: PostgresError(kind: .shutdown, message: "connection is shut down"))
            }
        }
    }

    /// Lets queued jobs finish, then closes the connection and ends the thread.
    func stop() {
        let accepted = self.queue.withLock { queue in
            guard !queue.isStopping else { return false }
            queue.isStopping = true
            queue.entries.append(.stop)
            return true
        }
        if accepted { self.wakeup.signal() }
    }

    private func loop() {
        var connection: LibPQConnection? = nil
        while true {
            self.wakeup.wait()
            guard let entry = self.queue.withLock({ $0.entries.popFirst() }) else { continue }
            switch entry {
            case .job(let job):
                job(&connection)
            case .stop:
                connection?.close()
                return
            }
        }
    }
}

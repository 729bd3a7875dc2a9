import NIOCore
import Synchronization

/// A stream handler's view of its channel's writability: readable from any thread, with
/// waiters resumed when the socket drains or the channel closes.
///
/// The tasks that write a stream (SSE, WebSocket) check `isWritable` after each write and,
/// when the socket is full, wait here, so the subscription's inbox fills and it falls back
/// to reading PostgreSQL at the reader's pace.
final class ChannelWritability: @unchecked Sendable {
    // @unchecked Sendable: `waiters` is only touched on the channel's event loop (the
    // handler's callbacks, and `whenWritable`, which callers reach with `execute`);
    // `writable` is atomic.
    private let writable = Atomic<Bool>(true)
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Whether the socket can take more (from any thread).
    var isWritable: Bool { self.writable.load(ordering: .relaxed) }

    /// The channel's writability changed (on the event loop).
    func changed(_ channel: any Channel) {
        self.writable.store(channel.isWritable, ordering: .relaxed)
        if channel.isWritable { self.resumeAll() }
    }

    /// Resumes `continuation` once `channel` can take more: at once if it can, or if it is
    /// gone (on the event loop).
    func whenWritable(_ channel: (any Channel)?, _ continuation: CheckedContinuation<Void, Never>) {
        guard let channel, channel.isActive, !channel.isWritable else {
            continuation.resume()
            return
        }
        self.waiters.append(continuation)
    }

    /// Resumes every waiter: the channel drained or closed (on the event loop).
    func resumeAll() {
        let waiters = self.waiters
        self.waiters = []
        for waiter in waiters { waiter.resume() }
    }
}

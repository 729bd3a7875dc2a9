import Synchronization

/// A value behind a mutex, for test helpers shared between tasks.
final class LockedValue<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        self.mutex = Mutex(value)
    }

    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T {
        self.mutex.withLock { body(&$0) }
    }
}

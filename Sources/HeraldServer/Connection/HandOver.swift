import Synchronization

/// Hands a value that is not `Sendable` from a request handler to the response body
/// writer that runs after it returns.
///
/// Why this is safe: the handler creates the value, puts it here and never touches it
/// again; the writer takes it out exactly once (`take()` traps on a second take, and the
/// mutex orders the put before the take). So at any moment one task alone uses the value.
final class HandOver<Value>: @unchecked Sendable {
    private let value: Mutex<Value?>

    init(_ value: sending Value) {
        self.value = Mutex(value)
    }

    /// Takes the value; only once.
    func take() -> Value {
        self.value.withLock { value in
            guard let taken = value else { preconditionFailure("HandOver.take() called twice") }
            value = nil
            return taken
        }
    }
}

import Synchronization

/// Runs `operation` and gives up waiting for it after `timeout`.
///
/// The operation keeps running in the background when the time is up (libpq calls cannot
/// be interrupted); only the caller stops waiting. Returns nil on time-out or error.
public func withDeadline<Result: Sendable>(
    _ timeout: Duration,
    _ operation: @escaping @Sendable () async throws -> Result
) async -> Result? {
    let answered = Atomic<Bool>(false)
    return await withCheckedContinuation { (continuation: CheckedContinuation<Result?, Never>) in
        let answer: @Sendable (Result?) -> Void = { value in
            if !answered.exchange(true, ordering: .acquiringAndReleasing) {
                continuation.resume(returning: value)
            }
        }
        let work = Task { answer(try? await operation()) }
        Task {
            try? await Task.sleep(for: timeout)
            answer(nil)
            _ = work
        }
    }
}

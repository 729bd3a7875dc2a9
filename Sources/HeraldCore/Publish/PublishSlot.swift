import struct Foundation.UUID

/// A committer's row in `herald.publish_slots`: every batch it commits claims the row
/// (whose marker must be `marker`) and leaves a new marker, in the same transaction. So
/// after a connection lost while a batch ran, the row says whether that batch committed
/// (`Publisher+Outcome`).
struct PublishSlot: Sendable {
    /// The row's key, new for every committer of every process.
    let id = UUID()
    /// The marker the row holds: the last batch committed, or one set by a recovery.
    var marker = UUID()
    /// Whether the row exists.
    var isRegistered = false
}

import Foundation
import HeraldCore
import ServiceLifecycle
import Synchronization

/// What `herald tail` runs: one subscription, printed as it is delivered.
final class Follower: Service, Sendable {
    private let hub: Hub
    private let policy: CursorPolicy
    private let client: String?
    private let topics: [String]
    private let after: Cursor
    /// Why following stopped, if not by a signal.
    let failure = Mutex<(any Error)?>(nil)

    init(hub: Hub, policy: CursorPolicy, client: String?, topics: [String], after: Cursor) {
        self.hub = hub
        self.policy = policy
        self.client = client
        self.topics = topics
        self.after = after
    }

    func run() async {
        // The subscription belongs to this task; a signal only closes its inbox.
        let subscription = Subscription(hub: self.hub, policy: self.policy, clientID: self.client, wantsHeartbeats: false)
        // The purges so far, so that a start inside one is called `purged`.
        await self.policy.store.loadPurges()
        do {
            try await subscription.subscribe(self.topics, after: self.after)
        } catch {
            self.failure.withLock { $0 = error }
            return
        }
        let inbox = subscription.inbox
        await withGracefulShutdownHandler {
            await self.follow(subscription)
        } onGracefulShutdown: {
            inbox.close()
        }
        subscription.close()
        await self.policy.cursors?.flush()
    }

    private func follow(_ subscription: Subscription) async {
        while true {
            switch await subscription.next() {
            case .events(let events):
                var output: [UInt8] = []
                var delivered: [(topic: String, seq: Int64)] = []
                for event in events {
                    switch event {
                    case .notification(let encoded, _):
                        let start = output.count
                        encoded.notification.appendJSON(to: &output)
                        // One notification per line: a line break in its data (JSON
                        // whitespace, as its producer sent it) is printed as a space.
                        for index in start..<output.count where output[index] == UInt8(ascii: "\n") || output[index] == UInt8(ascii: "\r") {
                            output[index] = UInt8(ascii: " ")
                        }
                        output.append(UInt8(ascii: "\n"))
                        delivered.append((encoded.topic, encoded.seq))
                    case .reset(let reset, _):
                        let note = "reset: \(reset.topic) from \(reset.requestedAfter) to \(reset.resumedAfter) (\(reset.reason.rawValue))\n"
                        FileHandle.standardOutput.write(Data(output))
                        output = []
                        FileHandle.standardError.write(Data(note.utf8))
                        delivered.append((reset.topic, reset.resumedAfter))
                    }
                }
                FileHandle.standardOutput.write(Data(output))
                // Printed (written to standard output): the client's cursor moves.
                if let client = self.client { self.policy.delivered(client: client, subscription.marks(delivered)) }
            case .message, .heartbeat:
                continue
            case .closed:
                return
            }
        }
    }
}

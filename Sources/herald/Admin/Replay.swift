import ArgumentParser
import Foundation
import HeraldCore

/// `herald replay`: moves a client's cursor on a topic, live.
struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay one topic for one client from a seq or a time, live.",
        discussion: """
            Sets the client's cursor (backwards too). Running servers restart that topic on \
            the client's connected SSE and WebSocket subscribers at once, after a reset with \
            reason "replay"; otherwise the client's next poll or subscribe starts there, \
            whatever position it asks for (once). --from-seq N makes N the next notification \
            delivered. --since takes a duration (1h: the first notification of the last hour \
            comes next) or an RFC 3339 time; it relies on created_at never decreasing within \
            a topic, which Herald guarantees. Works on the database directly, with no server running.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("The client id.", valueName: "id"))
    var client: String

    @Option(help: ArgumentHelp("The topic.", valueName: "topic"))
    var topic: String

    @Option(name: .customLong("from-seq"), help: ArgumentHelp("The next seq delivered (1: everything retained).", valueName: "seq"))
    var fromSeq: Int64?

    @Option(help: ArgumentHelp("A duration (90s, 15m, 1h, 7d) before now, or a time (2026-11-24T10:00:00Z).", valueName: "time"))
    var since: String?

    func validate() throws {
        guard NameRules.isValidClientID(self.client) else { throw ValidationError("--client must match \(NameRules.clientPattern)") }
        guard NameRules.isValidTopic(self.topic) else { throw ValidationError("--topic must match \(NameRules.topicPattern)") }
        _ = try self.start()
    }

    /// Where the replay starts, from `--from-seq` or `--since`.
    func start() throws -> ReplayStart {
        switch (self.fromSeq, self.since) {
        case (let seq?, nil):
            guard seq >= 1 else { throw ValidationError("--from-seq is a seq: 1 or more") }
            return .fromSeq(seq)
        case (nil, let since?):
            if let duration = DurationParser.parse(since) { return .since(.ago(duration)) }
            guard Self.looksLikeTime(since) else {
                throw ValidationError("--since is a duration (90s, 15m, 1h, 7d) or an RFC 3339 time (2026-11-24T10:00:00Z)")
            }
            return .since(.time(since))
        default:
            throw ValidationError("give exactly one of --from-seq and --since")
        }
    }

    /// Whether `text` is an RFC 3339 time (`2026-11-24T10:00:00Z`, with fractions of a second
    /// or an offset), a real one (no month 13).
    static func looksLikeTime(_ text: String) -> Bool {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return plain.date(from: text) != nil || fractional.date(from: text) != nil
    }

    func run() async throws {
        let start = try self.start()
        let replay = try await AdminSession.run(self.database) { session in
            try await session.admin.replay(client: self.client, topic: self.topic, from: start)
        }
        if self.output.json {
            var bytes: [UInt8] = []
            replay.appendJSON(to: &bytes)
            self.output.printJSON(bytes)
            return
        }
        print("Replaying \(replay.topic) for \(replay.client): the next notification delivered is seq \(replay.seq + 1) (cursor \(replay.topic):\(replay.seq), version \(replay.version)).")
    }
}

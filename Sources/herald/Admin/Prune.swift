import ArgumentParser
import HeraldCore

/// `herald prune`: retention now, or a purge of one topic.
struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run retention now, or purge a topic through a seq.",
        discussion: """
            Without arguments: drops the log's partitions older than --retention and expired \
            idempotency keys, as the server does every hour. With --topic and --through-seq: \
            purges that topic's notifications up to that seq; a subscriber whose position is \
            inside the purged range gets a reset with reason "purged". Works on the database \
            directly, with no server running.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("The topic to purge.", valueName: "topic"))
    var topic: String?

    @Option(name: .customLong("through-seq"), help: ArgumentHelp("Purge the topic up to and including this seq.", valueName: "seq"))
    var throughSeq: Int64?

    @Option(help: ArgumentHelp("How long notifications are kept: 90s, 30m, 24h, 7d. (env: HERALD_RETENTION, default: 7d)", valueName: "duration"))
    var retention: String?

    func validate() throws {
        switch (self.topic, self.throughSeq) {
        case (let topic?, let seq?):
            guard NameRules.isValidTopic(topic) else { throw ValidationError("--topic must match \(NameRules.topicPattern)") }
            guard seq >= 1 else { throw ValidationError("--through-seq is a seq: 1 or more") }
            guard self.retention == nil else { throw ValidationError("--retention is for retention, not for a purge") }
        case (nil, nil):
            try ServeSettings.retention.validate(text: self.retention)
        default:
            throw ValidationError("a purge needs both --topic and --through-seq")
        }
    }

    func run() async throws {
        if let topic, let throughSeq {
            let result = try await AdminSession.run(self.database) { try await $0.admin.purge(topic: topic, through: throughSeq) }
            if self.output.json {
                var bytes: [UInt8] = []
                result.appendJSON(to: &bytes)
                self.output.printJSON(bytes)
            } else {
                print("Purged \(result.topic) through seq \(result.purgedThrough): \(result.deleted) notification\(result.deleted == 1 ? "" : "s") deleted.")
            }
            return
        }
        let retention = try ServeSettings.retention.resolve(text: self.retention)
        let outcome = try await AdminSession.run(self.database) { session in
            try await PartitionMaintenance(pool: session.pool, retention: retention, logger: session.logger).runOnce()
        }
        if self.output.json {
            self.output.printJSON(Array(#"{"partitions_created":\#(outcome.created),"partitions_dropped":\#(outcome.dropped)}"#.utf8))
        } else {
            print("Retention \(DurationParser.format(retention)): \(outcome.dropped) partition\(outcome.dropped == 1 ? "" : "s") dropped, \(outcome.created) created ahead.")
        }
    }
}

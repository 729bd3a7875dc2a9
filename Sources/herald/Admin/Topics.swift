import ArgumentParser
import HeraldCore
import HeraldPostgres

/// `herald topics`: the topics, their seqs and what is retained.
struct Topics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the topics: last seq, oldest retained seq, notifications retained, last publish.",
        discussion: "Works on the database directly, with no server running."
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("List topics after this name (the next page).", valueName: "topic"))
    var after: String = ""

    @Option(help: ArgumentHelp("Most topics to list, 1 to 1000. (default: 1000)", valueName: "count"))
    var limit: Int = 1000

    func validate() throws {
        guard (1...1000).contains(self.limit) else { throw ValidationError("--limit must be from 1 to 1000") }
    }

    func run() async throws {
        let topics = try await AdminSession.run(self.database) { try await $0.admin.topics(after: self.after, limit: self.limit) }
        if self.output.json {
            var bytes: [UInt8] = []
            TopicInfo.appendJSON(topics, to: &bytes)
            self.output.printJSON(bytes)
            return
        }
        guard !topics.isEmpty else {
            OutputOptions.note("No topics yet: the first publish to a name creates it.")
            return
        }
        self.output.printTable(
            ["TOPIC", "LAST SEQ", "OLDEST SEQ", "RETAINED", "PURGED THROUGH", "LAST PUBLISH"],
            topics.map { topic in
                [
                    topic.name, String(topic.lastSeq), topic.oldestSeq.map(String.init) ?? "-", String(topic.count),
                    topic.purgedThrough > 0 ? String(topic.purgedThrough) : "-", topic.lastPublishedAt?.rfc3339 ?? "-",
                ]
            }
        )
    }
}

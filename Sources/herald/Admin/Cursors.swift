import ArgumentParser
import HeraldCore
import HeraldPostgres

/// `herald cursors --client ID`: a client's server-side cursors.
struct Cursors: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a client's server-side cursors.",
        discussion: """
            A cursor is the last position delivered to the client on a topic; its version counts \
            the admin sets (replays) it has had, and "replay pending" means the client's next \
            start on that topic begins at it. Works on the database directly, with no server running.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("The client id.", valueName: "id"))
    var client: String

    func validate() throws {
        guard NameRules.isValidClientID(self.client) else { throw ValidationError("--client must match \(NameRules.clientPattern)") }
    }

    func run() async throws {
        let entries = try await AdminSession.run(self.database) { try await $0.admin.cursors.entries(client: self.client) }
        if self.output.json {
            var bytes: [UInt8] = Array(#"{"client":"#.utf8)
            JSONString.appendQuoted(self.client, to: &bytes)
            bytes.append(contentsOf: #","cursors":{"#.utf8)
            for (index, entry) in entries.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONString.appendQuoted(entry.topic, to: &bytes)
                bytes.append(contentsOf: ":\(entry.seq)".utf8)
            }
            bytes.append(contentsOf: #"},"versions":{"#.utf8)
            for (index, entry) in entries.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONString.appendQuoted(entry.topic, to: &bytes)
                bytes.append(contentsOf: ":\(entry.version)".utf8)
            }
            bytes.append(contentsOf: "}}".utf8)
            self.output.printJSON(bytes)
            return
        }
        guard !entries.isEmpty else {
            OutputOptions.note("Client \(self.client) has no cursors: it has not subscribed or polled with this client id.")
            return
        }
        self.output.printTable(
            ["TOPIC", "SEQ", "VERSION", "REPLAY PENDING", "UPDATED"],
            entries.map { [$0.topic, String($0.seq), String($0.version), $0.replayPending ? "yes" : "no", $0.updatedAt.rfc3339] }
        )
    }
}

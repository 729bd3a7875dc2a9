import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import NIOHTTP1
import Testing

// One test at a time: each starts several herald processes and databases, and the whole
// suite at once, beside the others, made connections to the test cluster time out on a
// loaded machine. (About 25 s in all.)
@Suite("The admin command line", .serialized)
struct AdminCommandLineTests {
    /// A fresh database with Herald's schema, as `herald migrate` leaves it (no server has
    /// run on it).
    static func migratedDatabase() async throws -> String {
        let url = try await TestCluster.shared.makeDatabase()
        let migrated = try await HeraldProcess.run(["migrate", "--database-url", url])
        guard migrated.status == 0 else { throw TestFailure("herald migrate: \(migrated.output)") }
        return url
    }

    /// Runs `herald` with `arguments` on the database at `url`, to completion.
    static func herald(_ arguments: [String], _ url: String) async throws -> (status: Int32, output: String) {
        try await HeraldProcess.run(arguments + ["--database-url", url])
    }

    /// The one JSON object a `--json` command printed: its whole output is that one line.
    static func json(_ output: String) throws -> [String: Any] {
        let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.contains("\n"),
            let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { throw TestFailure("not one line of JSON: \(output)") }
        return object
    }

    /// Publishes with `herald publish ... --json`; returns the notification it printed.
    static func publish(_ url: String, _ topic: String, _ data: String, _ options: [String] = []) async throws -> [String: Any] {
        let (status, output) = try await Self.herald(["publish", topic, data, "--json"] + options, url)
        guard status == 0 else { throw TestFailure("herald publish exited \(status): \(output)") }
        return try Self.json(output)
    }

    /// The notifications `herald tail` printed so far (its JSON lines), in order.
    static func printed(_ process: HeraldProcess) -> [[String: Any]] {
        process.text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{") else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        }
    }

    // MARK: - publish

    @Test("`herald publish` prints the notification it stored; DATA is JSON when it parses as one JSON value, else a string; --event, --ttl, --text; a running server delivers it live")
    func publish() async throws {
        let url = try await Self.migratedDatabase()
        let server = try await TestServer.start(databaseURL: url)
        defer { Task { await server.stop() } }
        let stream = try await SSEClient.open("\(server.baseURL)/v1/sse?topics=orders&after=orders:0")
        defer { stream.close() }
        #expect(stream.status == 200)

        let first = try await Self.publish(url, "orders", #"{"id": 42, "items": [1, 2]}"#)
        #expect(first["topic"] as? String == "orders")
        #expect(first["seq"] as? Int == 1)
        #expect(first["event"] as? String == "message")
        #expect((first["data"] as? [String: Any])?["id"] as? Int == 42)
        #expect((first["data"] as? [String: Any])?["items"] as? [Int] == [1, 2])
        let id = try #require(first["id"] as? String)
        #expect(UUID(uuidString: id) != nil, "id \(id)")
        #expect((first["created_at"] as? String)?.hasSuffix("Z") == true)
        #expect(Set(first.keys) == ["topic", "seq", "id", "event", "data", "created_at"])

        // Live on the running server's subscriber, the same notification.
        let live = try #require(await stream.next(timeout: .seconds(20)))
        #expect(live.seq == 1)
        #expect(live.json["id"] as? String == id)
        #expect((live.json["data"] as? [String: Any])?["id"] as? Int == 42)

        // Not JSON: a string. JSON followed by more is not one JSON value: a string too.
        #expect(try await Self.publish(url, "orders", "disk full")["data"] as? String == "disk full")
        #expect(try await Self.publish(url, "orders", #"1,"event":"x""#)["data"] as? String == #"1,"event":"x""#)
        // A number is JSON; with --text it is the string.
        let number = try await Self.publish(url, "orders", "42")
        #expect(number["data"] as? Int == 42)
        #expect(number["event"] as? String == "message")
        #expect(try await Self.publish(url, "orders", "42", ["--text"])["data"] as? String == "42")
        #expect(try await Self.publish(url, "orders", #""quoted""#)["data"] as? String == "quoted")

        // --event and --ttl: stored as given.
        let shipped = try await Self.publish(url, "orders", #"{"id":43}"#, ["--event", "order.shipped", "--ttl", "90s"])
        #expect(shipped["event"] as? String == "order.shipped")
        #expect(shipped["seq"] as? Int == 7)
        let stored = try await TestDatabase(url: url).query(
            "SELECT event, extract(epoch FROM expires_at - created_at)::int FROM herald.notifications WHERE topic = 'orders' AND seq = 7"
        )
        #expect(try stored[0].decode(String.self, at: 0) == "order.shipped")
        #expect(try stored[0].decode(Int.self, at: 1) == 90)
        let fetched = try await TestHTTP.get("\(server.baseURL)/v1/topics/orders/notifications/7")
        #expect(fetched.json["event"] as? String == "order.shipped")
        #expect(fetched.json["id"] as? String == shipped["id"] as? String)

        // Without --json: a sentence naming the topic and seq.
        let plain = try await Self.herald(["publish", "orders", "hello"], url)
        #expect(plain.status == 0)
        #expect(plain.output.contains("Published orders:8"), "\(plain.output)")
        #expect(try await TestDatabase(url: url).seqs("orders") == Array(1...8))
    }

    @Test("`herald publish` works on a database that only `herald migrate` prepared, no server ever started: it creates the log's partitions")
    func publishAfterMigrateOnly() async throws {
        let url = try await Self.migratedDatabase()
        let published = try await Self.herald(["publish", "first", "1", "--json"], url)
        #expect(published.status == 0, "\(published.output)")
        #expect((try? Self.json(published.output))?["seq"] as? Int == 1)
        #expect(try await Self.publish(url, "first", "2")["seq"] as? Int == 2)
        #expect(try await TestDatabase(url: url).seqs("first") == [1, 2])
    }

    @Test("`herald publish --idempotency-key`: a repeated key publishes nothing new and prints the first notification")
    func publishIdempotent() async throws {
        let url = try await Self.migratedDatabase()
        let first = try await Self.publish(url, "payments", #"{"amount":10}"#, ["--idempotency-key", "pay-1"])
        #expect(first["seq"] as? Int == 1)
        let fingerprint = try await TestDatabase(url: url).fingerprint()
        let again = try await Self.publish(url, "payments", #"{"amount":99}"#, ["--idempotency-key", "pay-1"])
        #expect(again["seq"] as? Int == 1)
        #expect(again["id"] as? String == first["id"] as? String)
        #expect((again["data"] as? [String: Any])?["amount"] as? Int == 10)
        let plain = try await Self.herald(["publish", "payments", "x", "--idempotency-key", "pay-1"], url)
        #expect(plain.status == 0)
        #expect(plain.output.contains("Already published"), "\(plain.output)")
        #expect(try await TestDatabase(url: url).fingerprint() == fingerprint)
        // Another key publishes.
        #expect(try await Self.publish(url, "payments", "1", ["--idempotency-key", "pay-2"])["seq"] as? Int == 2)
    }

    @Test("`herald publish` refuses bad names and values as usage errors (64), publishing nothing")
    func publishUsageErrors() async throws {
        let url = try await Self.migratedDatabase()
        _ = try await Self.publish(url, "t", "1")
        let fingerprint = try await TestDatabase(url: url).fingerprint()
        let refused: [[String]] = [
            ["publish", "bad topic", "1"], ["publish", "t", "1", "--event", "bad event!"], ["publish", "t", "1", "--ttl", "0"],
            ["publish", "t", "1", "--ttl", "soon"], ["publish", "t", "1", "--idempotency-key", "has space"], ["publish", "t"],
            ["publish", "t", "1", "--ttl", "1.5s"], ["publish", "t", String(repeating: "x", count: 200), "--max-payload", "100"],
        ]
        for arguments in refused {
            let (status, output) = try await Self.herald(arguments, url)
            #expect(status == 64, "\(arguments): \(output)")
            #expect(output.contains("Error"), "\(arguments): \(output)")
        }
        #expect(try await TestDatabase(url: url).fingerprint() == fingerprint)
    }

    // MARK: - tail

    @Test("`herald tail` follows topics live, one JSON notification per line in order, from `herald publish` and from a server; SIGINT ends it with 0 and, with --client, what it printed is the client's stored cursor")
    func tail() async throws {
        let url = try await Self.migratedDatabase()
        _ = try await Self.publish(url, "orders", #""before""#)
        let server = try await TestServer.start(databaseURL: url)
        defer { Task { await server.stop() } }
        let tail = try HeraldProcess(["tail", "orders", "alerts", "--after", "orders:1,alerts:0", "--client", "tailer", "--database-url", url])

        // The first line proves it follows; what comes next arrives live.
        _ = try await Self.publish(url, "orders", #"{"n":2}"#)
        try await tail.waitForOutput(#"{"topic":"orders","seq":2,"#)
        let fromServer = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/orders/notifications", #"{"data":{"n":3}}"#)
        #expect(fromServer.status == 201)
        let alert = try await Self.publish(url, "alerts", #"{"level":"high"}"#, ["--event", "alert.raised"])
        let fourth = try await TestHTTP.postJSON("\(server.baseURL)/v1/topics/orders/notifications", #"{"data":{"n":4}}"#)
        #expect(fourth.status == 201)
        _ = try await Self.publish(url, "orders", "five")
        try await tail.waitForOutput(#"{"topic":"orders","seq":5,"#)
        try await tail.waitForOutput(#"{"topic":"alerts","seq":1,"#)

        let lines = tail.text.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix("{") }, "not only notifications: \(tail.text)")
        let printed = Self.printed(tail)
        let orders = printed.filter { $0["topic"] as? String == "orders" }
        try #require(orders.map { $0["seq"] as? Int } == [2, 3, 4, 5], "\(tail.text)")
        #expect(orders.map { ($0["data"] as? [String: Any])?["n"] as? Int } == [2, 3, 4, nil])
        #expect(orders.last?["data"] as? String == "five")
        #expect(orders[1]["id"] as? String == fromServer.json["id"] as? String)
        #expect(orders[2]["id"] as? String == fourth.json["id"] as? String)
        let alerts = printed.filter { $0["topic"] as? String == "alerts" }
        #expect(alerts.count == 1)
        #expect(alerts.first?["id"] as? String == alert["id"] as? String)
        #expect(alerts.first?["event"] as? String == "alert.raised")
        #expect(printed.allSatisfy { Set($0.keys) == ["topic", "seq", "id", "event", "data", "created_at"] })

        tail.signal(SIGINT)
        #expect(try await tail.wait(timeout: .seconds(30)) == 0)

        // What it printed is tailer's cursor: for the command line and for the server.
        let cursors = try Self.json(try await Self.herald(["cursors", "--client", "tailer", "--json"], url).output)
        #expect(cursors["client"] as? String == "tailer")
        #expect(cursors["cursors"] as? [String: Int] == ["orders": 5, "alerts": 1])
        let api = try await TestHTTP.get("\(server.baseURL)/v1/clients/tailer/cursors")
        #expect(api.json["cursors"] as? [String: Int] == ["orders": 5, "alerts": 1])
    }

    @Test("`herald tail --client` resumes at the client's stored cursor, notes a live `herald replay` on stderr and prints again from there; SIGTERM ends it with 0")
    func tailResumesAndReplays() async throws {
        let url = try await Self.migratedDatabase()
        for index in 1...3 { _ = try await Self.publish(url, "r", "\(index)") }
        let first = try HeraldProcess(["tail", "r", "--after", "0", "--client", "rex", "--database-url", url])
        try await first.waitForOutput(#"{"topic":"r","seq":3,"#)
        #expect(Self.printed(first).map { $0["seq"] as? Int } == [1, 2, 3])
        first.signal(SIGINT)
        #expect(try await first.wait(timeout: .seconds(30)) == 0)

        // Published while nobody follows: the next tail of rex starts after 3.
        for index in 4...5 { _ = try await Self.publish(url, "r", "\(index)") }
        let second = try HeraldProcess(["tail", "r", "--client", "rex", "--database-url", url])
        try await second.waitForOutput(#"{"topic":"r","seq":5,"#)
        #expect(Self.printed(second).map { $0["seq"] as? Int } == [4, 5], "\(second.text)")

        // A replay while it runs: a note on stderr, then 2 to 5 again.
        let replay = try await Self.herald(["replay", "--client", "rex", "--topic", "r", "--from-seq", "2", "--json"], url)
        #expect(replay.status == 0, "\(replay.output)")
        #expect(try Self.json(replay.output)["seq"] as? Int == 1)
        try await second.waitForOutput("reset: r from 5 to 1 (replay)", timeout: .seconds(30))
        try await second.waitForOutput(#"{"topic":"r","seq":5,"#)
        let deadline = ContinuousClock.now + .seconds(30)
        while Self.printed(second).count < 6, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(Self.printed(second).map { $0["seq"] as? Int } == [4, 5, 2, 3, 4, 5], "\(second.text)")
        // The note comes between the two runs.
        let text = second.text
        let note = try #require(text.range(of: "reset: r from 5 to 1 (replay)"))
        let firstFive = try #require(text.range(of: #"{"topic":"r","seq":5,"#))
        let again = try #require(text.range(of: #"{"topic":"r","seq":2,"#))
        #expect(firstFive.upperBound <= note.lowerBound)
        #expect(note.upperBound <= again.lowerBound)

        second.signal(SIGTERM)
        #expect(try await second.wait(timeout: .seconds(30)) == 0)
        let cursors = try Self.json(try await Self.herald(["cursors", "--client", "rex", "--json"], url).output)
        #expect(cursors["cursors"] as? [String: Int] == ["r": 5])
        #expect(cursors["versions"] as? [String: Int] == ["r": 1])
    }

    @Test("`herald tail` refuses a bad start: a malformed cursor or no topic is a usage error (64), a start past the last seq an error (1)")
    func tailErrors() async throws {
        let url = try await Self.migratedDatabase()
        _ = try await Self.publish(url, "t", "1")
        #expect(try await Self.herald(["tail"], url).status == 64)
        #expect(try await Self.herald(["tail", "t", "--after", "t:x"], url).status == 64)
        #expect(try await Self.herald(["tail", "bad topic"], url).status == 64)
        #expect(try await Self.herald(["tail", "t", "--client", "bad id"], url).status == 64)
        let past = try await Self.herald(["tail", "t", "--after", "t:99"], url)
        #expect(past.status == 1)
        #expect(past.output.contains("last seq"), "\(past.output)")
    }

    // MARK: - topics

    @Test("`herald topics` lists the topics in name order with their seqs, what is retained and purged; --after and --limit page; the same as GET /v1/topics")
    func topics() async throws {
        let url = try await Self.migratedDatabase()
        let empty = try await Self.herald(["topics", "--json"], url)
        #expect(empty.status == 0)
        #expect((try Self.json(empty.output)["topics"] as? [Any])?.isEmpty == true)
        let emptyTable = try await Self.herald(["topics"], url)
        #expect(emptyTable.status == 0)
        #expect(emptyTable.output.contains("No topics yet"), "\(emptyTable.output)")

        _ = try await Self.publish(url, "beta", "1")
        let lastBeta = try await Self.publish(url, "beta", "2")
        _ = try await Self.publish(url, "alpha", "1")
        for index in 1...3 { _ = try await Self.publish(url, "gamma", "\(index)") }
        #expect(try await Self.herald(["prune", "--topic", "gamma", "--through-seq", "3"], url).status == 0)

        let listed = try await Self.herald(["topics", "--json"], url)
        #expect(listed.status == 0)
        let topics = try #require(try Self.json(listed.output)["topics"] as? [[String: Any]])
        try #require(topics.map { $0["name"] as? String } == ["alpha", "beta", "gamma"])
        let beta = topics[1]
        #expect(beta["last_seq"] as? Int == 2)
        #expect(beta["oldest_seq"] as? Int == 1)
        #expect(beta["count"] as? Int == 2)
        #expect(beta["purged_through"] as? Int == 0)
        #expect(beta["last_published_at"] as? String == lastBeta["created_at"] as? String)
        let gamma = topics[2]
        #expect(gamma["last_seq"] as? Int == 3)
        #expect(gamma["oldest_seq"] is NSNull)
        #expect(gamma["count"] as? Int == 0)
        #expect(gamma["purged_through"] as? Int == 3)

        let page = try Self.json(try await Self.herald(["topics", "--json", "--after", "alpha", "--limit", "1"], url).output)
        #expect((page["topics"] as? [[String: Any]])?.map { $0["name"] as? String } == ["beta"])
        let rest = try Self.json(try await Self.herald(["topics", "--json", "--after", "beta"], url).output)
        #expect((rest["topics"] as? [[String: Any]])?.map { $0["name"] as? String } == ["gamma"])

        let table = try await Self.herald(["topics"], url)
        #expect(table.status == 0)
        let rows = table.output.split(separator: "\n")
        #expect(rows.first?.hasPrefix("TOPIC") == true, "\(table.output)")
        #expect(rows.count == 4, "\(table.output)")
        #expect(rows.last?.split(separator: " ", omittingEmptySubsequences: true).prefix(5) == ["gamma", "3", "-", "0", "3"])

        #expect(try await Self.herald(["topics", "--limit", "0"], url).status == 64)
        #expect(try await Self.herald(["topics", "--limit", "1001"], url).status == 64)

        // The command line and the admin API say the same.
        let server = try await TestServer.start(databaseURL: url)
        defer { Task { await server.stop() } }
        let api = try await TestHTTP.get("\(server.baseURL)/v1/topics")
        #expect(api.status == 200)
        #expect(api.text == listed.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    // MARK: - cursors

    @Test("`herald cursors --client` shows a client's stored cursors and their versions, as GET /v1/clients/{id}/cursors does")
    func cursors() async throws {
        let url = try await Self.migratedDatabase()
        let server = try await TestServer.start(databaseURL: url)
        defer { Task { await server.stop() } }
        for index in 1...3 { _ = try await SSETests.publish(server, "c1", "\(index)") }
        _ = try await SSETests.publish(server, "c2", "1")

        let none = try await Self.herald(["cursors", "--client", "dora", "--json"], url)
        #expect(none.status == 0)
        let noneJSON = try Self.json(none.output)
        #expect(noneJSON["client"] as? String == "dora")
        #expect(noneJSON["cursors"] as? [String: Int] == [:])
        #expect(noneJSON["versions"] as? [String: Int] == [:])
        let noneTable = try await Self.herald(["cursors", "--client", "dora"], url)
        #expect(noneTable.status == 0)
        #expect(noneTable.output.contains("no cursors"), "\(noneTable.output)")

        // dora acknowledges c1:2 and c2:1 by polling the server.
        let polled = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=c1,c2&after=c1:2,c2:1&client=dora")
        #expect(polled.status == 200)
        await server.instance.cursors.flush()
        let listed = try await Self.herald(["cursors", "--client", "dora", "--json"], url)
        #expect(listed.status == 0)
        let json = try Self.json(listed.output)
        #expect(json["client"] as? String == "dora")
        #expect(json["cursors"] as? [String: Int] == ["c1": 2, "c2": 1])
        #expect(json["versions"] as? [String: Int] == ["c1": 0, "c2": 0])
        let api = try await TestHTTP.get("\(server.baseURL)/v1/clients/dora/cursors")
        #expect(api.json["cursors"] as? [String: Int] == json["cursors"] as? [String: Int])

        // A replay sets the cursor, bumps its version and is pending until dora's next start.
        #expect(try await Self.herald(["replay", "--client", "dora", "--topic", "c1", "--from-seq", "1"], url).status == 0)
        let replayed = try Self.json(try await Self.herald(["cursors", "--client", "dora", "--json"], url).output)
        #expect(replayed["cursors"] as? [String: Int] == ["c1": 0, "c2": 1])
        #expect(replayed["versions"] as? [String: Int] == ["c1": 1, "c2": 0])
        let table = try await Self.herald(["cursors", "--client", "dora"], url)
        #expect(table.status == 0)
        let rows = table.output.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.first?.first == "TOPIC", "\(table.output)")
        #expect(rows.dropFirst().map { Array($0.prefix(4)) } == [["c1", "0", "1", "yes"], ["c2", "1", "0", "no"]], "\(table.output)")

        #expect(try await Self.herald(["cursors"], url).status == 64)
        #expect(try await Self.herald(["cursors", "--client", "bad id"], url).status == 64)
    }

    // MARK: - replay

    @Test("`herald replay` sets a client's cursor from a seq or a time, once overriding where it asks to start; exactly one of --from-seq and --since, or 64; past the last seq + 1 is an error (1)")
    func replay() async throws {
        let url = try await Self.migratedDatabase()
        var published: [[String: Any]] = []
        for index in 1...5 { published.append(try await Self.publish(url, "r", "\(index)")) }

        let fromSeq = try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--from-seq", "3", "--json"], url)
        #expect(fromSeq.status == 0, "\(fromSeq.output)")
        let set = try Self.json(fromSeq.output)
        #expect(set["client"] as? String == "rita")
        #expect(set["topic"] as? String == "r")
        #expect(set["seq"] as? Int == 2)
        #expect(set["version"] as? Int == 1)

        // Her next start on r begins at 3 whatever she asks, once.
        let server = try await TestServer.start(databaseURL: url)
        defer { Task { await server.stop() } }
        let overridden = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=r&after=r:5&client=rita")
        #expect((overridden.json["notifications"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [3, 4, 5], "\(overridden.text)")
        let asked = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=r&after=r:4&client=rita")
        #expect((asked.json["notifications"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [5], "\(asked.text)")

        // --since a duration: all five are from the last hour.
        let hour = try Self.json(try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--since", "1h", "--json"], url).output)
        #expect(hour["seq"] as? Int == 0)
        #expect(hour["version"] as? Int == 2)
        // --since a time: the fourth's creation time makes it the next.
        let fourth = try #require(published[3]["created_at"] as? String)
        let time = try Self.json(try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--since", fourth, "--json"], url).output)
        #expect(time["seq"] as? Int == 3)
        let future = try Self.json(
            try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--since", "2999-01-01T00:00:00Z", "--json"], url).output
        )
        #expect(future["seq"] as? Int == 5)
        let past = try Self.json(
            try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--since", "2000-01-01T00:00:00+00:00", "--json"], url).output
        )
        #expect(past["seq"] as? Int == 0)

        // The last seq + 1 means "from what comes next"; past it is an error.
        let next = try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--from-seq", "6", "--json"], url)
        #expect(next.status == 0)
        #expect(try Self.json(next.output)["seq"] as? Int == 5)
        let beyond = try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--from-seq", "7", "--json"], url)
        #expect(beyond.status == 1)
        #expect(beyond.output.contains("last seq"), "\(beyond.output)")

        let plain = try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--from-seq", "2"], url)
        #expect(plain.status == 0)
        #expect(plain.output.contains("seq 2"), "\(plain.output)")

        // Seven sets so far, the last to 1; the refused one set nothing.
        let stored = try Self.json(try await Self.herald(["cursors", "--client", "rita", "--json"], url).output)
        #expect(stored["cursors"] as? [String: Int] == ["r": 1])
        #expect(stored["versions"] as? [String: Int] == ["r": 7])

        let usage: [[String]] = [
            ["replay", "--client", "rita", "--topic", "r"],
            ["replay", "--client", "rita", "--topic", "r", "--from-seq", "1", "--since", "1h"],
            ["replay", "--client", "rita", "--topic", "r", "--since", "yesterday"],
            ["replay", "--client", "rita", "--topic", "r", "--since", "2026-11-24"],
            ["replay", "--client", "rita", "--topic", "r", "--from-seq", "0"],
            ["replay", "--client", "bad id", "--topic", "r", "--from-seq", "1"],
            ["replay", "--topic", "r", "--from-seq", "1"],
        ]
        for arguments in usage {
            let (status, output) = try await Self.herald(arguments, url)
            #expect(status == 64, "\(arguments): \(output)")
        }
        // A time of the right shape that is no time: refused as a usage error too, saying so.
        let badTime = try await Self.herald(["replay", "--client", "rita", "--topic", "r", "--since", "2026-13-45T10:00:00Z"], url)
        #expect(badTime.status == 64, "\(badTime.output)")
        #expect(!badTime.output.contains("internal error"), "\(badTime.output)")
        // None of them moved the cursor.
        let unchanged = try Self.json(try await Self.herald(["cursors", "--client", "rita", "--json"], url).output)
        #expect(unchanged["cursors"] as? [String: Int] == ["r": 1])
        #expect(unchanged["versions"] as? [String: Int] == ["r": 7])
    }

    // MARK: - prune

    @Test("`herald prune --topic --through-seq` purges a topic: the rows are gone, a start inside the purge gets a reset; past the last seq or an unknown topic is an error (1); half a purge is a usage error (64)")
    func prunePurge() async throws {
        let url = try await Self.migratedDatabase()
        // A server running meanwhile hears of the purge as it happens.
        let server = try await TestServer.start(databaseURL: url)
        defer { Task { await server.stop() } }
        for index in 1...5 { _ = try await Self.publish(url, "p", "\(index)") }
        let purged = try await Self.herald(["prune", "--topic", "p", "--through-seq", "3", "--json"], url)
        #expect(purged.status == 0, "\(purged.output)")
        let json = try Self.json(purged.output)
        #expect(json["topic"] as? String == "p")
        #expect(json["purged_through"] as? Int == 3)
        #expect(json["deleted"] as? Int == 3)
        #expect(try await TestDatabase(url: url).seqs("p") == [4, 5])

        let polled = try await TestHTTP.get("\(server.baseURL)/v1/poll?topics=p&after=p:1")
        #expect((polled.json["notifications"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [4, 5], "\(polled.text)")
        #expect((polled.json["resets"] as? [[String: Any]])?.first?["reason"] as? String == "purged", "\(polled.text)")

        // `herald tail` from inside the purge: a reset noted on stderr, then what is left.
        let tail = try HeraldProcess(["tail", "p", "--after", "p:1", "--database-url", url])
        try await tail.waitForOutput(#"{"topic":"p","seq":5,"#)
        tail.signal(SIGINT)
        #expect(try await tail.wait(timeout: .seconds(30)) == 0)
        #expect(Self.printed(tail).map { $0["seq"] as? Int } == [4, 5], "\(tail.text)")
        #expect(tail.text.contains("reset: p from 1 to 3 (purged)"), "\(tail.text)")

        let again = try await Self.herald(["prune", "--topic", "p", "--through-seq", "4"], url)
        #expect(again.status == 0)
        #expect(again.output.contains("1 notification"), "\(again.output)")
        #expect(try await TestDatabase(url: url).seqs("p") == [5])

        let fingerprint = try await TestDatabase(url: url).fingerprint()
        let past = try await Self.herald(["prune", "--topic", "p", "--through-seq", "6"], url)
        #expect(past.status == 1)
        #expect(past.output.contains("Error"), "\(past.output)")
        let unknown = try await Self.herald(["prune", "--topic", "nothing-here", "--through-seq", "1"], url)
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("nothing-here"), "\(unknown.output)")
        for arguments in [
            ["prune", "--topic", "p"], ["prune", "--through-seq", "1"], ["prune", "--topic", "p", "--through-seq", "0"],
            ["prune", "--topic", "bad topic", "--through-seq", "1"], ["prune", "--topic", "p", "--through-seq", "1", "--retention", "1d"],
            ["prune", "--retention", "0"],
        ] {
            let (status, output) = try await Self.herald(arguments, url)
            #expect(status == 64, "\(arguments): \(output)")
        }
        #expect(try await TestDatabase(url: url).fingerprint() == fingerprint)
    }

    @Test("`herald prune` without a purge runs retention: creates the partitions ahead, drops those older than --retention (default 7d) with their notifications")
    func pruneRetention() async throws {
        let url = try await Self.migratedDatabase()
        let database = TestDatabase(url: url)
        func partitions() async throws -> [String] {
            let rows = try await database.query(
                """
                SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'herald.notifications'::regclass ORDER BY 1
                """
            )
            return try rows.map { try $0.decode(String.self, at: 0) }
        }
        let before = try await partitions()
        let first = try await Self.herald(["prune", "--json"], url)
        #expect(first.status == 0, "\(first.output)")
        let created = try #require(try Self.json(first.output)["partitions_created"] as? Int)
        #expect(try Self.json(first.output)["partitions_dropped"] as? Int == 0)
        let after = try await partitions()
        #expect(after.count == before.count + created)
        #expect(after.contains(IsolatedTests.PartitionMaintenanceTests.dayName(7)), "\(after)")

        // History from ten days ago, in partitions of its own.
        _ = try await database.query("SELECT herald.ensure_partitions((now() AT TIME ZONE 'UTC')::date - 10, 3)")
        _ = try await database.query(
            """
            INSERT INTO herald.notifications (topic, seq, event, data, created_at, size)
            VALUES ('old', 1, 'message', '1', now() - interval '10 days', 1)
            """
        )
        // A retention of 30 days keeps it.
        let kept = try await Self.herald(["prune", "--retention", "30d", "--json"], url)
        #expect(kept.status == 0)
        #expect(try Self.json(kept.output)["partitions_dropped"] as? Int == 0)
        #expect(try await database.seqs("old") == [1])
        // The default, 7 days, drops the three days and what they hold.
        let dropped = try await Self.herald(["prune", "--json"], url)
        #expect(dropped.status == 0, "\(dropped.output)")
        #expect(try Self.json(dropped.output)["partitions_dropped"] as? Int == 3)
        #expect(try Self.json(dropped.output)["partitions_created"] as? Int == 0)
        #expect(try await database.seqs("old") == [])
        #expect(!(try await partitions()).contains(IsolatedTests.PartitionMaintenanceTests.dayName(-10)))
        let plain = try await Self.herald(["prune"], url)
        #expect(plain.status == 0)
        #expect(plain.output.contains("0 partitions dropped"), "\(plain.output)")
    }

    // MARK: - where the database is

    @Test("the admin commands need no server: with --data-dir they start the private PostgreSQL for the command and stop it after; a --data-dir without one is an error (1) that creates nothing")
    func dataDirectory() async throws {
        let directory = TestCluster.makeTemporaryDirectory(prefix: "herald-admin") + "/data"
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        #expect(try await HeraldProcess.run(["migrate", "--data-dir", directory]).status == 0)
        let embedded = try EmbeddedPostgres(directory: directory)
        #expect(!embedded.isRunning())

        let published = try await HeraldProcess.run(["publish", "local", #"{"a":1}"#, "--json", "--data-dir", directory])
        #expect(published.status == 0, "\(published.output)")
        #expect(try Self.json(published.output)["seq"] as? Int == 1)
        #expect(!embedded.isRunning(), "the command left its PostgreSQL running")
        let topics = try await HeraldProcess.run(["topics", "--json"], environment: ["HERALD_DATA_DIR": directory])
        #expect(topics.status == 0, "\(topics.output)")
        #expect((try Self.json(topics.output)["topics"] as? [[String: Any]])?.map { $0["name"] as? String } == ["local"])
        #expect(!embedded.isRunning())
        let pruned = try await HeraldProcess.run(["prune", "--json", "--data-dir", directory])
        #expect(pruned.status == 0, "\(pruned.output)")
        #expect(try Self.json(pruned.output)["partitions_dropped"] as? Int == 0)
        #expect(!embedded.isRunning())

        let missing = TestCluster.makeTemporaryDirectory(prefix: "herald-admin") + "/none"
        defer { try? FileManager.default.removeItem(atPath: (missing as NSString).deletingLastPathComponent) }
        for arguments in [["topics"], ["publish", "t", "1"], ["cursors", "--client", "c"]] {
            let (status, output) = try await HeraldProcess.run(arguments + ["--data-dir", missing])
            #expect(status == 1, "\(arguments): \(output)")
            #expect(output.contains("--data-dir"), "\(arguments): \(output)")
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test("an unreachable database is an error (1) naming --database-url, for every admin command; a database without the schema says to run `herald migrate`")
    func unreachableDatabase() async throws {
        let unreachable = "postgresql://127.0.0.1:1/x?connect_timeout=5"
        let commands: [[String]] = [
            ["publish", "t", "1"], ["tail", "t"], ["topics"], ["cursors", "--client", "c"],
            ["replay", "--client", "c", "--topic", "t", "--from-seq", "1"], ["prune"], ["prune", "--topic", "t", "--through-seq", "1"],
        ]
        for arguments in commands {
            let (status, output) = try await Self.herald(arguments, unreachable)
            #expect(status == 1, "\(arguments): \(output)")
            #expect(output.contains("--database-url"), "\(arguments): \(output)")
        }
        let bare = try await TestCluster.shared.makeDatabase()
        let (status, output) = try await Self.herald(["topics"], bare)
        #expect(status == 1)
        #expect(output.contains("herald migrate"), "\(output)")
    }

    @Test("`herald --generate-completion-script bash` completes the admin commands and their options")
    func completion() async throws {
        let (status, output) = try await HeraldProcess.run(["--generate-completion-script", "bash"])
        #expect(status == 0)
        for command in ["publish", "tail", "topics", "cursors", "replay", "prune"] {
            #expect(output.contains("_herald_\(command)()"), "no completion for \(command)")
        }
        for option in ["--idempotency-key", "--through-seq", "--from-seq", "--since", "--retention", "--client"] {
            #expect(output.contains(option), "no completion for \(option)")
        }
        let help = try await HeraldProcess.run(["--help"])
        for command in ["publish", "tail", "topics", "cursors", "replay", "prune"] {
            #expect(help.output.contains(command), "herald --help lacks \(command)")
        }
    }
}

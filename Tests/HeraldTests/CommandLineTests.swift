import Foundation
import HeraldCore
import HeraldPostgres
import NIOHTTP1
import Testing

@Suite("The herald command line")
struct CommandLineTests {
    @Test("two concurrent `herald migrate` runs apply each migration exactly once")
    func concurrentMigrate() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        async let first = HeraldProcess.run(["migrate", "--database-url", url])
        async let second = HeraldProcess.run(["migrate"], environment: ["HERALD_DATABASE_URL": url])
        let results = try await [first, second]
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.output))")
        let all = Migration.all.map(\.name).joined(separator: ", ")
        #expect(results.filter { $0.output.contains("Applied: \(all)") }.count == 1)
        #expect(results.filter { $0.output.contains("up to date") }.count == 1)
        let rows = try await TestDatabase(url: url).query("SELECT version FROM herald.migrations ORDER BY version")
        #expect(try rows.map { try $0.decode(Int.self, at: 0) } == Migration.all.map(\.version))
        let again = try await HeraldProcess.run(["migrate", "--database-url", url])
        #expect(again.status == 0)
        #expect(again.output.contains("up to date"))
    }

    @Test("`serve --no-migrate` on a database without the schema stops with a message saying to run `herald migrate`")
    func noMigrate() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let refused = try await HeraldProcess.run(["serve", "--no-migrate", "--port", "0", "--database-url", url])
        #expect(refused.status == 1)
        #expect(refused.output.contains("herald migrate"))
        #expect(try await HeraldProcess.run(["migrate", "--database-url", url]).status == 0)
        let server = try HeraldProcess(["serve", "--port", "0"], environment: ["HERALD_DATABASE_URL": url, "HERALD_NO_MIGRATE": "1"])
        let port = try await server.listeningPort()
        #expect(try await TestHTTP.becomesReady("http://127.0.0.1:\(port)"))
        server.signal(SIGTERM)
        #expect(try await server.wait() == 0)
    }

    @Test("`serve --help` explains every option and its environment variable")
    func help() async throws {
        let (status, output) = try await HeraldProcess.run(["serve", "--help"])
        #expect(status == 0)
        for option in [
            "--host", "--port", "--database-url", "--data-dir", "--retention", "--max-payload", "--max-batch", "--no-migrate",
            "--request-timeout", "--idle-timeout", "--max-connections", "--publish-timeout",
        ] {
            #expect(output.contains(option), "help lacks \(option)")
            let variable = "HERALD_" + option.dropFirst(2).uppercased().replacingOccurrences(of: "-", with: "_")
            #expect(output.contains(variable), "help lacks \(variable)")
        }
        let migrateHelp = try await HeraldProcess.run(["migrate", "--help"])
        #expect(migrateHelp.output.contains("--database-url"))
    }

    @Test("usage errors exit 64, other errors exit 1 with a message on stderr")
    func exitCodes() async throws {
        #expect(try await HeraldProcess.run(["serve", "--port", "not-a-number"]).status == 64)
        #expect(try await HeraldProcess.run(["serve", "--no-such-flag"]).status == 64)
        #expect(try await HeraldProcess.run(["no-such-command"]).status == 64)
        let unreachable = try await HeraldProcess.run(["migrate", "--database-url", "host=/nonexistent-herald port=1 connect_timeout=1"])
        #expect(unreachable.status == 1)
        #expect(unreachable.output.contains("Error"))
    }

    @Test("no configuration value traps the process: out-of-range sizes, counts and durations are refused with a message, on the command line (64) and in the environment (1)")
    func noValueTraps() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let usage: [[String]] = [
            ["--max-payload", "0"], ["--max-payload", "99999999999999999999"], ["--max-payload", "1000000000000"],
            ["--max-batch", "-5"], ["--pool-size", "1000000"], ["--event-loops", "100000"], ["--max-connections", "0"],
            ["--heartbeat", "1e300s"], ["--heartbeat", "0.000001s"], ["--retention", "1e20d"], ["--request-timeout", "99999999999h"],
            ["--idle-timeout", "0"], ["--publish-timeout", "-1s"], ["--shutdown-timeout", "nan"], ["--port", "70000"],
        ]
        for arguments in usage {
            let (status, output) = try await HeraldProcess.run(["serve", "--database-url", url] + arguments)
            #expect(status == 64, "\(arguments): \(output)")
            #expect(output.contains(arguments[0]), "\(arguments): \(output)")
        }
        let environment: [(String, String)] = [
            ("HERALD_MAX_PAYLOAD", "-1"), ("HERALD_MAX_PAYLOAD", "99999999999999999999"), ("HERALD_EVENT_LOOPS", "100000"),
            ("HERALD_HEARTBEAT", "0.000001s"), ("HERALD_COMMITTERS", "100000"), ("HERALD_POOL_SIZE", "0"),
            ("HERALD_RETENTION", "1e300w"), ("HERALD_PUBLISH_TIMEOUT", "1e12s"), ("HERALD_MAX_CONNECTIONS", "-3"),
        ]
        for (name, value) in environment {
            let (status, output) = try await HeraldProcess.run(["serve", "--port", "0", "--database-url", url], environment: [name: value])
            #expect(status == 1, "\(name)=\(value): \(output)")
            #expect(output.contains(name), "\(name)=\(value): \(output)")
        }
    }

    @Test("a database error reaches no response body: 500 internal_error with a request id, and the log holds the rest")
    func internalErrors() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let server = try HeraldProcess(["serve", "--port", "0", "--database-url", url])
        let port = try await server.listeningPort()
        #expect(try await TestHTTP.becomesReady("http://127.0.0.1:\(port)"))
        _ = try await TestDatabase(url: url).query("ALTER TABLE herald.cursors RENAME TO cursors_gone")
        let answer = try await TestHTTP.get("http://127.0.0.1:\(port)/v1/clients/someone/cursors")
        #expect(answer.status == 500)
        #expect(answer.errorCode == "internal_error")
        let requestID = try #require(answer.header("X-Request-Id"))
        let message = try #require((answer.json["error"] as? [String: Any])?["message"] as? String)
        #expect(message.contains(requestID))
        #expect(!answer.text.contains("cursors"), "the database's words reached the client: \(answer.text)")
        #expect(!answer.text.lowercased().contains("relation"))
        let log = try await server.waitForOutput(requestID, timeout: .seconds(5))
        #expect(log.contains("herald.cursors"), "the log lacks the database's error: \(log)")
        server.signal(SIGTERM)
        #expect(try await server.wait() == 0)
    }

    @Test("`serve` on a port already taken exits 1 at once, saying so")
    func portTaken() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let first = try HeraldProcess(["serve", "--port", "0", "--database-url", url])
        let port = try await first.listeningPort()
        let started = ContinuousClock.now
        let second = try await HeraldProcess.run(["serve", "--port", "\(port)", "--database-url", url])
        #expect(second.status == 1)
        #expect(second.output.contains("Address already in use"))
        #expect(ContinuousClock.now - started < .seconds(10), "it waited for a signal or the watchdog")
        first.signal(SIGTERM)
        #expect(try await first.wait() == 0)
    }

    @Test("`serve --event-loops` (or HERALD_EVENT_LOOPS) sets the I/O threads; fewer than 1 is refused")
    func eventLoops() async throws {
        #expect(try await HeraldProcess.run(["serve", "--event-loops", "0"]).status == 64)
        let url = try await TestCluster.shared.makeDatabase()
        let one = try HeraldProcess(["serve", "--port", "0", "--event-loops", "1"], environment: ["HERALD_DATABASE_URL": url])
        let port = try await one.listeningPort()
        #expect(try await one.waitForOutput("event loop").contains("(1 event loop)"))
        let published = try await TestHTTP.request(.POST, "http://127.0.0.1:\(port)/v1/topics/loops/notifications", body: Array("one".utf8))
        #expect(published.status == 201)
        one.signal(SIGTERM)
        #expect(try await one.wait() == 0)
        let three = try HeraldProcess(["serve", "--port", "0"], environment: ["HERALD_DATABASE_URL": url, "HERALD_EVENT_LOOPS": "3"])
        _ = try await three.listeningPort()
        #expect(try await three.waitForOutput("event loop").contains("(3 event loops)"))
        three.signal(SIGTERM)
        #expect(try await three.wait() == 0)
        let invalid = try await HeraldProcess.run(["serve", "--port", "0", "--database-url", url], environment: ["HERALD_EVENT_LOOPS": "none"])
        #expect(invalid.status == 1)
        #expect(invalid.output.contains("HERALD_EVENT_LOOPS"))
    }

    @Test("`herald serve` reads its options from HERALD_* variables, serves, and exits 0 on SIGTERM")
    func serveFromEnvironment() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let server = try HeraldProcess(["serve"], environment: ["HERALD_DATABASE_URL": url, "HERALD_PORT": "0", "HERALD_MAX_PAYLOAD": "10"])
        let port = try await server.listeningPort()
        let small = try await TestHTTP.request(.POST, "http://127.0.0.1:\(port)/v1/topics/env/notifications", body: Array("tiny".utf8))
        #expect(small.status == 201)
        let big = try await TestHTTP.request(.POST, "http://127.0.0.1:\(port)/v1/topics/env/notifications", body: Array("far too large".utf8))
        #expect(big.status == 413)
        server.signal(SIGTERM)
        #expect(try await server.wait() == 0)
    }

    @Test("`herald serve` with no database URL runs a private PostgreSQL in --data-dir and stops it on SIGINT")
    func serveEmbedded() async throws {
        let directory = TestCluster.makeTemporaryDirectory(prefix: "herald-cli") + "/data"
        let server = try HeraldProcess(["serve", "--data-dir", directory, "--port", "0"])
        let port = try await server.listeningPort()
        let answer = try await TestHTTP.request(.POST, "http://127.0.0.1:\(port)/v1/topics/local/notifications", body: Array("hi".utf8))
        #expect(answer.status == 201)
        let embedded = try EmbeddedPostgres(directory: directory)
        #expect(embedded.isRunning())
        server.signal(SIGINT)
        #expect(try await server.wait() == 0)
        #expect(!embedded.isRunning())
        // The data is still there on the next start.
        let again = try HeraldProcess(["serve", "--data-dir", directory, "--port", "0"])
        let port2 = try await again.listeningPort()
        let fetched = try await TestHTTP.get("http://127.0.0.1:\(port2)/v1/topics/local/notifications/1")
        #expect(fetched.json["data"] as? String == "hi")
        again.signal(SIGTERM)
        #expect(try await again.wait() == 0)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

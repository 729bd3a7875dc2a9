import ArgumentParser
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix

/// `herald-bench ceiling`: an empty Hummingbird 2 application with Herald's two publish
/// routes, the HTTP ceiling beside which `bench/compare.sh` shows Herald's publish.
///
/// Each route reads the request's body (at most 1 MiB, as a server must before it can
/// answer) and answers `201` with a fixed JSON body the size of Herald's answer for the
/// 64-byte publishes of `herald-bench publish`; nothing is parsed, stored or looked up.
/// Like `herald serve`, it runs Swift concurrency's tasks on NIO's event loops (see
/// `HeraldMain` in the `herald` target) and takes its loop count from `--threads`: what
/// a request costs through Hummingbird's router with no work behind it. Herald's batch
/// endpoint takes that path; its single publish is served below the router
/// (`FastPathHandler`), so for it this is a reference rather than a strict bound.
struct CeilingServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ceiling",
        abstract: "An empty Hummingbird server with Herald's publish routes (the HTTP ceiling); runs until SIGINT or SIGTERM."
    )

    @Option(help: "Port to listen on.") var port = 18082
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Event-loop threads (herald serve's --event-loops); Swift tasks run on them too.") var threads = 1
    @Option(help: "Notifications in the batch answer (herald-bench publish --batch sends 100).") var batchItems = 100

    /// The largest request body read; a bigger one is answered 413.
    static let maximumBody = 1 << 20

    /// One notification as Herald answers it for `herald-bench publish` (its 64 bytes of
    /// data, a UUID, a time).
    static let notification =
        #"{"topic":"bench-0","seq":1,"id":"aa5cddba-bca5-4a7e-b1ae-a5e97b05e281","event":"bench","#
        + #""data":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","created_at":"2026-11-30T22:34:08.699Z"}"#

    func validate() throws {
        guard (1...256).contains(self.threads) else { throw ValidationError("--threads must be from 1 to 256") }
        guard (1...10_000).contains(self.batchItems) else { throw ValidationError("--batch-items must be from 1 to 10000") }
    }

    func run() async throws {
        // As `herald serve` does at its start: size NIO's singleton group, then run Swift
        // concurrency's jobs on it. Nothing in herald-bench has used the singleton before a
        // subcommand runs, so both still take effect here.
        NIOSingletons.groupLoopCountSuggestion = self.threads
        if !NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() {
            print("ceiling: Swift tasks stay on the cooperative pool (NIO could not take it over), unlike herald serve's")
        }

        var logger = Logger(label: "herald-bench.ceiling")
        logger.logLevel = .warning
        let single = ByteBuffer(string: Self.notification)
        let batch = ByteBuffer(
            string: #"{"notifications":["# + Array(repeating: Self.notification, count: self.batchItems).joined(separator: ",") + "]}"
        )
        // Herald's headers besides the Date and Server that Hummingbird adds (its request
        // id is made per request there, fixed here).
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[HTTPField.Name("X-Request-Id")!] = "2a2828129d86d747"
        let json = fields
        fields[.location] = "/v1/topics/bench-0/notifications/1"
        let created = fields

        let router = Router()
        router.post("/v1/topics/{topic}/notifications") { request, _ -> Response in
            try await Self.read(request)
            return Response(status: .created, headers: created, body: ResponseBody(byteBuffer: single))
        }
        router.post("/v1/notifications") { request, _ -> Response in
            try await Self.read(request)
            return Response(status: .created, headers: json, body: ResponseBody(byteBuffer: batch))
        }
        let host = self.host
        let port = self.port
        let threads = self.threads
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "ceiling", backlog: 4096),
            onServerRunning: { _ in
                print("ceiling: listening on http://\(host):\(port) (\(threads) event loop\(threads == 1 ? "" : "s"))")
            },
            logger: logger
        )
        try await app.runService()
    }

    /// Reads the request's whole body (what a server must do before it answers), at most
    /// `maximumBody` bytes, else `413`.
    static func read(_ request: Request) async throws {
        do {
            _ = try await request.body.collect(upTo: Self.maximumBody)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge)
        }
    }
}

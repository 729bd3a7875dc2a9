import Foundation
import HeraldCore
import HeraldPostgres
import HeraldServer
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// A real Herald instance on a loopback port, over a real database, inside the test process.
final class TestServer: Sendable {
    let instance: HeraldInstance
    let port: Int
    let databaseURL: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    var baseURL: String { "http://127.0.0.1:\(self.port)" }

    /// A quiet logger for servers under test (warnings and errors only).
    static let logger: Logger = {
        var logger = Logger(label: "test.server")
        logger.logLevel = .warning
        return logger
    }()

    /// Starts an instance on a free port; with no URL, on a fresh database of its own.
    /// Returns once it is ready: listening on its port and on its LISTEN connection.
    static func start(
        databaseURL: String? = nil,
        configure: (inout HeraldInstance.Configuration) -> Void = { _ in }
    ) async throws -> TestServer {
        let url: String
        if let databaseURL {
            url = databaseURL
        } else {
            url = try await TestCluster.shared.makeDatabase()
        }
        var configuration = HeraldInstance.Configuration(server: .init(port: 0), databaseURL: url, poolSize: 4)
        configure(&configuration)
        let instance = HeraldInstance(configuration: configuration, logger: Self.logger)
        try await instance.prepare()
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try instance.makeApplication { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: Self.logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw TestFailure("the server did not start")
        }
        // Ready as /readyz means it: a long-poll or stream opened before the LISTEN
        // connection is up is only woken when it comes up (seconds on a loaded machine).
        let deadline = ContinuousClock.now + .seconds(20)
        while !instance.dispatcher.isListening {
            guard ContinuousClock.now < deadline else {
                await group.triggerGracefulShutdown()
                throw TestFailure("the server's LISTEN connection did not come up within 20 s")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return TestServer(instance: instance, port: port, databaseURL: url, group: group, task: task)
    }

    private init(instance: HeraldInstance, port: Int, databaseURL: String, group: ServiceGroup, task: Task<Void, any Error>) {
        self.instance = instance
        self.port = port
        self.databaseURL = databaseURL
        self.group = group
        self.task = task
    }

    /// Shuts the instance down gracefully and closes its database connections.
    func stop() async {
        await self.group.triggerGracefulShutdown()
        _ = try? await self.task.value
        self.instance.shutdown()
    }
}

/// A failure of the test setup itself.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

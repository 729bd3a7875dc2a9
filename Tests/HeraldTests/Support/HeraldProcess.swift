import Foundation

/// The `herald` executable, run as a user would run it.
final class HeraldProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` and the pipes are set up in init and only read after;
    // the collected output is guarded by `lock`.
    let process = Process()
    private let output = Pipe()
    private let lock = NSLock()
    private var collected = Data()

    /// The built `herald` binary, next to the test bundle.
    static var executable: String {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidates = [bundleDirectory.appendingPathComponent("herald").path]
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/herald").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        self.process.executableURL = URL(fileURLWithPath: Self.executable)
        self.process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HERALD_") }
        merged.merge(environment) { $1 }
        self.process.environment = merged
        self.process.standardOutput = self.output
        self.process.standardError = self.output
        self.output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock()
            self.collected.append(data)
            self.lock.unlock()
        }
        try self.process.run()
    }

    deinit {
        // A test that failed half-way leaves no server behind.
        if self.process.isRunning { self.process.terminate() }
    }

    /// Everything printed so far (stdout and stderr).
    var text: String {
        self.lock.lock()
        defer { self.lock.unlock() }
        return String(decoding: self.collected, as: UTF8.self)
    }

    /// Waits for the process to exit and returns its status.
    func wait(timeout: Duration = .seconds(120)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning {
            guard ContinuousClock.now < deadline else {
                self.process.terminate()
                throw TestFailure("herald did not exit in time; it printed:\n\(self.text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(50))
        return self.process.terminationStatus
    }

    /// Waits until the output contains `needle`; returns the output.
    @discardableResult
    func waitForOutput(_ needle: String, timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var exitedAt: ContinuousClock.Instant?
        while !self.text.contains(needle) {
            if !self.process.isRunning, exitedAt == nil { exitedAt = ContinuousClock.now }
            // After an exit, give the last output a moment to arrive before giving up.
            let exitedLongAgo = exitedAt.map { ContinuousClock.now - $0 > .milliseconds(500) } ?? false
            guard ContinuousClock.now < deadline, !exitedLongAgo else {
                throw TestFailure("herald never printed '\(needle)'; it printed:\n\(self.text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return self.text
    }

    /// The port from the "listening on http://host:port" line.
    func listeningPort() async throws -> Int {
        let text = try await self.waitForOutput("Herald is listening on http://")
        guard let range = text.range(of: #"listening on http://[^:]+:(\d+)"#, options: .regularExpression),
            let port = Int(text[range].split(separator: ":").last ?? "")
        else { throw TestFailure("no port in: \(text)") }
        return port
    }

    func signal(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    /// Runs `herald` with `arguments` to completion.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let process = try HeraldProcess(arguments, environment: environment)
        let status = try await process.wait()
        return (status, process.text)
    }
}

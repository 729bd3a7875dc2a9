import Foundation
import Glibc
@testable import HeraldPostgres

/// The `herald` executable, run as a user would run it.
///
/// Spawned with `posix_spawn`, its output read by a plain thread until end of file, and its
/// exit collected with `waitpid`. Foundation's `Process` with a pipe's `readabilityHandler`
/// is avoided on purpose: the handler is a Dispatch source on the pipe's descriptor, and
/// when the pipe is released while the source is still registered, the descriptor number
/// is reused by the next socket and libdispatch's event loop crashes the whole test
/// process (seen in CI as a SIGSEGV in `_dispatch_event_loop_drain`).
final class HeraldProcess: Sendable {
    private struct State: Sendable {
        var output = Data()
        var outputEnded = false
        var exitStatus: Int32?
    }

    let pid: pid_t
    private let state = LockedValue(State())

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
        var merged = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HERALD_") }
        merged.merge(environment) { $1 }

        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else { throw TestFailure("pipe: \(String(cString: strerror(errno)))") }
        let (readEnd, writeEnd) = (descriptors[0], descriptors[1])
        // Glibc's `pipe2` is not imported. A child spawned elsewhere in the instant before
        // these flags are set may keep a copy of the write end; that only delays this
        // process's end of file, never its output or its exit status.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        // Nothing else of the test process's: a server started here would keep the tests'
        // sockets open.
        CommandRunner.closeOthers(&actions)

        let argv = ([Self.executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, Self.executable, &actions, nil, argv, envp)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            throw TestFailure("cannot run \(Self.executable): \(String(cString: strerror(spawned)))")
        }
        self.pid = pid

        // The thread owns `readEnd` and closes it at end of file (when the process and
        // anything it started have exited); it holds the state, not `self`, so that a
        // forgotten process is still terminated by `deinit`.
        let state = self.state
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(readEnd, &buffer, buffer.count)
                if count > 0 {
                    state.withLock { $0.output.append(contentsOf: buffer[..<count]) }
                } else if count < 0, errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(readEnd)
            state.withLock { $0.outputEnded = true }
        }
        reader.start()
    }

    deinit {
        // A test that failed half-way leaves no server behind.
        if self.isRunning {
            kill(self.pid, SIGKILL)
            _ = self.reap(blocking: true)
        }
    }

    /// Collects the exit status if the process has exited; nil while it runs.
    private func reap(blocking: Bool) -> Int32? {
        if let status = self.state.withLock({ $0.exitStatus }) { return status }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(self.pid, &status, blocking ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == self.pid else { return nil }
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        self.state.withLock { $0.exitStatus = exitStatus }
        return exitStatus
    }

    var isRunning: Bool { self.reap(blocking: false) == nil }

    /// Everything printed so far (stdout and stderr).
    var text: String {
        self.state.withLock { String(decoding: $0.output, as: UTF8.self) }
    }

    /// Waits for the process to exit and returns its status (128 + n after signal n).
    func wait(timeout: Duration = .seconds(120)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = self.reap(blocking: false) {
                // Let the reader thread take the last output (end of file), for a moment at most.
                let outputDeadline = ContinuousClock.now + .seconds(2)
                while !self.state.withLock({ $0.outputEnded }), ContinuousClock.now < outputDeadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                return status
            }
            guard ContinuousClock.now < deadline else {
                kill(self.pid, SIGKILL)
                throw TestFailure("herald did not exit in time; it printed:\n\(self.text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the output contains `needle`; returns the output.
    @discardableResult
    func waitForOutput(_ needle: String, timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var exitedAt: ContinuousClock.Instant?
        while !self.text.contains(needle) {
            if !self.isRunning, exitedAt == nil { exitedAt = ContinuousClock.now }
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
        // Never signal a reaped pid: the number may belong to another process by now.
        if self.isRunning { kill(self.pid, signal) }
    }

    /// Runs `herald` with `arguments` to completion.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        let process = try HeraldProcess(arguments, environment: environment)
        let status = try await process.wait()
        return (status, process.text)
    }
}

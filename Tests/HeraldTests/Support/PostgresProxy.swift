import Foundation
import Glibc
import Synchronization

/// A proxy between Herald and the test cluster's Unix socket that can lose a connection at
/// the worst moment: `loseNextCommitAnswer(application:)` makes it drop, on the next
/// connection with that `application_name`, the server's `ReadyForQuery` that follows a
/// completed command, and close that connection. The statement has then committed on the
/// server, and the client never hears of it. `cutAfterNextStatement(application:)` cuts
/// the client off as soon as its next statement is sent, while the server goes on.
final class PostgresProxy: Sendable {
    /// The folder of the proxy's socket (use it as `host=` in a connection string).
    let directory: String
    private let target: String
    private let armedFor = Mutex<String?>(nil)
    private let cutFor = Mutex<String?>(nil)
    private let listener: Int32

    /// Listens next to nothing yet; forwards to the server whose socket is in `socketDirectory`.
    init(socketDirectory: String, port: Int = 5432) throws {
        self.target = "\(socketDirectory)/.s.PGSQL.\(port)"
        self.directory = TestCluster.makeTemporaryDirectory(prefix: "herald-proxy")
        chmod(self.directory, 0o777)
        self.listener = try Self.listen(at: "\(self.directory)/.s.PGSQL.\(port)")
        let listener = self.listener
        Thread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                self.serve(client)
            }
        }.start()
    }

    /// The connection string of the proxied server (database `name`).
    func connectionString(database name: String) -> String {
        "host=\(self.directory) port=5432 user=postgres dbname=\(name)"
    }

    /// Arms the proxy for one lost answer on a connection of `application`.
    func loseNextCommitAnswer(application: String) {
        self.armedFor.withLock { $0 = application }
    }

    /// Whether the armed loss has happened.
    var hasLostAnswer: Bool { self.armedFor.withLock { $0 == nil } }

    /// Arms the proxy to cut, on a connection of `application`, the client's side right
    /// after forwarding its next statement: the server runs it to the end, unaware.
    func cutAfterNextStatement(application: String) {
        self.cutFor.withLock { $0 = application }
    }

    /// Whether the armed cut has happened.
    var hasCut: Bool { self.cutFor.withLock { $0 == nil } }

    private func serve(_ client: Int32) {
        let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard Self.connect(server, to: self.target) else {
            close(client)
            close(server)
            return
        }
        let application = Mutex<String?>(nil)
        // The descriptors are closed by whichever thread ends last: closed while the other
        // still reads or writes them, their numbers could go to another socket meanwhile.
        let ended = Mutex(0)
        // Client to server: read the startup message's application_name, forward all.
        Thread {
            defer { if ended.withLock({ $0 += 1; return $0 == 2 }) { close(client); close(server) } }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var startup: [UInt8] = []
            while true {
                let count = read(client, &buffer, buffer.count)
                guard count > 0 else { break }
                if application.withLock({ $0 == nil }) {
                    startup.append(contentsOf: buffer[..<count])
                    if let name = Self.applicationName(in: startup) { application.withLock { $0 = name } }
                }
                guard Self.writeAll(server, Array(buffer[..<count])) else { break }
                if let name = application.withLock({ $0 }),
                    self.cutFor.withLock({ armed in
                        guard armed == name else { return false }
                        armed = nil
                        return true
                    })
                {
                    // The server keeps its side, and runs what it got.
                    shutdown(client, Int32(SHUT_RDWR))
                    return
                }
            }
            shutdown(server, Int32(SHUT_WR))
        }.start()
        // Server to client: message by message, watching for the armed moment.
        Thread { [self] in
            defer { if ended.withLock({ $0 += 1; return $0 == 2 }) { close(client); close(server) } }
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var sawCommandComplete = false
            while true {
                let count = read(server, &buffer, buffer.count)
                guard count > 0 else { break }
                pending.append(contentsOf: buffer[..<count])
                var forward = 0
                while pending.count - forward >= 5 {
                    let type = pending[forward]
                    let length = Int(pending[forward + 1]) << 24 | Int(pending[forward + 2]) << 16 | Int(pending[forward + 3]) << 8
                        | Int(pending[forward + 4])
                    guard pending.count - forward >= 1 + length else { break }
                    if type == UInt8(ascii: "C") { sawCommandComplete = true }
                    if type == UInt8(ascii: "Z"), sawCommandComplete, let name = application.withLock({ $0 }),
                        self.armedFor.withLock({ armed in
                            guard armed == name else { return false }
                            armed = nil
                            return true
                        })
                    {
                        // Everything before the ReadyForQuery goes; it and the connection do not.
                        _ = Self.writeAll(client, Array(pending[..<forward]))
                        shutdown(client, Int32(SHUT_RDWR))
                        shutdown(server, Int32(SHUT_RDWR))
                        return
                    }
                    if type == UInt8(ascii: "Z") { sawCommandComplete = false }
                    forward += 1 + length
                }
                guard Self.writeAll(client, Array(pending[..<forward])) else { break }
                pending.removeFirst(forward)
            }
            shutdown(client, Int32(SHUT_RDWR))
        }.start()
    }

    /// `application_name` from a startup message (length, protocol, then key/value C strings).
    static func applicationName(in startup: [UInt8]) -> String? {
        guard startup.count >= 8 else { return nil }
        let length = Int(startup[0]) << 24 | Int(startup[1]) << 16 | Int(startup[2]) << 8 | Int(startup[3])
        guard startup.count >= length, length > 8 else { return nil }
        let fields = startup[8..<length].split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        var index = 0
        while index + 1 < fields.count {
            if fields[index] == "application_name" { return fields[index + 1] }
            index += 2
        }
        return ""
    }

    private static func listen(at path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = Self.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Glibc.listen(descriptor, 64) == 0 else { throw TestFailure("proxy: cannot listen at \(path): \(errno)") }
        chmod(path, 0o777)
        return descriptor
    }

    private static func connect(_ descriptor: Int32, to path: String) -> Bool {
        var address = Self.address(path)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    private static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }
}

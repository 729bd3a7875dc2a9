import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A WebSocket client written against the socket API, for what a library client hides:
/// whether the server pings, what a client that never answers experiences, frames over
/// the maximum, and close codes. Blocking calls run on a thread of their own, not on the
/// tasks' pool.
final class RawWebSocket: Sendable {
    /// A frame from the server.
    struct Frame: Sendable {
        var opcode: UInt8
        var payload: [UInt8]
        /// The close code of a close frame.
        var closeCode: Int? {
            guard self.opcode == 0x8, self.payload.count >= 2 else { return nil }
            return Int(self.payload[0]) << 8 | Int(self.payload[1])
        }
        var text: String { String(decoding: self.payload, as: UTF8.self) }
    }

    let descriptor: Int32
    /// The status line and headers of the server's answer to the upgrade.
    let response: String

    private init(descriptor: Int32, response: String) {
        self.descriptor = descriptor
        self.response = response
    }

    /// The status code of the server's answer to the upgrade.
    var status: Int { Int(self.response.split(separator: " ").dropFirst().first ?? "") ?? 0 }

    /// The headers of a WebSocket upgrade.
    static let upgrade = [
        "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ]

    /// Connects to 127.0.0.1:`port` and asks to upgrade `path`; with other `headers`, sends
    /// a plain GET with them (an SSE stream, seen at the socket). `receiveBuffer` makes the
    /// socket's receive buffer that small (a client that cannot take much).
    static func connect(
        port: Int, path: String, headers: [String] = RawWebSocket.upgrade, receiveBuffer: Int? = nil
    ) async throws -> RawWebSocket {
        try await Self.offPool {
            let descriptor = try Self.openSocket(port: port, receiveBuffer: receiveBuffer)
            let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
            Self.write(descriptor, Array(request.utf8))
            var head: [UInt8] = []
            while !head.ends(with: Array("\r\n\r\n".utf8)) {
                var byte: UInt8 = 0
                guard recv(descriptor, &byte, 1, 0) == 1 else { break }
                head.append(byte)
            }
            return RawWebSocket(descriptor: descriptor, response: String(decoding: head, as: UTF8.self))
        }
    }

    /// Connects to 127.0.0.1:`port` and sends nothing: the caller writes raw bytes.
    static func open(port: Int, receiveBuffer: Int? = nil) async throws -> RawWebSocket {
        try await Self.offPool { RawWebSocket(descriptor: try Self.openSocket(port: port, receiveBuffer: receiveBuffer), response: "") }
    }

    private static func openSocket(port: Int, receiveBuffer: Int?) throws -> Int32 {
        // Close-on-exec: a program another test starts meanwhile (a PostgreSQL server lives
        // on) must not inherit it, or closing it here would not close the connection.
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw TestFailure("connect failed: \(errno)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return descriptor
    }

    /// Bytes received and not read yet.
    var unreadBytes: Int {
        var count: Int32 = 0
        return ioctl(self.descriptor, UInt(FIONREAD), &count) == 0 ? Int(count) : 0
    }

    /// Sends bytes as they are (no framing).
    func sendRaw(_ bytes: [UInt8]) {
        Self.write(self.descriptor, bytes)
    }

    /// Everything the server sends until it closes the connection or `timeout` seconds pass
    /// without a byte; and whether it closed.
    func readUntilClosed(timeout seconds: Int) async -> (bytes: [UInt8], closed: Bool) {
        let descriptor = self.descriptor
        return (try? await Self.offPool {
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let received = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if received > 0 {
                    all.append(contentsOf: buffer[..<received])
                    continue
                }
                return (all, received == 0 || errno == ECONNRESET)
            }
        }) ?? ([], false)
    }

    /// Sends one frame, masked as a client must; `fin` false starts or continues a
    /// fragmented message.
    func send(opcode: UInt8, _ payload: [UInt8], fin: Bool = true) {
        Self.write(self.descriptor, Self.maskedFrame(opcode: opcode, payload, fin: fin))
    }

    /// A frame as a client sends it (masked).
    static func maskedFrame(opcode: UInt8, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame.append(0x80 | 126)
            frame.append(UInt8(payload.count >> 8))
            frame.append(UInt8(payload.count & 0xFF))
        }
        let mask: [UInt8] = [1, 2, 3, 4]
        frame.append(contentsOf: mask)
        frame.append(contentsOf: payload.enumerated().map { $0.element ^ mask[$0.offset % 4] })
        return frame
    }

    /// Reads until what came contains `needle`; nil if it does not within `timeout` seconds.
    func receive(until needle: String, timeout seconds: Int = 10) async -> String? {
        let descriptor = self.descriptor
        return try? await Self.offPool {
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let deadline = Date().addingTimeInterval(Double(seconds))
            while Date() < deadline {
                let received = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if received > 0 { all.append(contentsOf: buffer[..<received]) }
                if received == 0 { break }
                let text = String(decoding: all, as: UTF8.self)
                if text.contains(needle) { return text }
            }
            return nil
        }
    }

    /// The next frame, or nil when the server closed the connection (or nothing came
    /// within `timeout`).
    func next(timeout seconds: Int = 10) async -> Frame? {
        let descriptor = self.descriptor
        return try? await Self.offPool {
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            guard let header = Self.read(descriptor, 2) else { return nil }
            var length = Int(header[1] & 0x7F)
            if length == 126 {
                guard let extended = Self.read(descriptor, 2) else { return nil }
                length = Int(extended[0]) << 8 | Int(extended[1])
            } else if length == 127 {
                guard let extended = Self.read(descriptor, 8) else { return nil }
                length = extended.reduce(0) { $0 << 8 | Int($1) }
            }
            guard let payload = Self.read(descriptor, length) else { return nil }
            return Frame(opcode: header[0] & 0x0F, payload: payload)
        }
    }

    /// The next text frame, answering the server's pings meanwhile as a live client does.
    func nextText(timeout: Int = 10) async -> String? {
        while let frame = await self.next(timeout: timeout) {
            if frame.opcode == 0x9 { self.send(opcode: 0xA, frame.payload) }
            if frame.opcode == 0x1 { return frame.text }
        }
        return nil
    }

    /// Frames until the server closes the connection; nil if it stays open `timeout` long.
    func framesUntilClosed(timeout: Int) async -> [Frame]? {
        var frames: [Frame] = []
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            guard let frame = await self.next(timeout: timeout) else { return frames }
            frames.append(frame)
        }
        return nil
    }

    /// Ends the connection (both directions). The descriptor itself is released only when
    /// nothing holds this client any more: a task still sending on it (a trickle) must not
    /// write into whatever socket would get the same number next, another test's.
    func close() {
        shutdown(self.descriptor, Int32(SHUT_RDWR))
    }

    deinit {
        Glibc.close(self.descriptor)
    }

    /// Closes the sending side only (a FIN), as a client that goes away does.
    func shutdownWrite() {
        shutdown(self.descriptor, Int32(SHUT_WR))
    }

    /// Whether the server closes the connection within `timeout` seconds (what it sends
    /// meanwhile is read and dropped).
    func closedByServer(timeout seconds: Int) async -> Bool {
        let descriptor = self.descriptor
        return (try? await Self.offPool {
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let received = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if received == 0 { return true }
                if received < 0 { return errno == ECONNRESET }
            }
        }) ?? false
    }

    private static func read(_ descriptor: Int32, _ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let received = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + filled, count - filled, 0) }
            guard received > 0 else { return nil }
            filled += received
        }
        return bytes
    }

    private static func write(_ descriptor: Int32, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    private static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}

extension Array where Element: Equatable {
    fileprivate func ends(with suffix: [Element]) -> Bool {
        self.count >= suffix.count && Array(self[(self.count - suffix.count)...]) == suffix
    }
}

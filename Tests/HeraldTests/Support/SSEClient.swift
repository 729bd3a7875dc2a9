import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A Server-Sent Events client over a real HTTP connection: it parses the stream the way
/// a browser's EventSource does, and can stop reading its socket (pause) to play a slow
/// reader.
final class SSEClient: Sendable {
    struct Event: Sendable {
        var id: String?
        var event: String
        var data: String

        /// The data as a JSON object.
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(self.data.utf8))) as? [String: Any] ?? [:]
        }

        /// The notification's topic, read from the start of its JSON (cheap for big data).
        var topic: String? {
            guard let start = self.data.range(of: #"{"topic":""#), start.lowerBound == self.data.startIndex,
                let end = self.data[start.upperBound...].firstIndex(of: "\"")
            else { return nil }
            return String(self.data[start.upperBound..<end])
        }

        /// The notification's seq, read from the start of its JSON.
        var seq: Int? {
            guard self.topic != nil, let key = self.data.range(of: #"","seq":"#) else { return nil }
            return Int(self.data[key.upperBound...].prefix { $0.isNumber })
        }
    }

    let status: Int
    let headers: [(String, String)]
    let events = Mailbox<Event>()
    /// The HTTP version the response came in.
    let version = Mutex<HTTPVersion?>(nil)
    private let retry = Mutex<Int?>(nil)
    private let startID = Mutex<String?>(nil)
    private let comments = Atomic<Int>(0)
    private let paused = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let isPaused = Atomic<Bool>(false)
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// The `retry:` value received.
    var retryMilliseconds: Int? { self.retry.withLock { $0 } }
    /// The `id:` of the first block without data (the stream's starting cursor), once received.
    var startCursor: String? { self.startID.withLock { $0 } }
    /// The number of comment lines (keep-alives) received.
    var commentCount: Int { self.comments.load(ordering: .relaxed) }

    private init(status: Int, headers: [(String, String)]) {
        self.status = status
        self.headers = headers
    }

    func header(_ name: String) -> String? {
        self.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// Opens a stream (through `client`); returns once the response head arrived.
    static func open(_ url: String, headers: [(String, String)] = [], client: HTTPClient = TestHTTP.client) async throws -> SSEClient {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "text/event-stream")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .hours(1))
        let client = SSEClient(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) })
        client.version.withLock { $0 = response.version }
        let body = response.body
        let task = Task { await client.read(body) }
        client.task.withLock { $0 = task }
        return client
    }

    /// Stops reading the socket (the server's writes back up), until `resume()`.
    func pause() { self.isPaused.store(true, ordering: .releasing) }

    func resume() {
        self.isPaused.store(false, ordering: .releasing)
        self.paused.withLock { continuation in
            continuation?.resume()
            continuation = nil
        }
    }

    /// Closes the connection.
    func close() {
        self.task.withLock { $0?.cancel() }
        self.resume()
    }

    /// The next event (not comments), or nil on end of stream or time-out.
    func next(timeout: Duration = .seconds(10)) async -> Event? {
        await self.events.take(timeout: timeout)
    }

    private func read(_ body: HTTPClientResponse.Body) async {
        var parser = Parser()
        do {
            for try await buffer in body {
                // Lines are found with memchr: this client must keep up with big streams
                // even in a debug build.
                buffer.withUnsafeReadableBytes { raw in
                    guard let base = raw.baseAddress else { return }
                    var start = 0
                    while start < raw.count {
                        guard let newline = memchr(base + start, 0x0A, raw.count - start) else {
                            parser.line.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start...]))
                            break
                        }
                        let end = base.distance(to: UnsafeRawPointer(newline))
                        parser.line.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                        self.handleLine(&parser)
                        start = end + 1
                    }
                }
                if self.isPaused.load(ordering: .acquiring) {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = self.paused.withLock { paused -> Bool in
                            guard self.isPaused.load(ordering: .acquiring) else { return true }
                            paused = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                }
            }
        } catch {}
        self.events.finish()
    }

    private struct Parser {
        var line: [UInt8] = []
        var id: String?
        var event = "message"
        var data: [String] = []
    }

    private func handleLine(_ parser: inout Parser) {
        defer { parser.line.removeAll(keepingCapacity: true) }
        if parser.line.isEmpty {
            if !parser.data.isEmpty {
                self.events.put(Event(id: parser.id, event: parser.event, data: parser.data.joined(separator: "\n")))
            } else if let id = parser.id {
                self.startID.withLock { $0 = $0 ?? id }
            }
            parser.id = nil
            parser.event = "message"
            parser.data = []
            return
        }
        if parser.line[0] == UInt8(ascii: ":") {
            self.comments.add(1, ordering: .relaxed)
            return
        }
        let (field, value) = Self.split(String(decoding: parser.line, as: UTF8.self))
        switch field {
        case "id": parser.id = value
        case "event": parser.event = value
        case "data": parser.data.append(value)
        case "retry": self.retry.withLock { $0 = Int(value) }
        default: break
        }
    }

    private static func split(_ line: String) -> (String, String) {
        guard let colon = line.firstIndex(of: ":") else { return (line, "") }
        var value = line[line.index(after: colon)...]
        if value.first == " " { value = value.dropFirst() }
        return (String(line[..<colon]), String(value))
    }
}

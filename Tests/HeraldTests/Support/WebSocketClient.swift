import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// A real WebSocket client: what the server sends arrives in `messages`; `send` writes a
/// text frame.
final class TestWebSocket: Sendable {
    let messages = Mailbox<String>()
    private let outgoing = Mailbox<String>()
    private let task = Mutex<Task<Void, Never>?>(nil)
    let closeCode = Mutex<String?>(nil)

    /// Connects to `url` (ws://...); returns at once, frames flow in the background.
    static func connect(_ url: String) -> TestWebSocket {
        let socket = TestWebSocket()
        let logger: Logger = {
            var logger = Logger(label: "test.ws")
            logger.logLevel = .warning
            return logger
        }()
        let task = Task {
                do {
                    let frame = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 20), logger: logger) {
                        inbound, outbound, _ in
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                while let text = await socket.outgoing.take(timeout: .seconds(3600)) {
                                    try await outbound.write(.text(text))
                                }
                                try await outbound.close(.normalClosure, reason: nil)
                            }
                            for try await message in inbound.messages(maxSize: 1 << 22) {
                                if case .text(let text) = message { socket.messages.put(text) }
                            }
                            group.cancelAll()
                        }
                    }
                    socket.closeCode.withLock { $0 = frame.map { "\($0.closeCode)" } }
                } catch {
                    socket.closeCode.withLock { $0 = "error: \(error)" }
                }
                socket.messages.finish()
            }
        socket.task.withLock { $0 = task }
        return socket
    }

    func send(_ text: String) { self.outgoing.put(text) }

    /// The next message as a JSON object, or nil at the end or after `timeout`.
    func next(timeout: Duration = .seconds(10)) async -> [String: Any]? {
        guard let text = await self.messages.take(timeout: timeout) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? ["unparsable": text]
    }

    /// The next message whose type is `type`, skipping others.
    func next(type: String, timeout: Duration = .seconds(10)) async -> [String: Any]? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let message = await self.next(timeout: deadline - ContinuousClock.now) else { return nil }
            if message["type"] as? String == type { return message }
        }
        return nil
    }

    func close() {
        self.outgoing.finish()
    }

    /// Drops the connection without a close handshake.
    func abort() {
        self.task.withLock { $0?.cancel() }
    }
}

import Foundation
import HeraldCore
import HeraldServer
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension IsolatedTests {
    @Suite("Clients that send without reading: read gating keeps the server's memory bounded")
    struct ConnectionFloodTests {
        @Test("a client pipelining publishes without reading the answers is held back by TCP: the server's memory stays bounded")
        func pipelinedFlood() async throws {
            let url = try await TestCluster.shared.makeDatabase()
            let server = try HeraldProcess(["serve", "--port", "0", "--database-url", url, "--log-level", "notice"])
            let port = try await server.listeningPort()
            #expect(try await TestHTTP.becomesReady("http://127.0.0.1:\(port)"))
            let before = try Self.residentMegabytes(server.pid)
            let client = try await RawWebSocket.open(port: port, receiveBuffer: 4096)
            defer { client.close() }
            let request = Array("POST /v1/topics/flood/notifications HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi".utf8)
            // 200,000 requests (12 MB): the sender blocks once the server stops reading.
            let sent = await Self.flood(client.descriptor, Array((0..<2000).map { _ in request }.joined()), times: 100)
            let after = try Self.residentMegabytes(server.pid)
            #expect(sent < 200_000 * request.count, "the server read everything: it buffered or answered it all")
            #expect(after - before < 64, "RSS grew from \(before) to \(after) MiB")
            server.signal(SIGTERM)
            _ = try await server.wait()
        }

        @Test("a WebSocket client that sends 200,000 frames and reads nothing leaves the server's RSS within 64 MiB")
        func webSocketFlood() async throws {
            let url = try await TestCluster.shared.makeDatabase()
            let server = try HeraldProcess(["serve", "--port", "0", "--database-url", url, "--log-level", "notice"])
            let port = try await server.listeningPort()
            #expect(try await TestHTTP.becomesReady("http://127.0.0.1:\(port)"))
            let before = try Self.residentMegabytes(server.pid)
            // Messages the session answers (an error each, ~100 bytes) and WebSocket pings the
            // handler answers (a pong echoing 125 bytes): 200,000 answers are far more than the
            // sockets' buffers hold, so the server must stop reading to stay bounded.
            let unknownType = RawWebSocket.maskedFrame(opcode: 0x1, Array(#"{"type":"no-such-type"}"#.utf8))
            let ping = RawWebSocket.maskedFrame(opcode: 0x9, Array(repeating: UInt8(ascii: "p"), count: 125))
            for frame in [unknownType, ping] {
                let socket = try await RawWebSocket.connect(port: port, path: "/v1/ws", receiveBuffer: 4096)
                #expect(socket.status == 101)
                let sent = await Self.flood(socket.descriptor, Array((0..<1000).map { _ in frame }.joined()), times: 200)
                #expect(sent < 200_000 * frame.count, "the server read all 200,000 frames without being read from")
                let after = try Self.residentMegabytes(server.pid)
                #expect(after < 64 || after - before < 64, "RSS grew from \(before) to \(after) MiB")
                socket.close()
            }
            // Still serving.
            #expect(try await TestHTTP.get("http://127.0.0.1:\(port)/healthz").status == 200)
            server.signal(SIGTERM)
            _ = try await server.wait()
        }

        /// Writes `chunk` `times` times, until done or until the socket took nothing for two
        /// seconds (the server stopped reading); returns the bytes written.
        static func flood(_ descriptor: Int32, _ chunk: [UInt8], times: Int) async -> Int {
            await withCheckedContinuation { continuation in
                Thread {
                    var timeout = timeval(tv_sec: 2, tv_usec: 0)
                    setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    var total = 0
                    outer: for _ in 0..<times {
                        var offset = 0
                        while offset < chunk.count {
                            let written = chunk.withUnsafeBytes { send(descriptor, $0.baseAddress! + offset, chunk.count - offset, Int32(MSG_NOSIGNAL)) }
                            guard written > 0 else { break outer }
                            offset += written
                            total += written
                        }
                    }
                    continuation.resume(returning: total)
                }.start()
            }
        }

        /// A process's resident memory, in MiB (from /proc).
        static func residentMegabytes(_ pid: pid_t) throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
            else { throw TestFailure("no VmRSS for \(pid)") }
            return kilobytes / 1024
        }
    }
}

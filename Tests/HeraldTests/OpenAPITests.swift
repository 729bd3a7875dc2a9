import Foundation
import NIOHTTP1
import Testing

@Suite("docs/openapi.yaml matches the server")
struct OpenAPITests {
    /// (path, method) pairs declared in the document, read line by line.
    static func declaredOperations() throws -> [(path: String, method: String)] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        var operations: [(String, String)] = []
        var inPaths = false
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            if inPaths, !line.hasPrefix(" "), !line.isEmpty { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                current = String(line.dropFirst(2).dropLast())
            } else if let current, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let word = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch"].contains(String(word)) {
                    operations.append((current, word.uppercased()))
                }
            }
        }
        return operations
    }

    @Test("every documented operation exists: it is neither 404 for an unknown path nor 405")
    func documentedOperationsExist() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        _ = try await TestHTTP.request(.POST, "\(server.baseURL)/v1/topics/doc/notifications", body: Array("x".utf8))
        let operations = try Self.declaredOperations()
        #expect(operations.count >= 10)
        for (path, method) in operations {
            let concrete = path.replacingOccurrences(of: "{topic}", with: "doc").replacingOccurrences(of: "{seq}", with: "1")
                .replacingOccurrences(of: "{client}", with: "doc-client")
            let query = ["/v1/poll", "/v1/sse", "/v1/ws"].contains(concrete) ? "?topics=doc" : ""
            if concrete == "/v1/sse" {
                let stream = try await SSEClient.open("\(server.baseURL)\(concrete)\(query)")
                #expect(stream.status == 200)
                stream.close()
                continue
            }
            let answer = try await TestHTTP.request(
                HTTPMethod(rawValue: method), "\(server.baseURL)\(concrete)\(query)",
                // One body for every operation that takes one (publish, batch, cursor set): a
                // PUT comes before its path's DELETE in the document, so that one finds a cursor.
                body: ["POST", "PUT"].contains(method) ? Array(#"{"data":1,"seq":0,"notifications":[{"topic":"doc","data":1}]}"#.utf8) : nil,
                headers: [("Content-Type", "application/json")]
            )
            #expect(answer.status != 405, "\(method) \(path)")
            #expect(answer.errorCode != "not_found" || path.contains("{seq}"), "\(method) \(path): \(answer.text)")
            #expect(answer.status < 500, "\(method) \(path): \(answer.text)")
        }
    }
}

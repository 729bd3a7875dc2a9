import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A real HTTP client for tests, with the answers decoded the way a user would read them.
enum TestHTTP {
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Answer: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        var text: String { String(decoding: self.body, as: UTF8.self) }

        /// The body as a JSON object.
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(self.body), options: [.fragmentsAllowed])) as? [String: Any] ?? [:]
        }

        func header(_ name: String) -> String? {
            self.headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The error code of an error answer.
        var errorCode: String? { (self.json["error"] as? [String: Any])?["code"] as? String }
    }

    static func request(
        _ method: HTTPMethod,
        _ url: String,
        body: [UInt8]? = nil,
        headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(90)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: timeout)
        let collected = try await response.body.collect(upTo: 64 << 20)
        return Answer(
            status: Int(response.status.code),
            headers: response.headers.map { ($0.name, $0.value) },
            body: Array(collected.readableBytesView)
        )
    }

    static func get(_ url: String, timeout: TimeAmount = .seconds(90)) async throws -> Answer {
        try await self.request(.GET, url, timeout: timeout)
    }

    /// POSTs `json` as `application/json`.
    static func postJSON(_ url: String, _ json: String, headers: [(String, String)] = []) async throws -> Answer {
        try await self.request(.POST, url, body: Array(json.utf8), headers: [("Content-Type", "application/json")] + headers)
    }

    /// Whether `baseURL/readyz` answers 200 within `limit`, asking every 100 ms: readiness
    /// follows the database and the LISTEN connection, which connect after the port is bound.
    static func becomesReady(_ baseURL: String, within limit: Duration = .seconds(20)) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while try await self.get("\(baseURL)/readyz", timeout: .seconds(5)).status != 200 {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(100))
        }
        return true
    }
}

import AsyncHTTPClient
import Foundation
import HeraldCore
import HeraldServer
@testable import HeraldPostgres
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import Testing

@Suite("TLS with HTTP/2 and HTTP/1.1")
struct TLSTests {
    /// A self-signed certificate for 127.0.0.1, made with openssl.
    static func certificate() throws -> (cert: String, key: String) {
        let folder = TestCluster.makeTemporaryDirectory(prefix: "herald-tls")
        let (cert, key) = (folder + "/cert.pem", folder + "/key.pem")
        let made = try CommandRunner.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ]
        )
        guard made.status == 0 else { throw TestFailure("openssl: \(made.output)") }
        return (cert, key)
    }

    /// The server side of `certificate()`.
    static func serverTLS() throws -> TLSConfiguration {
        let (cert, key) = try Self.certificate()
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        )
    }

    static func start() async throws -> TestServer {
        let tls = try Self.serverTLS()
        return try await TestServer.start { $0.server.tls = tls }
    }

    /// A client that trusts the test's certificate by not checking it, speaking `version`.
    static func client(_ version: HTTPClient.Configuration.HTTPVersion) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = version
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// POSTs `text` to `url` through `client`.
    static func publish(
        _ client: HTTPClient, _ url: String, _ text: String, headers: [(String, String)] = []
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: text))
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await client.execute(request, timeout: .seconds(30))
    }

    @Test("two SSE streams and a publish share one HTTP/2 connection, and both streams receive it")
    func http2() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let client = Self.client(.automatic)
        defer { Task { try? await client.shutdown() } }
        let base = "https://127.0.0.1:\(server.port)"
        let first = try await SSEClient.open("\(base)/v1/sse?topics=h&client=c1", client: client)
        let second = try await SSEClient.open("\(base)/v1/sse?topics=h&client=c2", client: client)
        #expect(first.status == 200 && second.status == 200)
        #expect(first.version.withLock { $0 } == .http2)
        let published = try await Self.publish(client, "\(base)/v1/topics/h/notifications", "over h2")
        #expect(published.status == .created)
        #expect(published.version == .http2)
        for stream in [first, second] {
            let event = try #require(await stream.next())
            #expect(event.json["data"] as? String == "over h2")
            #expect(event.id == "h:1")
        }
        // One TCP connection carried all three.
        #expect(server.instance.connectionCount == 1)
        first.close()
        second.close()
    }

    @Test("HTTP/1.1 over TLS: the fast path publishes and streams; plain HTTP on the TLS port is not served")
    func http1() async throws {
        let server = try await Self.start()
        defer { Task { await server.stop() } }
        let client = Self.client(.http1Only)
        defer { Task { try? await client.shutdown() } }
        let base = "https://127.0.0.1:\(server.port)"
        let stream = try await SSEClient.open("\(base)/v1/sse?topics=h1", client: client)
        #expect(stream.status == 200)
        #expect(stream.version.withLock { $0 } == .http1_1)
        #expect(try await Self.publish(client, "\(base)/v1/topics/h1/notifications", "over 1.1").status == .created)
        #expect(await stream.next()?.json["data"] as? String == "over 1.1")
        stream.close()
        // Plain HTTP on the TLS port is not served.
        let plain = try? await TestHTTP.request(.GET, "http://127.0.0.1:\(server.port)/healthz", timeout: .seconds(5))
        #expect(plain?.status != 200)
    }

    @Test("over HTTP/2, tokens and the router's single publish and SSE answer as on HTTP/1")
    func http2Access() async throws {
        let tls = try Self.serverTLS()
        let server = try await TestServer.start {
            $0.server.tls = tls
            $0.server.authSecret = AuthenticationTests.secret
        }
        defer { Task { await server.stop() } }
        let client = Self.client(.automatic)
        defer { Task { try? await client.shutdown() } }
        let tokens = try await AuthenticationTests.Tokens.make()
        let base = "https://127.0.0.1:\(server.port)"
        for credential in AuthenticationTests.Credential.allCases {
            let answer = try await Self.publish(client, "\(base)/v1/topics/orders.a/notifications", "x", headers: tokens.headers(credential))
            #expect(Int(answer.status.code) == AuthenticationTests.expected(credential, success: 201, namesClient: false), "\(credential)")
            let stream = try await SSEClient.open("\(base)/v1/sse?topics=orders.a&client=alice", headers: tokens.headers(credential), client: client)
            #expect(stream.status == AuthenticationTests.expected(credential, success: 200), "\(credential) SSE")
            stream.close()
        }
    }
}

import Foundation
import HeraldCore
import NIOHTTP1
import Testing

@Suite("The command line: tokens and safe defaults")
struct SecurityCommandLineTests {
    @Test("`herald token` prints a token as its last line, which the server with the same secret accepts for what it names")
    func mintedTokenWorks() async throws {
        let secret = AuthenticationTests.secret
        let minted = try await HeraldProcess.run(
            ["token", "--sub", "alice", "--publish", "orders.*", "--subscribe", "*", "--ttl", "1h"],
            environment: ["HERALD_AUTH_SECRET": secret]
        )
        #expect(minted.status == 0, "\(minted.output)")
        let token = try #require(minted.output.split(separator: "\n").last.map(String.init))
        let url = try await TestCluster.shared.makeDatabase()
        let server = try HeraldProcess(["serve", "--port", "0", "--auth-secret", secret, "--database-url", url])
        let base = "http://127.0.0.1:\(try await server.listeningPort())"
        #expect(try await TestHTTP.becomesReady(base))
        let bearer = [("Authorization", "Bearer \(token)")]
        #expect(try await TestHTTP.request(.POST, "\(base)/v1/topics/orders.eu/notifications", body: [0x31], headers: bearer).status == 201)
        #expect(try await TestHTTP.request(.POST, "\(base)/v1/topics/billing/notifications", body: [0x31], headers: bearer).status == 403)
        #expect(try await TestHTTP.request(.GET, "\(base)/metrics", headers: bearer).status == 403)
        #expect(try await TestHTTP.request(.POST, "\(base)/v1/topics/orders.eu/notifications", body: [0x31]).status == 401)
        // The server's log never holds a token, whatever comes in the query.
        let sse = try await SSEClient.open("\(base)/v1/sse?topics=orders.eu&after=orders.eu:0&access_token=\(token)")
        #expect(sse.status == 200)
        _ = await sse.next()
        sse.close()
        let admin = try await HeraldProcess.run(["token", "--sub", "ops", "--admin", "--auth-secret", secret])
        let adminToken = try #require(admin.output.split(separator: "\n").last.map(String.init))
        #expect(try await TestHTTP.request(.GET, "\(base)/metrics", headers: [("Authorization", "Bearer \(adminToken)")]).status == 200)
        server.signal(SIGTERM)
        #expect(try await server.wait() == 0)
        #expect(!server.text.contains(token))
        #expect(!server.text.contains(secret))
    }

    @Test("`herald token` refuses what it cannot sign: no secret, a bad sub or pattern (64)")
    func tokenUsage() async throws {
        #expect(try await HeraldProcess.run(["token", "--sub", "alice"]).status == 64)
        #expect(try await HeraldProcess.run(["token", "--sub", "not valid", "--auth-secret", "s"]).status == 64)
        #expect(try await HeraldProcess.run(["token", "--sub", "a", "--publish", "a/b", "--auth-secret", "s"]).status == 64)
        #expect(try await HeraldProcess.run(["token", "--sub", "a", "--ttl", "0s", "--auth-secret", "s"]).status == 64)
    }

    @Test("without a secret, serve refuses an address other hosts can reach, naming --auth-secret and --allow-anonymous")
    func safeByDefault() async throws {
        let url = try await TestCluster.shared.makeDatabase()
        let refused = try await HeraldProcess.run(["serve", "--host", "0.0.0.0", "--port", "0", "--database-url", url])
        #expect(refused.status == 64)
        #expect(refused.output.contains("--auth-secret") && refused.output.contains("--allow-anonymous"), "\(refused.output)")
        let fromEnvironment = try await HeraldProcess.run(
            ["serve", "--port", "0", "--database-url", url], environment: ["HERALD_HOST": "0.0.0.0"]
        )
        #expect(fromEnvironment.status == 1)
        #expect(fromEnvironment.output.contains("--allow-anonymous"))
        // On purpose, or with a secret, it serves.
        for arguments in [["--allow-anonymous"], ["--auth-secret", AuthenticationTests.secret]] {
            let server = try HeraldProcess(["serve", "--host", "0.0.0.0", "--port", "0", "--database-url", url] + arguments)
            #expect(try await TestHTTP.becomesReady("http://127.0.0.1:\(try await server.listeningPort())"))
            server.signal(SIGTERM)
            #expect(try await server.wait() == 0)
        }
    }
}

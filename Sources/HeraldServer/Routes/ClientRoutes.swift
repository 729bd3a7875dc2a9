import HeraldCore
import Hummingbird

/// `GET /v1/clients/{client}/cursors`: a client's server-side cursors.
struct ClientRoutes: Sendable {
    let cursors: CursorStore
    let authenticator: Authenticator

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/v1/clients/{client}/cursors", [(.get, self.get)])
    }

    @Sendable func get(_ request: Request, context: HeraldRequestContext) async throws -> Response {
        let principal = try await self.authenticator.principal(request)
        let client = try context.clientParameter()
        try principal.authorizeClient(client)
        let cursors = try await self.cursors.cursors(client: client)
        var bytes: [UInt8] = Array(#"{"client":"#.utf8)
        JSONString.appendQuoted(client, to: &bytes)
        bytes.append(contentsOf: #","cursors":{"#.utf8)
        for (index, (topic, seq)) in cursors.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(topic, to: &bytes)
            bytes.append(contentsOf: ":\(seq)".utf8)
        }
        bytes.append(contentsOf: "}}".utf8)
        return JSONResponse.make(.ok, bytes)
    }
}

import HeraldCore
import Hummingbird

extension Authenticator {
    /// The principal of a request the router serves: its bearer token checked, or
    /// `401 unauthorized`; `queryToken` also takes `access_token` from the query.
    func principal(_ request: Request, queryToken: Bool = false) async throws(HeraldError) -> Principal {
        try await self.authenticate(RequestToken.find(request.headers, query: queryToken ? request.uri : nil))
    }
}

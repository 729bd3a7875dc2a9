import Foundation
import HTTPTypes
import HummingbirdCore

/// Where a request's token is: `Authorization: Bearer <token>`, or, on the two endpoints a
/// browser cannot give headers to (`EventSource`, `WebSocket`), the `access_token` query
/// parameter. The header wins when both are there.
enum RequestToken {
    /// The token of a request; `query` is its URI when `access_token` is allowed there.
    static func find(_ headers: HTTPFields, query uri: URI? = nil) -> String? {
        if let authorization = headers[.authorization] { return self.bearer(authorization) }
        guard let uri else { return nil }
        return uri.queryParameters["access_token"].map(String.init)
    }

    /// The token of an `Authorization` value with the `Bearer` scheme (any case), or an
    /// empty string for another scheme (refused as no token).
    static func bearer(_ authorization: String) -> String {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return "" }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }
}

import HTTPTypes
import Hummingbird

/// `GET /` (the demo page), `/herald.js` and `/herald.mjs` (the browser library, as a
/// classic script and as an ES module): files compiled into the binary (`Static/`), served
/// without a token (they are the same for everyone and reveal nothing), with an `ETag`.
struct StaticRoutes: Sendable {
    /// One file as it is served.
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
        let etag: String
        let extraHeaders: HTTPFields

        init(_ bytes: [UInt8], contentType: String, extraHeaders: HTTPFields = [:]) {
            self.bytes = bytes
            self.contentType = contentType
            self.etag = "\"" + Self.fnv1a(bytes) + "\""
            self.extraHeaders = extraHeaders
        }

        /// FNV-1a, 64 bits, in hexadecimal: enough to tell one build's file from another's.
        private static func fnv1a(_ bytes: [UInt8]) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            return String(hash, radix: 16)
        }
    }

    /// The module: the classic script, then its exports.
    static let moduleFooter = """

        export const Subscription = globalThis.Herald.Subscription;
        export const HeraldError = globalThis.Herald.HeraldError;
        export default globalThis.Herald;

        """

    /// The demo page may run its own inline script and style and talk to this origin; it
    /// loads nothing from elsewhere and cannot be framed.
    static let pagePolicy =
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
        + "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static let page = Asset(
        PackageResources.index_html, contentType: "text/html; charset=utf-8",
        extraHeaders: [.contentSecurityPolicy: Self.pagePolicy, HTTPField.Name("Referrer-Policy")!: "no-referrer"]
    )
    static let script = Asset(PackageResources.herald_js, contentType: "text/javascript; charset=utf-8")
    static let module = Asset(PackageResources.herald_js + Array(Self.moduleFooter.utf8), contentType: "text/javascript; charset=utf-8")

    func add(to router: Router<HeraldRequestContext>) {
        router.route("/", [(.get, { request, _ in Self.serve(Self.page, to: request) })])
        router.route("/herald.js", [(.get, { request, _ in Self.serve(Self.script, to: request) })])
        router.route("/herald.mjs", [(.get, { request, _ in Self.serve(Self.module, to: request) })])
    }

    /// `asset`, or `304 Not Modified` when the request's `If-None-Match` names its `ETag`.
    static func serve(_ asset: Asset, to request: Request) -> Response {
        var headers = asset.extraHeaders
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if let tags = request.headers[.ifNoneMatch],
            tags.split(separator: ",").contains(where: { tag in
                let trimmed = tag.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()
                return String(trimmed) == asset.etag || String(trimmed) == "*"
            })
        {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}

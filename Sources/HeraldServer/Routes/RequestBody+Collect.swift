import Foundation
import HTTPTypes
import HeraldCore
import Hummingbird
import NIOCore

extension Request {
    /// Reads the whole body, refusing more than `limit` bytes with `413 payload_too_large`
    /// (before reading, when `Content-Length` already says so).
    func collectBody(limit: Int) async throws -> ByteBuffer {
        let tooLarge = HeraldError(.payloadTooLarge, "the body is larger than \(limit) bytes")
        if let length = self.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            HeraldMetrics.refused(.payloadSize)
            throw tooLarge
        }
        do {
            return try await self.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            HeraldMetrics.refused(.payloadSize)
            throw tooLarge
        }
    }

    /// A query parameter (Hummingbird has percent-decoded it).
    func query(_ name: String) -> String? {
        self.uri.queryParameters[name[...]].map(String.init)
    }
}

/// What a publish body is, by its `Content-Type`.
enum BodyFormat {
    case json
    case text

    /// JSON for `application/json` (and `+json`); text for `text/plain`,
    /// `application/x-www-form-urlencoded` (what `curl -d` sends) or no type; anything
    /// else is `415 unsupported_media_type`.
    init(contentType: String?) throws(HeraldError) {
        guard let contentType else {
            self = .text
            return
        }
        let mediaType = Self.mediaType(contentType)
        switch mediaType {
        case "application/json": self = .json
        case "text/plain", "application/x-www-form-urlencoded", "": self = .text
        case _ where mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"): self = .json
        default:
            throw HeraldError(
                .unsupportedMediaType,
                "Content-Type must be application/json, text/plain or application/x-www-form-urlencoded, got \(mediaType)"
            )
        }
    }

    /// The media type of a `Content-Type` value, lowercased, without parameters.
    static func mediaType(_ contentType: String) -> String {
        var result = ""
        for character in contentType.utf8 {
            if character == UInt8(ascii: ";") { break }
            if character == UInt8(ascii: " ") || character == UInt8(ascii: "\t") { continue }
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(character) ? character + 32 : character
            result.unicodeScalars.append(Unicode.Scalar(lower))
        }
        return result
    }
}

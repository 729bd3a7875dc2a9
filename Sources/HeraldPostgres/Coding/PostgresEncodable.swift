import struct Foundation.UUID

/// How a parameter travels to the server.
public enum PostgresFormat: Int32, Sendable {
    /// The type's text form, parsed by the server's input function.
    case text = 0
    /// The type's binary send/receive form.
    case binary = 1
}

/// A Swift value that can be sent as a statement parameter.
///
/// Scalars go as text with an unspecified type, so the server infers the type from the
/// statement (`WHERE seq = $1` parses `"42"` as `int8`); arrays and timestamps go in binary
/// with their type named.
public protocol PostgresEncodable: Sendable {
    /// The type named for the parameter (`.unspecified` lets the server infer it).
    static var postgresType: PostgresDataType { get }
    /// The wire format of `encode(into:)`.
    static var postgresFormat: PostgresFormat { get }
    /// Appends the value in `postgresFormat` to `bytes`.
    func encode(into bytes: inout [UInt8])
}

extension PostgresEncodable {
    public static var postgresType: PostgresDataType { .unspecified }
    public static var postgresFormat: PostgresFormat { .text }
}

extension String: PostgresEncodable {
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: self.utf8)
    }
}

extension Substring: PostgresEncodable {
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: self.utf8)
    }
}

extension Int: PostgresEncodable {
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: String(self).utf8)
    }
}

extension Int64: PostgresEncodable {
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: String(self).utf8)
    }
}

extension Int32: PostgresEncodable {
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: String(self).utf8)
    }
}

extension Double: PostgresEncodable {
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: String(self).utf8)
    }
}

extension Bool: PostgresEncodable {
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(self ? UInt8(ascii: "t") : UInt8(ascii: "f"))
    }
}

extension UUID: PostgresEncodable {
    public func encode(into bytes: inout [UInt8]) {
        bytes.append(contentsOf: self.uuidString.utf8)
    }
}

extension PostgresTimestamp: PostgresEncodable {
    public static var postgresType: PostgresDataType { .timestamptz }
    public static var postgresFormat: PostgresFormat { .binary }
    public func encode(into bytes: inout [UInt8]) {
        (self.microsecondsSinceEpoch - Self.postgresEpochOffset).appendBigEndian(to: &bytes)
    }
}

extension FixedWidthInteger {
    /// Appends the integer in network byte order.
    @inlinable
    func appendBigEndian(to bytes: inout [UInt8]) {
        var value = self.bigEndian
        withUnsafeBytes(of: &value) { bytes.append(contentsOf: $0) }
    }
}

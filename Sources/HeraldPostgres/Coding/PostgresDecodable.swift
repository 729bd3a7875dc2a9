import struct Foundation.UUID

/// A Swift value that can be read from a result column in binary format.
public protocol PostgresDecodable {
    /// Decodes a non-NULL value of `type` from its binary form.
    static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self
    /// The value a NULL decodes to, or nil when NULL is an error for this type.
    static var postgresNull: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }

    static func mismatch(_ type: PostgresDataType) -> PostgresError {
        PostgresError(kind: .decoding, message: "cannot decode \(type) as \(Self.self)")
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        try Wrapped.decode(from: bytes, type: type)
    }

    public static var postgresNull: Self? { .some(.none) }
}

extension UnsafeRawBufferPointer {
    /// Reads a big-endian integer at `offset`.
    func readBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int = 0) -> T {
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { destination in
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: self[offset..<offset + MemoryLayout<T>.size]))
        }
        return T(bigEndian: value)
    }
}

extension Int64: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        switch (type, bytes.count) {
        case (.int8, 8): return bytes.readBigEndian(Int64.self)
        case (.int4, 4): return Int64(bytes.readBigEndian(Int32.self))
        case (.int2, 2): return Int64(bytes.readBigEndian(Int16.self))
        case (.oid, 4): return Int64(bytes.readBigEndian(UInt32.self))
        default: throw Self.mismatch(type)
        }
    }
}

extension Int: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        Int(try Int64.decode(from: bytes, type: type))
    }
}

extension Int32: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        guard let value = Int32(exactly: try Int64.decode(from: bytes, type: type)) else { throw Self.mismatch(type) }
        return value
    }
}

extension Double: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        switch (type, bytes.count) {
        case (.float8, 8): return Double(bitPattern: bytes.readBigEndian(UInt64.self))
        case (.float4, 4): return Double(Float(bitPattern: bytes.readBigEndian(UInt32.self)))
        default: return Double(try Int64.decode(from: bytes, type: type))
        }
    }
}

extension Bool: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        guard type == .bool, bytes.count == 1 else { throw Self.mismatch(type) }
        return bytes[0] != 0
    }
}

extension String: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        if type.isTextual {
            return String(decoding: bytes, as: UTF8.self)
        }
        if type == .jsonb, bytes.count >= 1, bytes[0] == 1 {
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[1...]), as: UTF8.self)
        }
        if type == .uuid {
            return try UUID.decode(from: bytes, type: type).uuidString.lowercased()
        }
        if type == .int8 || type == .int4 || type == .int2 {
            return String(try Int64.decode(from: bytes, type: type))
        }
        if type == .timestamptz {
            return try PostgresTimestamp.decode(from: bytes, type: type).rfc3339
        }
        throw Self.mismatch(type)
    }
}

extension UUID: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        guard type == .uuid, bytes.count == 16 else { throw Self.mismatch(type) }
        var uuid: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { $0.copyMemory(from: bytes) }
        return UUID(uuid: uuid)
    }
}

extension PostgresTimestamp: PostgresDecodable {
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        guard type == .timestamptz || type == .timestamp, bytes.count == 8 else { throw Self.mismatch(type) }
        let sincePostgresEpoch = bytes.readBigEndian(Int64.self)
        // ±infinity are Int64's extremes; keep them there instead of overflowing.
        if sincePostgresEpoch == .max || sincePostgresEpoch == .min {
            return PostgresTimestamp(microsecondsSinceEpoch: sincePostgresEpoch)
        }
        return PostgresTimestamp(microsecondsSinceEpoch: sincePostgresEpoch + Self.postgresEpochOffset)
    }
}

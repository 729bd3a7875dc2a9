import struct Foundation.UUID

/// A value that can be an element of an array parameter (`text[]`, `int8[]`, ...).
///
/// Arrays are sent in binary, which needs no quoting or escaping of their elements: a
/// batch of a thousand notifications is a handful of parameters, whatever they contain.
public protocol PostgresArrayElement: Sendable {
    /// The element's type.
    static var postgresElementType: PostgresDataType { get }
    /// The type of an array of these elements.
    static var postgresArrayType: PostgresDataType { get }
    /// Appends the element's binary form to `bytes`, or returns `false` for NULL.
    func appendBinaryElement(to bytes: inout [UInt8]) -> Bool
}

extension String: PostgresArrayElement {
    public static var postgresElementType: PostgresDataType { .text }
    public static var postgresArrayType: PostgresDataType { .textArray }
    public func appendBinaryElement(to bytes: inout [UInt8]) -> Bool {
        bytes.append(contentsOf: self.utf8)
        return true
    }
}

extension Int64: PostgresArrayElement {
    public static var postgresElementType: PostgresDataType { .int8 }
    public static var postgresArrayType: PostgresDataType { .int8Array }
    public func appendBinaryElement(to bytes: inout [UInt8]) -> Bool {
        self.appendBigEndian(to: &bytes)
        return true
    }
}

extension Int32: PostgresArrayElement {
    public static var postgresElementType: PostgresDataType { .int4 }
    public static var postgresArrayType: PostgresDataType { .int4Array }
    public func appendBinaryElement(to bytes: inout [UInt8]) -> Bool {
        self.appendBigEndian(to: &bytes)
        return true
    }
}

extension Bool: PostgresArrayElement {
    public static var postgresElementType: PostgresDataType { .bool }
    public static var postgresArrayType: PostgresDataType { .boolArray }
    public func appendBinaryElement(to bytes: inout [UInt8]) -> Bool {
        bytes.append(self ? 1 : 0)
        return true
    }
}

extension UUID: PostgresArrayElement {
    public static var postgresElementType: PostgresDataType { .uuid }
    public static var postgresArrayType: PostgresDataType { .uuidArray }
    public func appendBinaryElement(to bytes: inout [UInt8]) -> Bool {
        withUnsafeBytes(of: self.uuid) { bytes.append(contentsOf: $0) }
        return true
    }
}

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    public static var postgresElementType: PostgresDataType { Wrapped.postgresElementType }
    public static var postgresArrayType: PostgresDataType { Wrapped.postgresArrayType }
    public func appendBinaryElement(to bytes: inout [UInt8]) -> Bool {
        switch self {
        case .none:
            return false
        case .some(let wrapped):
            return wrapped.appendBinaryElement(to: &bytes)
        }
    }
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    public static var postgresType: PostgresDataType { Element.postgresArrayType }
    public static var postgresFormat: PostgresFormat { .binary }

    /// Writes PostgreSQL's binary array form: dimensions, a NULL flag, the element type,
    /// the length and lower bound of the one dimension, then each element with its length.
    public func encode(into bytes: inout [UInt8]) {
        let start = bytes.count
        Int32(self.isEmpty ? 0 : 1).appendBigEndian(to: &bytes)
        Int32(0).appendBigEndian(to: &bytes)  // has-null flag, patched below
        Int32(bitPattern: Element.postgresElementType.rawValue).appendBigEndian(to: &bytes)
        guard !self.isEmpty else { return }
        Int32(self.count).appendBigEndian(to: &bytes)
        Int32(1).appendBigEndian(to: &bytes)
        var hasNull = false
        for element in self {
            let lengthAt = bytes.count
            Int32(0).appendBigEndian(to: &bytes)
            if element.appendBinaryElement(to: &bytes) {
                // (An element over 2 GiB makes the whole parameter too large: refused by
                // `PostgresBindings` before anything is sent.)
                let length = Int32(truncatingIfNeeded: bytes.count - lengthAt - 4)
                bytes.withUnsafeMutableBytes { raw in
                    raw.storeBytes(of: length.bigEndian, toByteOffset: lengthAt, as: Int32.self)
                }
            } else {
                hasNull = true
                bytes.withUnsafeMutableBytes { raw in
                    raw.storeBytes(of: Int32(-1).bigEndian, toByteOffset: lengthAt, as: Int32.self)
                }
            }
        }
        if hasNull {
            bytes[start + 7] = 1
        }
    }
}

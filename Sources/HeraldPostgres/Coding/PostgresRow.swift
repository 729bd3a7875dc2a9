/// One row of a `PostgresResult`.
public struct PostgresRow: Sendable {
    /// The result the row belongs to.
    public let result: PostgresResult
    /// The row's index in the result.
    public let index: Int

    /// Decodes the value in `column` as `type`.
    ///
    /// Inlinable, so that a caller's decoding is specialized for its types: a generic call
    /// across modules looked up type metadata for every value (~9 % of a catch-up's CPU).
    @inlinable
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at column: Int) throws -> T {
        try withExtendedLifetime(self.result) {
            let (bytes, dataType) = try self.result.value(row: self.index, column: column)
            guard let bytes else {
                guard let null = T.postgresNull else { throw self.unexpectedNull(at: column, expected: "\(T.self)") }
                return null
            }
            return try T.decode(from: bytes, type: dataType)
        }
    }

    /// The error for a NULL where `expected` cannot be NULL.
    @usableFromInline
    func unexpectedNull(at column: Int, expected: String) -> PostgresError {
        PostgresError(kind: .decoding, message: "column \(self.result.columnName(column)) is NULL, expected \(expected)")
    }

    /// Decodes the value of the column named `name` as `type`.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, named name: String) throws -> T {
        guard let column = self.result.columnIndex(named: name) else {
            throw PostgresError(kind: .decoding, message: "no column named \(name)")
        }
        return try self.decode(type, at: column)
    }

    /// Whether the value in `column` is NULL.
    public func isNull(at column: Int) throws -> Bool {
        try self.result.value(row: self.index, column: column).bytes == nil
    }

    /// Calls `body` with the raw binary bytes of the value in `column` (nil for NULL), for
    /// callers that copy a value straight into an output buffer without a `String` between.
    public func withBytes<T>(at column: Int, _ body: (UnsafeRawBufferPointer?) throws -> T) throws -> T {
        try withExtendedLifetime(self.result) {
            let (bytes, type) = try self.result.value(row: self.index, column: column)
            // jsonb's binary form is a version byte followed by the JSON text.
            if type == .jsonb, let bytes, bytes.count > 0 {
                return try body(UnsafeRawBufferPointer(rebasing: bytes[1...]))
            }
            return try body(bytes)
        }
    }
}

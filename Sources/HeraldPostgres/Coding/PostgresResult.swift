import CLibPQ

/// The rows a statement returned, read straight from libpq's result in binary format.
///
/// `PGresult` is read-only once libpq has made it, and libpq documents that it may be
/// passed between threads and read from any of them. This class owns one, never mutates
/// it and frees it in `deinit`, which is why it is `@unchecked Sendable`.
public final class PostgresResult: @unchecked Sendable, RandomAccessCollection {
    private let handle: OpaquePointer?

    /// Takes ownership of `handle` (which may be nil for a statement without result rows).
    init(handle: OpaquePointer?) {
        self.handle = handle
        self.count = handle.map { Int(PQntuples($0)) } ?? 0
        self.columnCount = handle.map { Int(PQnfields($0)) } ?? 0
    }

    deinit {
        if let handle { PQclear(handle) }
    }

    /// The number of rows.
    public let count: Int
    /// The number of columns.
    public let columnCount: Int

    public var startIndex: Int { 0 }
    public var endIndex: Int { self.count }

    public subscript(position: Int) -> PostgresRow {
        PostgresRow(result: self, index: position)
    }

    /// The number of rows the statement changed (`INSERT`, `UPDATE`, `DELETE`), or 0.
    public var affectedRows: Int {
        guard let handle, let text = PQcmdTuples(handle) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    /// The column's name.
    public func columnName(_ column: Int) -> String {
        guard let handle, let name = PQfname(handle, Int32(column)) else { return "" }
        return String(cString: name)
    }

    /// The column's index for a name, if the result has such a column.
    public func columnIndex(named name: String) -> Int? {
        guard let handle else { return nil }
        let index = Int(PQfnumber(handle, name))
        return index >= 0 ? index : nil
    }

    /// The bytes of one value (nil for NULL) and its column's type. The bytes are libpq's
    /// and stay valid only while this result lives: use them within its lifetime.
    @usableFromInline
    func value(row: Int, column: Int) throws -> (bytes: UnsafeRawBufferPointer?, type: PostgresDataType) {
        guard let handle, row < self.count, column < self.columnCount else {
            throw PostgresError(kind: .decoding, message: "no value at row \(row), column \(column)")
        }
        let type = PostgresDataType(rawValue: PQftype(handle, Int32(column)))
        if PQgetisnull(handle, Int32(row), Int32(column)) != 0 {
            return (nil, type)
        }
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        let pointer = UnsafeRawPointer(PQgetvalue(handle, Int32(row), Int32(column)))
        return (UnsafeRawBufferPointer(start: pointer, count: length), type)
    }
}

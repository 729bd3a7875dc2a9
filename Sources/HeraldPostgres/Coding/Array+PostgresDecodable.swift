extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// Reads PostgreSQL's binary array form (one dimension, or none for an empty array):
    /// dimensions, a NULL flag, the element type, the length and lower bound of each
    /// dimension, then each element with its length (-1 for NULL).
    public static func decode(from bytes: UnsafeRawBufferPointer, type: PostgresDataType) throws -> Self {
        guard bytes.count >= 12 else { throw Self.mismatch(type) }
        let dimensions = bytes.readBigEndian(Int32.self)
        let elementType = PostgresDataType(rawValue: bytes.readBigEndian(UInt32.self, at: 8))
        guard dimensions != 0 else { return [] }
        guard dimensions == 1, bytes.count >= 20 else {
            throw PostgresError(kind: .decoding, message: "only one-dimensional arrays are read, got \(dimensions)")
        }
        let count = Int(bytes.readBigEndian(Int32.self, at: 12))
        var offset = 20
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count {
            guard offset + 4 <= bytes.count else { throw Self.mismatch(type) }
            let length = Int(bytes.readBigEndian(Int32.self, at: offset))
            offset += 4
            if length < 0 {
                guard let null = Element.postgresNull else {
                    throw PostgresError(kind: .decoding, message: "an array element is NULL, expected \(Element.self)")
                }
                elements.append(null)
                continue
            }
            guard offset + length <= bytes.count else { throw Self.mismatch(type) }
            elements.append(try Element.decode(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]), type: elementType))
            offset += length
        }
        return elements
    }
}

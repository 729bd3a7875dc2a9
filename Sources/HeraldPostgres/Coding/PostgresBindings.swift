/// The parameters of one statement, already encoded.
public struct PostgresBindings: Sendable {
    /// The type named for each parameter.
    var types: [UInt32] = []
    /// The wire format of each parameter.
    var formats: [Int32] = []
    /// Where each parameter's bytes start in `storage` and how long they are (-1: NULL).
    var spans: [(offset: Int, length: Int32)] = []
    /// All parameters' bytes, one after the other.
    var storage: [UInt8] = []
    /// Whether a parameter is larger than the protocol allows (2 GiB): the statement is
    /// refused before it is sent rather than trapping here.
    private(set) var isTooLarge = false

    /// Creates empty bindings.
    public init() {}

    /// The number of parameters.
    public var count: Int { self.types.count }

    /// Appends a parameter.
    public mutating func append<Value: PostgresEncodable>(_ value: Value) {
        self.types.append(Value.postgresType.rawValue)
        self.formats.append(Value.postgresFormat.rawValue)
        let offset = self.storage.count
        value.encode(into: &self.storage)
        let length = self.storage.count - offset
        if length > Int32.max { self.isTooLarge = true }
        self.spans.append((offset, Int32(truncatingIfNeeded: length)))
        // libpq reads text-format parameters up to a NUL and ignores their length.
        if Value.postgresFormat == .text { self.storage.append(0) }
    }

    /// Appends a parameter that may be NULL.
    public mutating func append<Value: PostgresEncodable>(_ value: Value?) {
        guard let value else {
            self.types.append(Value.postgresType.rawValue)
            self.formats.append(Value.postgresFormat.rawValue)
            self.spans.append((self.storage.count, -1))
            return
        }
        self.append(value)
    }

    /// Calls `body` with the C arrays libpq takes: values, lengths and formats.
    func withLibPQArrays<Result>(
        _ body: (
            _ values: UnsafePointer<UnsafePointer<CChar>?>?,
            _ lengths: UnsafePointer<Int32>?,
            _ formats: UnsafePointer<Int32>?
        ) throws -> Result
    ) rethrows -> Result {
        // One extra byte so that an empty value still has an address.
        var storage = self.storage
        storage.append(0)
        return try storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            let values: [UnsafePointer<CChar>?] = self.spans.map { $0.length < 0 ? nil : base + $0.offset }
            let lengths = self.spans.map { max($0.length, 0) }
            return try values.withUnsafeBufferPointer { values in
                try lengths.withUnsafeBufferPointer { lengths in
                    try self.formats.withUnsafeBufferPointer { formats in
                        try body(values.baseAddress, lengths.baseAddress, formats.baseAddress)
                    }
                }
            }
        }
    }
}

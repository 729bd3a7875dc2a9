/// A PostgreSQL type, by its OID.
///
/// Only the types Herald reads and writes are named; any other OID can still be carried.
public struct PostgresDataType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The type's OID (`pg_type.oid`).
    public var rawValue: UInt32

    /// Creates a type from its OID.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// Let the server infer the type from the statement.
    public static let unspecified = Self(rawValue: 0)
    /// `bool`
    public static let bool = Self(rawValue: 16)
    /// `bytea`
    public static let bytea = Self(rawValue: 17)
    /// `name`
    public static let name = Self(rawValue: 19)
    /// `int8`
    public static let int8 = Self(rawValue: 20)
    /// `int2`
    public static let int2 = Self(rawValue: 21)
    /// `int4`
    public static let int4 = Self(rawValue: 23)
    /// `text`
    public static let text = Self(rawValue: 25)
    /// `oid`
    public static let oid = Self(rawValue: 26)
    /// `json`
    public static let json = Self(rawValue: 114)
    /// `float4`
    public static let float4 = Self(rawValue: 700)
    /// `float8`
    public static let float8 = Self(rawValue: 701)
    /// `bpchar`
    public static let bpchar = Self(rawValue: 1042)
    /// `varchar`
    public static let varchar = Self(rawValue: 1043)
    /// `timestamp`
    public static let timestamp = Self(rawValue: 1114)
    /// `timestamptz`
    public static let timestamptz = Self(rawValue: 1184)
    /// `uuid`
    public static let uuid = Self(rawValue: 2950)
    /// `jsonb`
    public static let jsonb = Self(rawValue: 3802)
    /// `void`, what `pg_notify` returns
    public static let void = Self(rawValue: 2278)
    /// `bool[]`
    public static let boolArray = Self(rawValue: 1000)
    /// `int4[]`
    public static let int4Array = Self(rawValue: 1007)
    /// `int8[]`
    public static let int8Array = Self(rawValue: 1016)
    /// `text[]`
    public static let textArray = Self(rawValue: 1009)
    /// `uuid[]`
    public static let uuidArray = Self(rawValue: 2951)
    /// `jsonb[]`
    public static let jsonbArray = Self(rawValue: 3807)

    /// Whether values of this type are text on the wire even in binary format.
    var isTextual: Bool {
        switch self {
        case .text, .varchar, .bpchar, .name, .json:
            return true
        default:
            return false
        }
    }

    public var description: String {
        switch self {
        case .bool: "bool"
        case .int2: "int2"
        case .int4: "int4"
        case .int8: "int8"
        case .text: "text"
        case .varchar: "varchar"
        case .jsonb: "jsonb"
        case .json: "json"
        case .timestamptz: "timestamptz"
        case .timestamp: "timestamp"
        case .uuid: "uuid"
        default: "oid \(self.rawValue)"
        }
    }
}

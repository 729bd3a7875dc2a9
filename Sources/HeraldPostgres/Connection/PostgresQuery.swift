/// A statement with its parameters, numbered `$1`, `$2`, ... in the SQL.
///
/// Values only ever travel as parameters; SQL text is never built from input.
public struct PostgresQuery: Sendable, ExpressibleByStringLiteral {
    /// The statement's SQL with `$n` placeholders.
    public var sql: String
    /// The statement's parameters.
    public var bindings: PostgresBindings

    /// Creates a statement with parameters bound in order.
    public init(_ sql: String, _ values: (any PostgresEncodable)?...) {
        self.sql = sql
        self.bindings = PostgresBindings()
        for value in values {
            if let value {
                self.bindings.append(value)
            } else {
                self.bindings.append(String?.none)
            }
        }
    }

    /// Creates a statement from SQL and already encoded bindings.
    public init(sql: String, bindings: PostgresBindings) {
        self.sql = sql
        self.bindings = bindings
    }

    /// Creates a statement without parameters.
    public init(stringLiteral value: String) {
        self.init(sql: value, bindings: PostgresBindings())
    }
}

extension PostgresQuery {
    /// Whether the server is read-only now: a standby (in recovery), or a primary fenced
    /// with `default_transaction_read_only`. One row, one `bool`. A LISTEN there hears
    /// nothing while publishing goes on elsewhere, and a write there fails with `25006`.
    public static let serverIsReadOnly = PostgresQuery(
        sql: "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool",
        bindings: PostgresBindings()
    )
}

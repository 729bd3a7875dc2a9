import HeraldCore

/// The subscribe transports a server offers (`--transports`): deployments whose proxies
/// break one turn it off, and its paths answer `404 not_found`.
public struct Transports: OptionSet, Sendable, Hashable {
    /// The set's bits.
    public let rawValue: Int

    /// Creates a set from its bits.
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `GET /v1/ws` upgraded to a WebSocket.
    public static let websocket = Transports(rawValue: 1)
    /// `GET /v1/sse`.
    public static let sse = Transports(rawValue: 2)
    /// `GET /v1/poll` with `wait` > 0.
    public static let longpoll = Transports(rawValue: 4)
    /// `GET /v1/poll` without `wait` (or `wait=0`).
    public static let poll = Transports(rawValue: 8)
    /// Every transport (the default).
    public static let all: Transports = [.websocket, .sse, .longpoll, .poll]

    /// The names, in the order of the option's default value.
    public static let names: [(String, Transports)] = [("websocket", .websocket), ("sse", .sse), ("longpoll", .longpoll), ("poll", .poll)]

    /// Reads `websocket,sse,longpoll,poll` (any of them, at least one); nil for an unknown name or none.
    public init?(list: String) {
        var transports: Transports = []
        for name in list.split(separator: ",").map({ $0.filter { $0 != " " }.lowercased() }) where !name.isEmpty {
            guard let transport = Self.names.first(where: { $0.0 == name })?.1 else { return nil }
            transports.insert(transport)
        }
        guard !transports.isEmpty else { return nil }
        self = transports
    }

    /// The answer to a request for a transport this server does not offer.
    static func disabled(_ name: String) -> HeraldError {
        HeraldError(.notFound, "\(name) is turned off on this server (--transports)")
    }

    /// Throws `not_found` unless `transport` is offered.
    func require(_ transport: Transports, _ name: String) throws(HeraldError) {
        guard self.contains(transport) else { throw Self.disabled(name) }
    }
}

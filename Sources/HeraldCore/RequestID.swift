/// Ids that tie an error answer to the server's log line about it.
public enum RequestID {
    /// A new random id: 16 lowercase hexadecimal digits.
    public static func make() -> String {
        let value = UInt64.random(in: .min ... .max)
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The id a request brings (a proxy's `X-Request-Id`) when it is 1 to 64 letters,
    /// digits, `.`, `_` or `-`; else a new one.
    public static func accepting(_ given: String?) -> String {
        if let given, (1...64).contains(given.utf8.count), given.utf8.allSatisfy(NameRules.isTopicCharacter) { return given }
        return self.make()
    }
}

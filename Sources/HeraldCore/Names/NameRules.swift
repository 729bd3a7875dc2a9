/// The shapes of names in Herald's wire contract.
public enum NameRules {
    /// Topic: `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`.
    public static func isValidTopic(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        guard let first = utf8.first, utf8.count <= 128, isAlphanumeric(first) else { return false }
        return utf8.allSatisfy(isTopicCharacter)
    }

    /// Whether `byte` may appear in a topic (after its first character).
    @inline(__always)
    static func isTopicCharacter(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    /// Event: `^[A-Za-z0-9._:-]{1,64}$`.
    public static func isValidEvent(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= 64 else { return false }
        return utf8.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":")
                || $0 == UInt8(ascii: "-")
        }
    }

    /// Client id: `^[A-Za-z0-9._@:-]{1,128}$`.
    public static func isValidClientID(_ name: some StringProtocol) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        return utf8.allSatisfy {
            isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "@")
                || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "-")
        }
    }

    /// Idempotency key: 1 to 128 visible ASCII characters (`!` to `~`).
    public static func isValidIdempotencyKey(_ key: some StringProtocol) -> Bool {
        let utf8 = key.utf8
        guard !utf8.isEmpty, utf8.count <= 128 else { return false }
        return utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    /// The pattern text used in error messages.
    public static let topicPattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
    /// The pattern text used in error messages.
    public static let eventPattern = "^[A-Za-z0-9._:-]{1,64}$"
    /// The pattern text used in error messages.
    public static let clientPattern = "^[A-Za-z0-9._@:-]{1,128}$"

    @inline(__always)
    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }
}

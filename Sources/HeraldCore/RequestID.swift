/// Ids that tie an error answer to the server's log line about it.
public enum RequestID {
    /// A new random id: 16 lowercase hexadecimal digits.
    public static func make() -> String {
        let value = UInt64.random(in: .min ... .max)
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

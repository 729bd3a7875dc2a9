/// A topic pattern of a token's `publish` or `subscribe` claim: a topic name in which `*`
/// matches any run of characters, none included (`orders.*`, `*`, `eu-*-alerts`).
public struct TopicPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written.
    public let text: String
    private let bytes: [UInt8]

    /// The most characters a pattern may have.
    public static let maximumLength = 256

    /// Creates a pattern, or nil when `text` is empty, too long, or holds a character no
    /// topic has (topics: `NameRules.topicPattern`).
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maximumLength,
            bytes.allSatisfy({ $0 == UInt8(ascii: "*") || NameRules.isTopicCharacter($0) })
        else { return nil }
        self.text = text
        self.bytes = bytes
    }

    /// The pattern as written.
    public var description: String { self.text }

    /// Whether `topic` matches: the characters other than `*` are taken literally.
    public func matches(_ topic: String) -> Bool {
        var topic = topic
        return topic.withUTF8 { Self.match(self.bytes[...], $0[...]) }
    }

    /// Glob matching with `*` only, in linear time for one star and at worst
    /// O(pattern × topic) (both are short): on a mismatch, the last star takes one more
    /// character.
    private static func match(_ pattern: ArraySlice<UInt8>, _ text: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        var p = pattern.startIndex
        var t = text.startIndex
        var star: (pattern: Int, text: Int)? = nil
        while t < text.endIndex {
            if p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") {
                star = (p, t)
                p += 1
            } else if p < pattern.endIndex, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let last = star {
                p = last.pattern + 1
                t = last.text + 1
                star = (last.pattern, last.text + 1)
            } else {
                return false
            }
        }
        while p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.endIndex
    }
}

import Foundation

extension StringProtocol {
    /// A path segment as its sender meant it: percent-decoded when it holds a `%` (a topic
    /// or client id with `@` or `:` arrives encoded from most URL encoders), else as it is;
    /// one that does not decode stays as it came, for the name check to refuse.
    var pathSegmentDecoded: String {
        let text = String(self)
        return text.contains("%") ? text.removingPercentEncoding ?? text : text
    }
}

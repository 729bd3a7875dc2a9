import Foundation
import HeraldPostgres
import Synchronization

/// The `Date` header value, formatted at most once a second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))

    static var now: String {
        let seconds = Int(Date().timeIntervalSince1970)
        return self.cache.withLock { cache in
            if cache.second != seconds {
                cache = (seconds, self.format(seconds))
            }
            return cache.text
        }
    }

    private static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// RFC 9110's IMF-fixdate, e.g. `Wed, 25 Nov 2026 18:06:01 GMT`.
    static func format(_ seconds: Int) -> String {
        let days = seconds / 86400
        let secondOfDay = seconds - days * 86400
        let date = CivilDate(daysSinceEpoch: Int64(days))
        func two(_ value: some BinaryInteger) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(self.days[days % 7]), \(two(date.day)) \(self.months[Int(date.month) - 1]) \(date.year) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) GMT"
    }
}

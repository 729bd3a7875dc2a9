import Foundation
import HeraldPostgres

/// Durations on the command line: `90` or `90s`, `250ms`, `15m`, `24h`, `7d`, `2w`.
enum DurationParser {
    /// The duration `text` names, or nil when it names none or one too long to represent
    /// (over a hundred years: no setting of Herald's wants that, and the arithmetic would
    /// overflow soon after).
    static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        var number = Substring(trimmed)
        var millisecondsPerUnit = 1000.0
        for (suffix, milliseconds) in Self.units where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count)
            millisecondsPerUnit = milliseconds
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0 else { return nil }
        let milliseconds = value * millisecondsPerUnit
        guard milliseconds <= Self.longest else { return nil }
        return .milliseconds(Int64(milliseconds))
    }

    /// `duration` the way a user writes it (`250ms`, `15s`, `7d`).
    static func format(_ duration: Duration) -> String {
        let milliseconds = duration.wholeMilliseconds
        for (suffix, unit) in Self.units.reversed() where suffix != "ms" {
            if milliseconds % Int64(unit) == 0, milliseconds >= Int64(unit) { return "\(milliseconds / Int64(unit))\(suffix)" }
        }
        return "\(milliseconds)ms"
    }

    /// Milliseconds per unit; `ms` first, so that `s` is not taken for its last letter.
    private static let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)]

    /// A hundred years, in milliseconds.
    private static let longest = 100 * 365.25 * 86_400_000.0
}

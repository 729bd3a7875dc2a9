import Foundation

/// Durations on the command line: `90` or `90s`, `15m`, `24h`, `7d`.
enum DurationParser {
    static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Int64)] = [("ms", 0), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800)]
        for (suffix, seconds) in units where trimmed.hasSuffix(suffix) {
            guard let value = Double(trimmed.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
            if suffix == "ms" { return .milliseconds(Int64(value)) }
            return .milliseconds(Int64(value * Double(seconds) * 1000))
        }
        guard let value = Double(trimmed), value >= 0, value.isFinite else { return nil }
        return .milliseconds(Int64(value * 1000))
    }
}

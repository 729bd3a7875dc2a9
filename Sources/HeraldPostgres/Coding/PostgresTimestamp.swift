/// A point in time with PostgreSQL's precision: microseconds since the Unix epoch, UTC.
///
/// `timestamptz` values decode into this type without loss; `rfc3339` formats it the way
/// Herald's wire contract writes times (`2026-11-24T10:00:00.123Z`).
public struct PostgresTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since 1970-01-01 00:00:00 UTC.
    public var microsecondsSinceEpoch: Int64

    /// Creates a timestamp from microseconds since the Unix epoch.
    public init(microsecondsSinceEpoch: Int64) {
        self.microsecondsSinceEpoch = microsecondsSinceEpoch
    }

    /// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
    static let postgresEpochOffset: Int64 = 946_684_800_000_000

    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.microsecondsSinceEpoch < rhs.microsecondsSinceEpoch
    }

    /// RFC 3339 in UTC with milliseconds, e.g. `2026-11-24T10:00:00.123Z`.
    public var rfc3339: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        self.appendRFC3339(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the RFC 3339 form (see `rfc3339`) as UTF-8 to `bytes`.
    public func appendRFC3339(to bytes: inout [UInt8]) {
        let micros = self.microsecondsSinceEpoch
        let millisTotal = micros >= 0 ? micros / 1000 : (micros - 999) / 1000
        let days = millisTotal >= 0 ? millisTotal / 86_400_000 : (millisTotal - 86_399_999) / 86_400_000
        let millisOfDay = millisTotal - days * 86_400_000
        let date = CivilDate(daysSinceEpoch: days)

        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                bytes.append(UInt8(truncatingIfNeeded: 48 + (rest / divisor) % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(date.year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(date.month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(date.day, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(millisOfDay / 3_600_000, 2)
        bytes.append(UInt8(ascii: ":"))
        digits((millisOfDay / 60_000) % 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits((millisOfDay / 1000) % 60, 2)
        bytes.append(UInt8(ascii: "."))
        digits(millisOfDay % 1000, 3)
        bytes.append(UInt8(ascii: "Z"))
    }

    public var description: String { self.rfc3339 }
}

import struct Foundation.Date

extension PostgresTimestamp {
    /// The current time.
    public static var now: PostgresTimestamp {
        PostgresTimestamp(microsecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1_000_000))
    }
}

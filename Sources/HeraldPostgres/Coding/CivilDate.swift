/// A date in the proleptic Gregorian calendar, from a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`); used to format timestamps without Foundation's
/// formatters on hot paths.
public struct CivilDate: Sendable, Equatable {
    /// The year.
    public var year: Int64
    /// The month, 1 to 12.
    public var month: Int64
    /// The day of the month, 1 to 31.
    public var day: Int64

    /// The date `days` days after 1970-01-01 (before it when negative).
    public init(daysSinceEpoch days: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        self.day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        self.month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        self.year = yearOfEra + era * 400 + (self.month <= 2 ? 1 : 0)
    }
}

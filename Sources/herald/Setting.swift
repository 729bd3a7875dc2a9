import ArgumentParser

/// An option of `serve` with the range it must lie in, checked the same way whether it
/// comes from the command line (a usage error, exit status 64) or from its `HERALD_`
/// variable (an error naming the variable, exit status 1). No value in range can trap the
/// process: sizes, counts and durations that would overflow are refused here.
struct Setting<Value: Comparable & Sendable>: Sendable {
    /// The option's long name, without dashes (`max-payload`).
    let option: String
    /// The values allowed.
    let range: ClosedRange<Value>
    /// The value when the option is given nowhere.
    let fallback: Value
    /// Reads a value from text (the environment's, or a duration's).
    let parse: @Sendable (String) -> Value?
    /// Writes a value the way a user writes it.
    let format: @Sendable (Value) -> String

    /// What a valid value looks like.
    var expectation: String { "--\(self.option) must be from \(self.format(self.range.lowerBound)) to \(self.format(self.range.upperBound))" }

    /// Checks a value from the command line.
    func validate(_ value: Value?) throws {
        if let value, !self.range.contains(value) { throw ValidationError(self.expectation) }
    }

    /// Checks text from the command line (a duration's).
    func validate(text: String?) throws {
        guard let text else { return }
        guard let value = self.parse(text), self.range.contains(value) else { throw ValidationError(self.expectation) }
    }

    /// The command line's value (already checked by `validate`), else the environment's,
    /// else the fallback.
    func resolve(_ given: Value?) throws -> Value {
        if let given { return given }
        guard let text = Environment.value(self.option) else { return self.fallback }
        guard let value = self.parse(text), self.range.contains(value) else {
            throw ConfigurationError(message: "\(Environment.name(for: self.option))=\(text) is not valid: \(self.expectation)")
        }
        return value
    }

    /// The command line's text (a duration, checked by `validate`), else the environment's,
    /// else the fallback.
    func resolve(text: String?) throws -> Value {
        try self.resolve(text.flatMap(self.parse))
    }
}

extension Setting where Value == Int {
    /// A whole number in `range`.
    static func integer(_ option: String, _ range: ClosedRange<Int>, default fallback: Int) -> Setting {
        Setting(option: option, range: range, fallback: fallback, parse: { Int($0) }, format: { String($0) })
    }
}

extension Setting where Value == Duration {
    /// A duration (`90s`, `15m`, `24h`, `7d`, `250ms`) in `range`.
    static func duration(_ option: String, _ range: ClosedRange<Duration>, default fallback: Duration) -> Setting {
        Setting(option: option, range: range, fallback: fallback, parse: DurationParser.parse, format: DurationParser.format)
    }
}

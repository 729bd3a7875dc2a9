import Foundation

/// Options that fall back to `HERALD_*` environment variables.
enum Environment {
    /// The variable for an option: `database-url` → `HERALD_DATABASE_URL`.
    static func name(for option: String) -> String {
        "HERALD_" + option.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The environment's value for `option`, if set and not empty.
    static func value(_ option: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[self.name(for: option)], !value.isEmpty else { return nil }
        return value
    }

    /// The option's value from the command line, else the environment, else `fallback`.
    static func resolve<T>(_ given: T?, _ option: String, _ fallback: T, parse: (String) -> T?) throws -> T {
        if let given { return given }
        guard let text = self.value(option) else { return fallback }
        guard let value = parse(text) else {
            throw ConfigurationError(message: "\(self.name(for: option))=\(text) is not a valid value for --\(option)")
        }
        return value
    }

    /// A flag from the command line or the environment (`1`, `true`, `yes`).
    static func flag(_ given: Bool, _ option: String) -> Bool {
        given || ["1", "true", "yes", "on"].contains(self.value(option)?.lowercased() ?? "")
    }
}

/// A setting that cannot be used.
struct ConfigurationError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}

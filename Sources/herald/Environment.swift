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

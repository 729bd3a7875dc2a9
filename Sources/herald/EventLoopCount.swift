import Foundation
import NIOCore

/// `serve --event-loops`: how many NIO event-loop threads Herald runs (they also run its
/// tasks, see `HeraldMain`).
///
/// NIO's singleton group takes its size when it is first used, which is before the
/// command line is parsed, so the value is read from the raw arguments (or
/// `HERALD_EVENT_LOOPS`) at the very start; `Serve` declares and checks the option.
enum EventLoopCount {
    /// The count asked for on the command line or in the environment, if any.
    static func requested(arguments: [String] = CommandLine.arguments) -> Int? {
        var text: String?
        for (index, argument) in arguments.enumerated() {
            if argument == "--event-loops", index + 1 < arguments.count {
                text = arguments[index + 1]
            } else if argument.hasPrefix("--event-loops=") {
                text = String(argument.dropFirst("--event-loops=".count))
            }
        }
        // Out of range: ignored here, refused by `Serve` once the command line is parsed.
        guard let count = Int(text ?? Environment.value("event-loops") ?? ""), ServeSettings.eventLoops.range.contains(count)
        else { return nil }
        return count
    }

    /// Sizes NIO's singleton group, before anything uses it.
    static func apply() {
        if let count = self.requested() { NIOSingletons.groupLoopCountSuggestion = count }
    }
}

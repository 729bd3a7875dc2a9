import NIOCore

/// Direct sinks grouped by the event loop they write on, so the hub hops to each loop
/// once for all its sinks.
struct SinksByLoop {
    /// The sinks of each loop, in the order they were added.
    var sinks: [ObjectIdentifier: (loop: any EventLoop, sinks: [any LiveSink])] = [:]

    /// Adds `sink` to its loop's group; a sink that may write from any thread is given to
    /// `now` at once instead.
    mutating func add(_ sink: any LiveSink, otherwise now: (any LiveSink) -> Void) {
        guard let loop = sink.eventLoop else {
            now(sink)
            return
        }
        self.sinks[ObjectIdentifier(loop), default: (loop, [])].sinks.append(sink)
    }
}

import Testing

/// Tests that measure time or load the machine, run one at a time after the rest
/// (`make test` runs `--skip IsolatedTests`, then `--filter IsolatedTests`): a bound like
/// "each publish answers within 2 s" says something only on a machine not also running a
/// hundred other tests, and a client flooding the server must not slow the others' clocks.
@Suite("Isolated: timed and heavy tests, one at a time", .serialized)
enum IsolatedTests {}

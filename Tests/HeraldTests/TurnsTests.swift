@testable import HeraldCore
import Testing

/// `Turns`: a semaphore for tasks, plain (catch-up reads) or in rounds with a pause
/// between them (catch-up pages, so that the event loops read their sockets meanwhile).
@Suite("Turns")
struct TurnsTests {
    /// A task that takes a turn, noting when it has it.
    private static func waiter(_ turns: Turns, got: LockedValue<Bool>) -> Task<Turn, Never> {
        Task {
            let turn = await turns.take()
            got.withLock { $0 = true }
            return turn
        }
    }

    /// Whether the waiter still has no turn a while later.
    private static func stillWaiting(_ got: LockedValue<Bool>) async -> Bool {
        try? await Task.sleep(for: .milliseconds(100))
        return !got.withLock { $0 }
    }

    @Test("without a pause, an ended turn passes straight to the one waiting; a token let go ends its turn")
    func plain() async {
        let turns = Turns(maximum: 1)
        let first = await turns.take()
        #expect(turns.taken == 1 && turns.available == 0)
        let got = LockedValue(false)
        let waiting = Self.waiter(turns, got: got)
        #expect(await Self.stillWaiting(got))
        first.end()
        first.end()  // a second end gives nothing back
        let second = await waiting.value
        #expect(turns.taken == 1 && turns.available == 0)
        second.end()
        #expect(turns.taken == 0 && turns.available == 1)
        // A holder that never ends its turn, only lets the token go.
        await Task { _ = await turns.take() }.value
        #expect(turns.taken == 0 && turns.available == 1)
    }

    @Test("with a pause, the next round starts only once every turn of the round has ended")
    func rounds() async {
        let turns = Turns(maximum: 2, pause: .milliseconds(5))
        let a = await turns.take()
        let b = await turns.take()
        let got = LockedValue(false)
        let waiting = Self.waiter(turns, got: got)
        a.end()
        // One turn of the round is back, but the round is not over: it is not passed on.
        #expect(await Self.stillWaiting(got))
        #expect(turns.taken == 1 && turns.available == 0)
        b.end()
        let c = await waiting.value
        // The new round has a second turn, at once.
        let d = await turns.take()
        #expect(turns.taken == 2 && turns.available == 0)
        c.end()
        d.end()
        #expect(turns.taken == 0)
    }
}

@testable import HeraldCore
@testable import HeraldPostgres
@testable import HeraldServer
import Testing

@Suite("State machines")
struct StateMachineTests {
    @Test("the pool creates up to its maximum, then queues waiters and hands released slots over in order")
    func pool() {
        var machine = PoolStateMachine<String>(maximum: 2)
        guard case .create(0) = machine.lease("a"), case .create(1) = machine.lease("b") else {
            Issue.record("expected two new slots")
            return
        }
        guard case .wait = machine.lease("c"), case .wait = machine.lease("d") else {
            Issue.record("expected waiting")
            return
        }
        #expect(machine.waiting == 2)
        guard case .handOver(1, "c") = machine.release(1), case .handOver(0, "d") = machine.release(0) else {
            Issue.record("expected hand-over in arrival order")
            return
        }
        guard case .none = machine.release(0), case .use(0) = machine.lease("e") else {
            Issue.record("expected the idle slot to be reused")
            return
        }
        let (waiters, idle) = machine.shutdown()
        #expect(waiters.isEmpty && idle.isEmpty)
        guard case .shutdown = machine.lease("f"), case .close(0) = machine.release(0) else {
            Issue.record("expected shutdown")
            return
        }
    }

    @Test("group commit takes whole requests up to the item limit and parks idle committers")
    func groupCommit() {
        var machine = GroupCommitStateMachine<String, Int>()
        guard case .parked = machine.park(1) else {
            Issue.record("an idle committer parks")
            return
        }
        guard case .wake(1) = machine.submit("r1", items: 3) else {
            Issue.record("a request wakes a parked committer")
            return
        }
        guard case .none = machine.submit("r2", items: 3), case .none = machine.submit("r3", items: 10) else {
            Issue.record("no committer to wake")
            return
        }
        #expect(machine.nextBatch(maximumItems: 8) == ["r1", "r2"])
        #expect(machine.nextBatch(maximumItems: 8) == ["r3"])  // larger than the limit: alone
        #expect(machine.nextBatch(maximumItems: 8).isEmpty)
        _ = machine.submit("r4", items: 1)
        #expect(machine.shutdown().isEmpty)
        guard case .reject = machine.submit("r5", items: 1), case .work = machine.park(2) else {
            Issue.record("queued work is still taken after shutdown")
            return
        }
        #expect(machine.nextBatch(maximumItems: 8) == ["r4"])
        guard case .stop = machine.park(2) else {
            Issue.record("committers stop once the queue is empty")
            return
        }
    }

    @Test("the listener reconnects at once after a loss, then backs off exponentially up to the maximum")
    func listener() {
        var machine = ListenerStateMachine(initialDelay: 100, maximumDelay: 1000)
        #expect(machine.failed() == .wait(milliseconds: 100))
        #expect(machine.backoffElapsed() == .connect)
        #expect(machine.failed() == .wait(milliseconds: 200))
        _ = machine.backoffElapsed()
        #expect(machine.failed() == .wait(milliseconds: 400))
        _ = machine.backoffElapsed()
        _ = machine.failed()
        _ = machine.backoffElapsed()
        #expect(machine.failed() == .wait(milliseconds: 1000))
        machine.connected()
        #expect(machine.isListening)
        #expect(machine.failed() == .connect)
        #expect(machine.failed() == .wait(milliseconds: 200))
        #expect(machine.stop() == .stop)
        #expect(machine.backoffElapsed() == .stop)
    }

    @Test("timestamps format as RFC 3339 UTC with milliseconds")
    func timestamps() {
        #expect(PostgresTimestamp(microsecondsSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
        #expect(PostgresTimestamp(microsecondsSinceEpoch: 951_782_400_999_999).rfc3339 == "2000-02-29T00:00:00.999Z")
        #expect(PostgresTimestamp(microsecondsSinceEpoch: 4_102_444_799_000_000).rfc3339 == "2099-12-31T23:59:59.000Z")
        #expect(PostgresTimestamp(microsecondsSinceEpoch: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
    }

    @Test("the HTTP Date header is RFC 9110's IMF-fixdate, from the same calendar arithmetic")
    func httpDates() {
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDate.format(1_795_629_961) == "Wed, 25 Nov 2026 18:06:01 GMT")
        let dayBefore = CivilDate(daysSinceEpoch: -1)
        #expect([dayBefore.year, dayBefore.month, dayBefore.day] == [1969, 12, 31])
    }
}

@testable import HeraldCore
@testable import HeraldPostgres
@testable import HeraldServer
import NIOCore
import Testing

@Suite("State machines")
struct StateMachineTests {
    @Test("the pool creates up to its maximum, then queues waiters and hands released slots over in order")
    func pool() {
        var machine = PoolStateMachine<String>(maximum: 2)
        guard case .create(0) = machine.lease("a", deadline: .now), case .create(1) = machine.lease("b", deadline: .now) else {
            Issue.record("expected two new slots")
            return
        }
        guard case .wait = machine.lease("c", deadline: .now), case .wait = machine.lease("d", deadline: .now) else {
            Issue.record("expected waiting")
            return
        }
        #expect(machine.waiting == 2)
        guard case .handOver(1, "c") = machine.release(1), case .handOver(0, "d") = machine.release(0) else {
            Issue.record("expected hand-over in arrival order")
            return
        }
        guard case .none = machine.release(0), case .use(0) = machine.lease("e", deadline: .now) else {
            Issue.record("expected the idle slot to be reused")
            return
        }
        let (waiters, idle) = machine.shutdown()
        #expect(waiters.isEmpty && idle.isEmpty)
        guard case .shutdown = machine.lease("f", deadline: .now), case .close(0) = machine.release(0) else {
            Issue.record("expected shutdown")
            return
        }
    }

    @Test("the pool refuses a lease once its waiters are at their bound; one timer expires waiters from the front while anyone waits")
    func poolBounds() {
        var machine = PoolStateMachine<String>(maximum: 1, maximumWaiters: 2)
        let start = ContinuousClock.now
        guard case .create(0) = machine.lease("a", deadline: start + .seconds(1)),
            case .wait(startTimer: true) = machine.lease("b", deadline: start + .seconds(1)),
            case .wait(startTimer: false) = machine.lease("c", deadline: start + .seconds(2))
        else {
            Issue.record("expected a slot and two waiters, the first starting the timer")
            return
        }
        guard case .overloaded = machine.lease("d", deadline: start + .seconds(3)) else {
            Issue.record("a third waiter is refused")
            return
        }
        let early = machine.expire(now: start + .milliseconds(500))
        #expect(early.expired.isEmpty && early.next == start + .seconds(1))
        let late = machine.expire(now: start + .milliseconds(1500))
        #expect(late.expired == ["b"] && late.next == start + .seconds(2))
        guard case .handOver(0, "c") = machine.release(0) else {
            Issue.record("the remaining waiter gets the slot")
            return
        }
        // Nobody waits: the timer stops, and the next waiter starts it again.
        #expect(machine.expire(now: start + .seconds(3)).next == nil)
        guard case .wait(startTimer: true) = machine.lease("e", deadline: start + .seconds(4)) else {
            Issue.record("a waiter after the timer stopped starts it")
            return
        }
    }

    struct Request: GroupCommitRequest, Equatable {
        var name: String
        var itemCount: Int
        var byteCount = 10
        var topics = ["t"]
        var deadline = ContinuousClock.now + .seconds(60)
    }

    typealias GroupCommit = GroupCommitStateMachine<Request, Int>

    static let limits = GroupCommit.Limits(maximumBatchItems: 8, maximumBatchBytes: 100, maximumQueuedItems: 20, maximumQueuedBytes: 1000)

    @Test("group commit takes whole requests up to the item and byte limits, bounds its queue, and parks idle committers")
    func groupCommit() {
        var machine = GroupCommit(limits: Self.limits)
        let now = ContinuousClock.now
        guard case .parked = machine.park(1) else {
            Issue.record("an idle committer parks")
            return
        }
        guard case .wake(1) = machine.submit(Request(name: "r1", itemCount: 3), now: now) else {
            Issue.record("a request wakes a parked committer")
            return
        }
        guard case .none = machine.submit(Request(name: "r2", itemCount: 3), now: now),
            case .none = machine.submit(Request(name: "r3", itemCount: 10), now: now)
        else {
            Issue.record("no committer to wake")
            return
        }
        guard case .reject(.full) = machine.submit(Request(name: "r4", itemCount: 5), now: now) else {
            Issue.record("the queue holds at most 20 items")
            return
        }
        #expect(machine.nextBatch(now: now).requests.map(\.name) == ["r1", "r2"])
        #expect(machine.nextBatch(now: now).requests.map(\.name) == ["r3"])  // larger than the limit: alone
        _ = machine.submit(Request(name: "b1", itemCount: 1, byteCount: 60), now: now)
        _ = machine.submit(Request(name: "b2", itemCount: 1, byteCount: 60), now: now)
        #expect(machine.nextBatch(now: now).requests.map(\.name) == ["b1"])  // 120 bytes would pass 100
        #expect(machine.nextBatch(now: now).requests.map(\.name) == ["b2"])
        #expect(machine.nextBatch(now: now).requests.isEmpty)
        _ = machine.submit(Request(name: "r5", itemCount: 1), now: now)
        #expect(machine.shutdown().committers.isEmpty)
        guard case .reject(.shuttingDown) = machine.submit(Request(name: "r6", itemCount: 1), now: now), case .work = machine.park(2) else {
            Issue.record("queued work is still taken after shutdown")
            return
        }
        #expect(machine.nextBatch(now: now).requests.map(\.name) == ["r5"])
        guard case .stop = machine.park(2) else {
            Issue.record("committers stop once the queue is empty")
            return
        }
    }

    @Test("group commit: requests past their deadline are taken out; a held topic's requests wait aside and are probed alone, with back-off, until it commits; a probe that failed does not leave its topic waiting")
    func groupCommitHeldTopics() throws {
        var machine = GroupCommit(limits: Self.limits)
        let now = ContinuousClock.now
        _ = machine.submit(Request(name: "late", itemCount: 1, deadline: now + .milliseconds(5)), now: now)
        let expired = machine.nextBatch(now: now + .milliseconds(10))
        #expect(expired.requests.isEmpty)
        #expect(expired.expired.map(\.name) == ["late"])

        // A batch's lock wait ran out on "h": its request waits aside, so do new ones for "h".
        _ = machine.deferred([Request(name: "held", itemCount: 1, topics: ["h"])], heldTopics: ["h"], now: now)
        _ = machine.submit(Request(name: "held2", itemCount: 1, topics: ["h", "f"]), now: now)
        _ = machine.submit(Request(name: "free", itemCount: 1, topics: ["f"]), now: now)
        let free = machine.nextBatch(now: now)
        #expect(free.requests.map(\.name) == ["free"])
        #expect(free.probe == nil)
        #expect(machine.heldTopics == ["h"])
        // Its retry is due after 10 ms: its requests go alone, as a probe.
        #expect(machine.nextBatch(now: now + .milliseconds(5)).requests.isEmpty)
        let probe = machine.nextBatch(now: now + .milliseconds(11))
        #expect(probe.requests.map(\.name) == ["held", "held2"])
        #expect(probe.probe?.topic == "h")
        // Still held: back aside, the next probe 20 ms later.
        _ = machine.deferred(probe.requests, heldTopics: ["h"], now: now + .milliseconds(11))
        #expect(machine.nextBatch(now: now + .milliseconds(25)).requests.isEmpty)
        #expect(machine.nextBatch(now: now + .milliseconds(32)).probe?.topic == "h")
        // The probe commits: the topic is free, and what came meanwhile goes as usual.
        _ = machine.submit(Request(name: "held3", itemCount: 1, topics: ["h"]), now: now + .milliseconds(33))
        _ = machine.committed(topics: ["h"])
        let released = machine.nextBatch(now: now + .milliseconds(34))
        #expect(released.requests.map(\.name) == ["held3"])
        #expect(released.probe == nil)
        #expect(machine.heldTopics.isEmpty)
        // A probe that ends in a failure (its requests answered, nothing settled): the topic
        // does not wait for it for ever; what came meanwhile is probed when due.
        _ = machine.deferred([Request(name: "p1", itemCount: 1, topics: ["h"])], heldTopics: ["h"], now: now + .milliseconds(40))
        let failing = machine.nextBatch(now: now + .milliseconds(51))
        let failingProbe = try #require(failing.probe)
        _ = machine.submit(Request(name: "p2", itemCount: 1, topics: ["h"]), now: now + .milliseconds(52))
        #expect(machine.nextBatch(now: now + .milliseconds(60)).requests.isEmpty, "a second probe of h while one is in flight")
        machine.probeEnded(failingProbe)
        let again = machine.nextBatch(now: now + .milliseconds(61))
        #expect(again.requests.map(\.name) == ["p2"])
        #expect(again.probe?.topic == "h")
        #expect(again.probe != failingProbe)
        // The old probe's end says nothing about the new one in flight.
        machine.probeEnded(failingProbe)
        _ = machine.submit(Request(name: "p3", itemCount: 1, topics: ["h"]), now: now + .milliseconds(62))
        #expect(machine.nextBatch(now: now + .milliseconds(63)).requests.isEmpty)
        _ = machine.committed(topics: ["h"])
        machine.probeEnded(try #require(again.probe))
        #expect(machine.nextBatch(now: now + .milliseconds(64)).requests.map(\.name) == ["p3"])
        #expect(machine.heldTopics.isEmpty)
        // Waiting past the deadline: taken out by the tick.
        _ = machine.deferred([Request(name: "stuck", itemCount: 1, topics: ["h"], deadline: now + .seconds(1))], heldTopics: ["h"], now: now)
        #expect(machine.tick(now: now + .seconds(2)).expired.map(\.name) == ["stuck"])
        // Queued requests past their deadline are taken out by the tick too, oldest first,
        // and their items no longer count against the queue's bound.
        for (name, seconds) in [("q1", 1), ("q2", 2), ("q3", 3)] {
            _ = machine.submit(Request(name: name, itemCount: 6, deadline: now + .seconds(seconds)), now: now)
        }
        #expect(machine.tick(now: now + .milliseconds(2500)).expired.map(\.name) == ["q1", "q2"])
        guard case .none = machine.submit(Request(name: "q4", itemCount: 12), now: now) else {
            Issue.record("the expired requests' items were freed")
            return
        }
        #expect(machine.nextBatch(now: now + .milliseconds(2500)).requests.map(\.name) == ["q3"])
        #expect(GroupCommit.backoff(attempts: 1) == .milliseconds(10))
        #expect(GroupCommit.backoff(attempts: 2) == .milliseconds(20))
        #expect(GroupCommit.backoff(attempts: 20) == .milliseconds(250))
    }

    @Test("connection time limits: the request limit counts while a request arrives, the idle limit between requests, neither while Herald answers")
    func connectionTimeouts() {
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var machine = ConnectionTimeoutStateMachine(requestTimeout: .seconds(10), idleTimeout: .seconds(60), now: start)
        #expect(machine.deadline == start + .seconds(60))
        #expect(machine.timerFired(now: start + .seconds(30)) == .schedule(start + .seconds(60)))
        machine.bytesArrived(now: start + .seconds(30))
        #expect(machine.deadline == start + .seconds(40))
        #expect(machine.timerFired(now: start + .seconds(35)) == .schedule(start + .seconds(40)))
        machine.requestHeadArrived(now: start + .seconds(36))
        machine.requestEnded()
        #expect(machine.deadline == nil)
        #expect(machine.timerFired(now: start + .seconds(100)) == .none)
        // A pipelined request arrives slowly while the first is answered: its time is not counted yet.
        machine.requestHeadArrived(now: start + .seconds(100))
        #expect(machine.timerFired(now: start + .seconds(111)) == .schedule(start + .seconds(121)))
        machine.responseEnded(now: start + .seconds(112))
        #expect(machine.timerFired(now: start + .seconds(122)) == .requestTimedOut)
        #expect(machine.deadline == nil)

        var idle = ConnectionTimeoutStateMachine(requestTimeout: .seconds(10), idleTimeout: .seconds(60), now: start)
        idle.bytesArrived(now: start)
        idle.requestEnded()
        idle.responseEnded(now: start + .seconds(1))
        #expect(idle.timerFired(now: start + .seconds(61)) == .idleTimedOut)
        var upgraded = ConnectionTimeoutStateMachine(requestTimeout: .seconds(10), idleTimeout: .seconds(60), now: start)
        upgraded.stop()
        #expect(upgraded.timerFired(now: start + .seconds(1000)) == .none)
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

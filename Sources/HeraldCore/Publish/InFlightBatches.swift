/// The batches whose statement is running, kept so that a publish is answered by its
/// deadline even when PostgreSQL holds the commit longer.
///
/// `statement_timeout` bounds a batch's statement but not its commit: PostgreSQL turns it
/// off before committing, and a commit then waits as long as a synchronous standby takes
/// to confirm it (forever while `synchronous_standby_names` names one that is away). Such a
/// request is answered `unavailable`, outcome unknown, a grace period after its deadline
/// (the batch's own time-outs answer first when they can say more); the commit's answer,
/// if it ever comes, is then dropped (`Publisher` answers each request once).
struct InFlightBatches<Request: GroupCommitRequest> {
    private var next = 0
    private var batches: [Int: [Request]] = [:]

    /// Notes a batch whose statement is about to run; `end` it with the returned number.
    mutating func begin(_ batch: [Request]) -> Int {
        self.next += 1
        self.batches[self.next] = batch
        return self.next
    }

    /// The batch's statement returned (or failed).
    mutating func end(_ number: Int) {
        self.batches[number] = nil
    }

    /// Takes out the requests of running batches whose deadline plus `grace` passed.
    mutating func overdue(now: ContinuousClock.Instant, grace: Duration) -> [Request] {
        var overdue: [Request] = []
        for (number, batch) in self.batches {
            var waiting: [Request] = []
            for request in batch {
                if request.deadline + grace <= now { overdue.append(request) } else { waiting.append(request) }
            }
            self.batches[number] = waiting.isEmpty ? nil : waiting
        }
        return overdue
    }
}

import Foundation
import HeraldPostgres
import Logging
import ServiceLifecycle

/// Bounds graceful shutdown: once it begins, a plain thread (independent of Swift's task
/// executor, which a stuck task may be holding) waits for the shutdown timeout plus a
/// grace period; if the process is still alive then, it stops the embedded PostgreSQL and
/// exits with status 1 instead of hanging.
///
/// Nothing committed is lost by this: a publish is answered only after COMMIT, and a
/// stream's client resumes from its cursor. It is a safety net for a task that ignores
/// cancellation (seen once in a library's shutdown path under load), not the normal way out.
struct ShutdownWatchdog: Service {
    let timeout: Duration
    let grace: Duration
    let embedded: EmbeddedPostgres?
    let logger: Logger

    func run() async {
        await withGracefulShutdownHandler {
            try? await gracefulShutdown()
        } onGracefulShutdown: {
            let limit = self.timeout + self.grace
            let embedded = self.embedded
            let logger = self.logger
            let thread = Thread {
                Thread.sleep(forTimeInterval: limit.inSeconds)
                logger.error("graceful shutdown did not finish in \(limit); exiting")
                try? embedded?.stop()
                exit(1)
            }
            thread.start()
        }
    }
}

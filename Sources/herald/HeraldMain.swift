import ArgumentParser
import NIOCore
import NIOPosix

/// The program's entry point.
@main
enum HeraldMain {
    static func main() async {
        // Run Swift concurrency's tasks on NIO's event loops instead of a separate thread
        // pool: a request handler then runs on the thread that reads its socket, without a
        // hop to another thread and back (see docs/performance.md). NIO requires this on
        // the main thread before other concurrency work, so it comes first (after sizing the group).
        EventLoopCount.apply()
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await Herald.main()
    }
}

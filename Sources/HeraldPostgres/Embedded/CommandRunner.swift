import Foundation
import Glibc

/// Runs a program to completion and collects what it printed.
///
/// It uses `posix_spawn` and `waitpid` directly (Foundation's `Process` needs a run loop,
/// which is gone in an exit handler). Output goes to a temporary file rather than a pipe:
/// `pg_ctl start` leaves a server running that could hold a pipe open. For the same
/// reason the program gets no descriptor of this process but its standard ones: a
/// PostgreSQL server started this way lives on, and would keep open (and reach) every
/// socket and file Herald had open at that moment.
enum CommandRunner {
    struct Outcome {
        var status: Int32
        var output: String
    }

    /// Runs `executable` with `arguments`, as `user` when given (needs root: `runuser`).
    static func run(_ executable: String, _ arguments: [String], as user: String? = nil) throws -> Outcome {
        let argv = user.map { ["/usr/sbin/runuser", "-u", $0, "--", executable] + arguments } ?? [executable] + arguments
        let outputPath = NSTemporaryDirectory() + "herald-cmd-\(UUID().uuidString).log"
        defer { unlink(outputPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        Self.closeOthers(&actions)

        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw EmbeddedPostgres.Failure(description: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(status: exitStatus, output: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Adds "close every descriptor from 3 up" to `actions`
    /// (`posix_spawn_file_actions_addclosefrom_np`, glibc 2.34 and later, which Swift's
    /// Glibc module does not import: found at run time).
    static func closeOthers(_ actions: inout posix_spawn_file_actions_t) {
        _ = Self.addCloseFrom?(&actions, 3)
    }

    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    private static let addCloseFrom: AddCloseFrom? = {
        // RTLD_DEFAULT is a null handle in glibc.
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// Finds `name` in the directories of `path` (default: this process's `PATH`).
    static func which(_ name: String, path: String? = nil) -> String? {
        let path = path ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

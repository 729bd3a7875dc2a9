import Foundation
import Logging

extension EmbeddedPostgres {
    /// Finds PostgreSQL's server binaries: in `HERALD_PG_BINDIR` when it is set, else in
    /// Debian's `/usr/lib/postgresql/<version>/bin` (newest first), else on `PATH`.
    static func findBinaries(environment: [String: String]) throws -> String {
        var candidates: [String] = []
        if let configured = environment["HERALD_PG_BINDIR"], !configured.isEmpty {
            candidates.append(configured)
        } else {
            let debian = "/usr/lib/postgresql"
            let versions = ((try? FileManager.default.contentsOfDirectory(atPath: debian)) ?? [])
                .compactMap { Int($0) }
                .sorted(by: >)
            candidates += versions.map { "\(debian)/\($0)/bin" }
            if let initdb = CommandRunner.which("initdb", path: environment["PATH"]) {
                candidates.append(URL(fileURLWithPath: initdb).deletingLastPathComponent().path)
            }
        }
        for directory in candidates
        where ["initdb", "pg_ctl", "postgres"].allSatisfy({
            FileManager.default.isExecutableFile(atPath: "\(directory)/\($0)")
        }) {
            return directory
        }
        throw Failure(
            description: """
                PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found. \
                Install them with `apt-get install postgresql`, or point Herald at an existing \
                server with --database-url (HERALD_DATABASE_URL).
                """
        )
    }

    /// Creates the folders and, as root, hands the server's folders to the server user
    /// and lets it reach them.
    func prepareDirectories(logger: Logger) throws {
        let manager = FileManager.default
        for folder in [self.directory, self.directory + "/log", self.socketDirectory] {
            try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        if !manager.fileExists(atPath: self.dataDirectory) {
            try manager.createDirectory(atPath: self.dataDirectory, withIntermediateDirectories: false)
        }
        try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: self.dataDirectory)
        guard let user = self.serverUser else { return }
        guard let account = getpwnam(user) else {
            throw Failure(
                description: "Herald runs as root, and PostgreSQL must run as the '\(user)' user, which does not exist "
                    + "(apt-get install postgresql creates it); or use --database-url."
            )
        }
        let uid = account.pointee.pw_uid
        let gid = account.pointee.pw_gid
        for folder in [self.dataDirectory, self.directory + "/log", self.socketDirectory] {
            guard chown(folder, uid, gid) == 0 else {
                throw Failure(description: "cannot give \(folder) to the \(user) user: \(String(cString: strerror(errno)))")
            }
        }
        try self.grantTraversal(to: user, logger: logger)
    }

    /// Lets `user` enter every folder above the data directory and the socket.
    ///
    /// A clone under `/root` or a 0700 temporary folder is closed to other users. Rather
    /// than open it to everyone (`chmod o+x`), the server user alone is given the right to
    /// pass through (`setfacl -m u:postgres:x`): it can reach its own folders, and list or
    /// read nothing else there.
    func grantTraversal(to user: String, logger: Logger) throws {
        var folders: [String] = []
        for target in [self.dataDirectory, self.socketDirectory, self.directory + "/log"] {
            var chain: [String] = []
            var url = URL(fileURLWithPath: target).deletingLastPathComponent()
            while url.path != "/" {
                chain.insert(url.path, at: 0)
                url.deleteLastPathComponent()
            }
            for folder in chain where !folders.contains(folder) { folders.append(folder) }
        }
        // Top-most first: once a parent is opened, the folders below may be reachable already.
        var closed = try self.foldersClosed(to: user, among: folders)
        guard !closed.isEmpty else { return }
        guard let setfacl = CommandRunner.which("setfacl") else {
            throw Failure(
                description: """
                    PostgreSQL runs as the \(user) user, which cannot enter \(closed.joined(separator: ", ")). \
                    Install acl (`apt-get install acl`) so Herald can grant it passage with setfacl, choose a \
                    --data-dir it can reach, or use --database-url.
                    """
            )
        }
        while let folder = closed.first {
            let outcome = try CommandRunner.run(setfacl, ["-m", "u:\(user):x", folder])
            guard outcome.status == 0 else {
                throw Failure(description: "cannot let \(user) enter \(folder): \(outcome.output)")
            }
            logger.notice("granted the \(user) user passage through \(folder) (setfacl -m u:\(user):x)")
            closed = try self.foldersClosed(to: user, among: Array(folders.drop { $0 != folder }.dropFirst()))
        }
    }

    /// The folders of `folders` (ordered from the top) that `user` cannot enter.
    private func foldersClosed(to user: String, among folders: [String]) throws -> [String] {
        guard !folders.isEmpty else { return [] }
        let check = try CommandRunner.run(
            "/bin/sh", ["-c", "for d; do test -x \"$d\" || echo \"$d\"; done", "sh"] + folders, as: user
        )
        return check.output.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }
}

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

    /// Creates the folders, each 0700 and refused if another user owns it, and, as root,
    /// hands the server's folders to the server user and lets it reach them.
    func prepareDirectories(logger: Logger) throws {
        let server = try self.serverAccount()
        // The folder holding everything is Herald's; those the server writes are the server's.
        try self.makePrivateFolder(self.directory, owner: nil, intermediate: true)
        var serverFolders = [self.dataDirectory, self.directory + "/log"]
        if self.socketFitsInDirectory { serverFolders.append(self.preferredSocketDirectory) }
        for folder in serverFolders { try self.makePrivateFolder(folder, owner: server, intermediate: false) }
        if let user = self.serverUser { try self.grantTraversal(to: user, logger: logger) }
    }

    /// The server user's ids, when Herald runs as root.
    private func serverAccount() throws -> (uid: uid_t, gid: gid_t)? {
        guard let user = self.serverUser else { return nil }
        guard let account = getpwnam(user) else {
            throw Failure(
                description: "Herald runs as root, and PostgreSQL must run as the '\(user)' user, which does not exist "
                    + "(apt-get install postgresql creates it); or use --database-url."
            )
        }
        return (account.pointee.pw_uid, account.pointee.pw_gid)
    }

    /// Makes `folder` (if missing) owned by `owner` (nil: this process) and open to its
    /// owner only. A folder that already exists and belongs to anyone else is refused:
    /// another local user could have made it to read or replace what Herald puts there.
    private func makePrivateFolder(_ folder: String, owner: (uid: uid_t, gid: gid_t)?, intermediate: Bool) throws {
        if mkdir(folder, 0o700) != 0 {
            if errno == ENOENT, intermediate {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } else if errno != EEXIST {
                throw Failure(description: "cannot create \(folder): \(String(cString: strerror(errno)))")
            }
        }
        var status = stat()
        guard lstat(folder, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(description: "\(folder) is not a folder; choose another --data-dir")
        }
        let me = geteuid()
        let expected = owner?.uid ?? me
        // As root, a folder still Herald's from before (made before it was handed over) is taken.
        guard status.st_uid == expected || status.st_uid == me else {
            let name = getpwuid(status.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(status.st_uid)"
            throw Failure(
                description: "\(folder) belongs to \(name), not to this user: Herald's private PostgreSQL keeps its "
                    + "folders to itself. Remove it, or choose another --data-dir."
            )
        }
        if let owner, status.st_uid != owner.uid, chown(folder, owner.uid, owner.gid) != 0 {
            throw Failure(description: "cannot give \(folder) to the server user: \(String(cString: strerror(errno)))")
        }
        guard chmod(folder, 0o700) == 0 else {
            throw Failure(description: "cannot make \(folder) private: \(String(cString: strerror(errno)))")
        }
    }

    /// A new folder for the socket, in /tmp with a random name (a socket path under a deep
    /// `--data-dir` would pass the 107-byte limit), private to the server.
    func makePrivateSocketDirectory() throws -> String {
        var template = Array("/tmp/herald-XXXXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "cannot create a socket folder in /tmp: \(String(cString: strerror(errno)))")
        }
        let folder = String(cString: made)
        if let owner = try self.serverAccount(), chown(folder, owner.uid, owner.gid) != 0 {
            throw Failure(description: "cannot give \(folder) to the server user: \(String(cString: strerror(errno)))")
        }
        return folder
    }

    /// Lets `user` enter every folder above the data directory and the socket.
    ///
    /// A clone under `/root` or a 0700 temporary folder is closed to other users. Rather
    /// than open it to everyone (`chmod o+x`), the server user alone is given the right to
    /// pass through (`setfacl -m u:postgres:x`): it can reach its own folders, and list or
    /// read nothing else there.
    func grantTraversal(to user: String, logger: Logger) throws {
        var folders: [String] = []
        for target in [self.dataDirectory, self.preferredSocketDirectory, self.directory + "/log"] {
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

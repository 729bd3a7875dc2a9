import Foundation
import HeraldCore
import Testing

@Suite("Migrations")
struct MigrationListTests {
    @Test("every file in migrations/ is compiled in, in order, and nothing else")
    func listMatchesFolder() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("migrations").path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        #expect(Migration.all.map(\.name) == files)
        #expect(Migration.all.map(\.version) == Array(1...Migration.all.count))
        for migration in Migration.all {
            let text = try String(contentsOf: root.appendingPathComponent("migrations/\(migration.name)"), encoding: .utf8)
            #expect(migration.sql == text)
        }
    }
}

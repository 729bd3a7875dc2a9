/// One numbered SQL file of `migrations/`, compiled into the binary.
public struct Migration: Sendable {
    /// Its number: files apply in this order, each exactly once.
    public var version: Int
    /// Its file name.
    public var name: String
    /// Its SQL.
    public var sql: String

    /// Every migration, in order. A new file in `migrations/` is added here too (a test
    /// checks that the two agree).
    public static let all: [Migration] = [
        Migration(version: 1, name: "0001_init.sql", bytes: PackageResources._001_init_sql),
        Migration(version: 2, name: "0002_cursors.sql", bytes: PackageResources._002_cursors_sql),
        Migration(version: 3, name: "0003_publish.sql", bytes: PackageResources._003_publish_sql),
        Migration(version: 4, name: "0004_partitions.sql", bytes: PackageResources._004_partitions_sql),
        Migration(version: 5, name: "0005_admin.sql", bytes: PackageResources._005_admin_sql),
        Migration(version: 6, name: "0006_exact_data.sql", bytes: PackageResources._006_exact_data_sql),
        Migration(version: 7, name: "0007_plain_publish.sql", bytes: PackageResources._007_plain_publish_sql),
    ]

    init(version: Int, name: String, bytes: [UInt8]) {
        self.version = version
        self.name = name
        self.sql = String(decoding: bytes, as: UTF8.self)
    }
}

import ArgumentParser
import Foundation

/// How an admin command prints: a table for people, or JSON for scripts (`--json`).
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON (one object, or one per line for `tail`) instead of a table.")
    var json = false

    /// Prints JSON bytes as one line.
    func printJSON(_ bytes: [UInt8]) {
        print(String(decoding: bytes, as: UTF8.self))
    }

    /// Prints `rows` under `header`, each column as wide as its widest cell.
    func printTable(_ header: [String], _ rows: [[String]]) {
        let widths = header.indices.map { column in
            ([header] + rows).map { $0[column].count }.max() ?? 0
        }
        for row in [header] + rows {
            let cells = row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            print(cells.joined(separator: "  "))
        }
    }

    /// Writes a line to standard error.
    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

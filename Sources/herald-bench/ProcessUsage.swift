import Foundation

/// CPU time of this process and memory of another, from the kernel.
enum ProcessUsage {
    /// User + system CPU seconds this process has used.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1_000_000
    }

    /// CPU seconds (user + system) of process `pid`, from /proc.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Resident memory of process `pid` in bytes, from /proc.
    static func residentBytes(pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kib = Int(parts[1]) { return kib * 1024 }
        }
        return nil
    }

    /// Prints how much of a core the load generator used, and warns when it nears one:
    /// then the numbers may measure the client, not the server.
    static func reportLoadSide(cpuSeconds: Double, wallSeconds: Double) {
        let share = cpuSeconds / max(wallSeconds, 0.001)
        print(String(format: "load generator CPU: %.2f s over %.1f s = %.0f%% of one core", cpuSeconds, wallSeconds, share * 100))
        if share > 0.8 {
            print("WARNING: the load generator used more than 80% of a core; it may be the bottleneck.")
        }
    }
}

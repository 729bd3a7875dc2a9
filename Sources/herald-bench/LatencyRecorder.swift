import Foundation
import Histogram

/// Latencies in microseconds, in an HdrHistogram (1 µs to 60 s, three digits).
struct LatencyRecorder: Sendable {
    private(set) var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

    mutating func record(microseconds: UInt64) {
        _ = self.histogram.record(min(max(microseconds, 1), 60_000_000))
    }

    mutating func add(_ other: LatencyRecorder) {
        self.histogram.add(other.histogram)
    }

    var count: UInt64 { self.histogram.totalCount }

    /// `p50 1.2 ms  p90 ...  p99 ...  max ...`
    var summary: String {
        guard self.count > 0 else { return "no samples" }
        func ms(_ value: UInt64) -> String { String(format: "%.2f ms", Double(value) / 1000) }
        return "p50 \(ms(self.histogram.valueAtPercentile(50)))  p90 \(ms(self.histogram.valueAtPercentile(90)))  "
            + "p99 \(ms(self.histogram.valueAtPercentile(99)))  max \(ms(self.histogram.max))"
    }

    /// Percentile in milliseconds.
    func milliseconds(at percentile: Double) -> Double {
        Double(self.histogram.valueAtPercentile(percentile)) / 1000
    }

    var maxMilliseconds: Double { Double(self.histogram.max) / 1000 }
}

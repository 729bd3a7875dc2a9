import Foundation
import NIOCore

/// What the subscribers on one event loop received; touched only on that loop.
final class DeliveryStats: @unchecked Sendable {
    // @unchecked Sendable: each instance belongs to one event loop; handlers on that loop
    // update it, and it is read only through `loop.submit` (so on the loop) at the end.
    var latencies = LatencyRecorder()
    var received = 0
    var connected = 0
    var failed = 0
    var closed = 0
    /// The messages counted: numbers `measured.lowerBound ..< measured.upperBound`.
    var measured: Range<Int> = 0..<0

    /// Records one delivery of message `number`, sent at `sentAt` (monotonic nanoseconds).
    func delivered(number: Int, sentAt: UInt64) {
        guard self.measured.contains(number) else { return }
        self.received += 1
        let now = DispatchTime.now().uptimeNanoseconds
        if sentAt > 0, now > sentAt { self.latencies.record(microseconds: (now - sentAt) / 1000) }
    }

    /// Records a delivery found in a message's bytes, which carry `"t":<ns>` and `"i":<n>`
    /// (possibly with spaces: PostgreSQL's jsonb prints `"t": 1`).
    func delivered(in bytes: UnsafeRawBufferPointer) {
        guard let sentAt = Self.number(after: UInt8(ascii: "t"), in: bytes),
            let number = Self.number(after: UInt8(ascii: "i"), in: bytes)
        else { return }
        self.delivered(number: Int(number), sentAt: sentAt)
    }

    /// The integer after `"<key>":` in `bytes`.
    static func number(after key: UInt8, in bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count > 4 else { return nil }
        var index = 0
        while index + 4 < bytes.count {
            if bytes[index] == UInt8(ascii: "\""), bytes[index + 1] == key, bytes[index + 2] == UInt8(ascii: "\""),
                bytes[index + 3] == UInt8(ascii: ":")
            {
                var position = index + 4
                while position < bytes.count, bytes[position] == UInt8(ascii: " ") { position += 1 }
                var value: UInt64 = 0
                var digits = 0
                while position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 {
                    value = value * 10 + UInt64(bytes[position] - 48)
                    position += 1
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            index += 1
        }
        return nil
    }
}

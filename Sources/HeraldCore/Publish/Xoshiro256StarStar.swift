/// xoshiro256** (Blackman and Vigna): a fast generator of 64-bit values with 256 bits of
/// state, here seeded from the system's random source. Not for secrets: its output can be
/// predicted from enough of it. Herald uses it for notification ids, which are names, not
/// secrets, and must only not collide.
struct Xoshiro256StarStar: RandomNumberGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// Seeds from the system's random source (four reads of 8 bytes).
    init() {
        var system = SystemRandomNumberGenerator()
        self.state = (system.next(), system.next(), system.next(), system.next())
        if self.state == (0, 0, 0, 0) { self.state.0 = 1 }
    }

    mutating func next() -> UInt64 {
        let result = (self.state.1 &* 5).rotatedLeft(by: 7) &* 9
        let shifted = self.state.1 << 17
        self.state.2 ^= self.state.0
        self.state.3 ^= self.state.1
        self.state.1 ^= self.state.2
        self.state.0 ^= self.state.3
        self.state.2 ^= shifted
        self.state.3 = self.state.3.rotatedLeft(by: 45)
        return result
    }
}

extension UInt64 {
    fileprivate func rotatedLeft(by count: UInt64) -> UInt64 {
        (self << count) | (self >> (64 - count))
    }
}

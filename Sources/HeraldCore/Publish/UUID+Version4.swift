import struct Foundation.UUID
import typealias Foundation.uuid_t

extension UUID {
    /// `count` random (version 4) UUIDs. `UUID()` reads /dev/urandom for each, three system
    /// calls per id; these come from a generator seeded once per call (`Xoshiro256StarStar`).
    static func version4(count: Int) -> [UUID] {
        var generator = Xoshiro256StarStar()
        return (0..<count).map { _ in
            let high = generator.next()
            let low = generator.next()
            // Version 4 in the high nibble of byte 6, variant 10 in the top bits of byte 8.
            let versioned = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
            let varied = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
            return withUnsafeBytes(of: (versioned.bigEndian, varied.bigEndian)) { bytes in
                UUID(uuid: bytes.load(as: uuid_t.self))
            }
        }
    }
}

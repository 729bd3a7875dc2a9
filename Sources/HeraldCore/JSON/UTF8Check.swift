/// UTF-8 well-formedness checks (RFC 3629: no overlong forms, no surrogates, ≤ U+10FFFF).
public enum UTF8Check {
    /// Whether all of `bytes` is well-formed UTF-8 without NUL characters.
    public static func isValidWithoutNUL(_ bytes: UnsafeRawBufferPointer) -> Bool {
        self.isValid(bytes, allowingNUL: false)
    }

    /// Whether all of `bytes` is well-formed UTF-8 (NUL characters allowed unless told not).
    public static func isValid(_ bytes: UnsafeRawBufferPointer, allowingNUL: Bool = true) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let byte = bytes[offset]
            if byte == 0, !allowingNUL { return false }
            if byte < 0x80 {
                offset += 1
                continue
            }
            let end = self.sequenceEnd(bytes, at: offset)
            if end <= offset { return false }
            offset = end
        }
        return true
    }

    /// The end of the multi-byte sequence starting at `offset`, or `offset` when it is
    /// malformed.
    static func sequenceEnd(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        let lead = bytes[offset]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            upper = 0x9F
        case 0xF0:
            length = 4
            lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            upper = 0x8F
        default: return offset
        }
        guard offset + length <= bytes.count else { return offset }
        let second = bytes[offset + 1]
        guard second >= lower, second <= upper else { return offset }
        for index in offset + 2..<offset + length where bytes[index] & 0xC0 != 0x80 {
            return offset
        }
        return offset + length
    }
}

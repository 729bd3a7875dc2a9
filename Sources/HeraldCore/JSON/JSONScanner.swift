/// A validating JSON reader over UTF-8 bytes that does not build a tree.
///
/// Publish bodies are read with it: the top-level fields are found, and `data` is
/// validated and kept as the bytes it was sent as (PostgreSQL stores it as `jsonb`).
/// Beyond RFC 8259 it rejects what PostgreSQL's `jsonb` cannot store, so that a body it
/// accepts never fails a group-commit transaction: `\u0000` in strings, unpaired UTF-16
/// surrogates, numbers with absurd exponents, and nesting deeper than `maximumDepth`.
public struct JSONScanner {
    /// Why the bytes are not acceptable JSON.
    public struct Failure: Error, Sendable, Equatable {
        /// What is wrong, with the byte offset.
        public var message: String
        /// Whether the text is valid JSON that PostgreSQL cannot store (`invalid_body`
        /// rather than `invalid_json`).
        public var isUnstorable: Bool
    }

    /// How deep arrays and objects may nest.
    public static let maximumDepth = 256

    private let bytes: UnsafeRawBufferPointer
    /// The offset of the next unread byte.
    public private(set) var offset = 0
    private var depth = 0

    /// Reads `bytes`, which must stay valid while the scanner is used.
    public init(_ bytes: UnsafeRawBufferPointer, at offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Whether only whitespace is left.
    public mutating func isAtEnd() -> Bool {
        self.skipWhitespace()
        return self.offset == self.bytes.count
    }

    /// The next byte after whitespace, without consuming it.
    public mutating func peek() -> UInt8? {
        self.skipWhitespace()
        return self.offset < self.bytes.count ? self.bytes[self.offset] : nil
    }

    /// Consumes `byte` (after whitespace) or fails.
    public mutating func expect(_ byte: UInt8) throws(Failure) {
        guard self.peek() == byte else { throw self.failure("expected '\(Character(Unicode.Scalar(byte)))'") }
        self.offset += 1
    }

    /// Consumes `byte` if it is next; returns whether it was.
    public mutating func consume(_ byte: UInt8) -> Bool {
        guard self.peek() == byte else { return false }
        self.offset += 1
        return true
    }

    /// Reads the members of an object one key at a time: `body` gets each key and must
    /// consume its value.
    public mutating func readObject(_ body: (inout JSONScanner, String) throws -> Void) throws {
        try self.expect(UInt8(ascii: "{"))
        try self.enter()
        defer { self.depth -= 1 }
        if self.consume(UInt8(ascii: "}")) { return }
        repeat {
            guard self.peek() == UInt8(ascii: "\"") else { throw self.failure("expected an object key") }
            let key = try self.readString()
            try self.expect(UInt8(ascii: ":"))
            try body(&self, key)
        } while self.consume(UInt8(ascii: ","))
        try self.expect(UInt8(ascii: "}"))
    }

    /// Reads the elements of an array: `body` must consume each element.
    public mutating func readArray(_ body: (inout JSONScanner) throws -> Void) throws {
        try self.expect(UInt8(ascii: "["))
        try self.enter()
        defer { self.depth -= 1 }
        if self.consume(UInt8(ascii: "]")) { return }
        repeat {
            try body(&self)
        } while self.consume(UInt8(ascii: ","))
        try self.expect(UInt8(ascii: "]"))
    }

    /// Validates and skips one value; returns the byte range it occupied.
    @discardableResult
    public mutating func skipValue() throws(Failure) -> Range<Int> {
        guard let first = self.peek() else { throw self.failure("expected a value") }
        let start = self.offset
        switch first {
        case UInt8(ascii: "{"):
            try self.skipContainer(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), keyed: true)
        case UInt8(ascii: "["):
            try self.skipContainer(open: UInt8(ascii: "["), close: UInt8(ascii: "]"), keyed: false)
        case UInt8(ascii: "\""):
            var unused: [UInt8] = []
            try self.scanString(decoding: false, into: &unused)
        case UInt8(ascii: "t"):
            try self.literal("true")
        case UInt8(ascii: "f"):
            try self.literal("false")
        case UInt8(ascii: "n"):
            try self.literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try self.scanNumber()
        default:
            throw self.failure("unexpected character")
        }
        return start..<self.offset
    }

    /// Reads a string value and returns it decoded.
    public mutating func readString() throws(Failure) -> String {
        guard self.peek() == UInt8(ascii: "\"") else { throw self.failure("expected a string") }
        var decoded: [UInt8] = []
        try self.scanString(decoding: true, into: &decoded)
        return String(decoding: decoded, as: UTF8.self)
    }

    /// Reads `null`, returning true, or leaves the scanner where it was.
    public mutating func readNull() throws(Failure) -> Bool {
        guard self.peek() == UInt8(ascii: "n") else { return false }
        try self.literal("null")
        return true
    }

    /// Reads a number whose value is a whole number that fits in `Int64`, however JSON
    /// spells it (`3600`, `3600.0`, `3.6e3`, `36000e-1`): JSON Schema's `integer`.
    public mutating func readInteger() throws(Failure) -> Int64 {
        let range = try self.skipValue()
        var digits: [UInt8] = []
        var negative = false
        var fractionDigits = 0
        var inFraction = false
        var exponent = 0
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = self.bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "-"): negative = true
            case UInt8(ascii: "."): inFraction = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits.append(byte - UInt8(ascii: "0"))
                if inFraction { fractionDigits += 1 }
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                // The exponent, bounded: beyond 10^40 no Int64 is left either way.
                var sign = 1
                var value = 0
                while index < range.upperBound {
                    let next = self.bytes[index]
                    index += 1
                    if next == UInt8(ascii: "-") { sign = -1 } else if next != UInt8(ascii: "+") { value = min(value * 10 + Int(next - UInt8(ascii: "0")), 1000) }
                }
                exponent = sign * value
            default:
                throw self.failure("expected a number", at: range.lowerBound)
            }
        }
        // value = digits × 10^(exponent − fractionDigits): whole when the digits that the
        // shift would put after the point are zeros.
        var shift = exponent - fractionDigits
        while shift < 0, let last = digits.last {
            guard last == 0 else { throw self.failure("expected a whole number", at: range.lowerBound) }
            digits.removeLast()
            shift += 1
        }
        if digits.allSatisfy({ $0 == 0 }) { return 0 }
        guard shift <= 40 else { throw self.failure("integer out of range", at: range.lowerBound) }
        digits += Array(repeating: 0, count: max(0, shift))
        var value: Int64 = 0
        for digit in digits {
            let (multiplied, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (added, overflow2) = multiplied.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { throw self.failure("integer out of range", at: range.lowerBound) }
            value = added
        }
        return negative ? -value : value
    }

    // MARK: - Scanning

    private mutating func skipContainer(open: UInt8, close: UInt8, keyed: Bool) throws(Failure) {
        try self.expect(open)
        try self.enter()
        defer { self.depth -= 1 }
        if self.consume(close) { return }
        repeat {
            if keyed {
                guard self.peek() == UInt8(ascii: "\"") else { throw self.failure("expected an object key") }
                var unused: [UInt8] = []
                try self.scanString(decoding: false, into: &unused)
                try self.expect(UInt8(ascii: ":"))
            }
            try self.skipValue()
        } while self.consume(UInt8(ascii: ","))
        try self.expect(close)
    }

    private mutating func enter() throws(Failure) {
        self.depth += 1
        guard self.depth <= Self.maximumDepth else {
            throw Failure(message: "nesting deeper than \(Self.maximumDepth) levels", isUnstorable: true)
        }
    }

    private mutating func skipWhitespace() {
        while self.offset < self.bytes.count {
            switch self.bytes[self.offset] {
            case 0x20, 0x09, 0x0A, 0x0D: self.offset += 1
            default: return
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard self.offset + count <= self.bytes.count else { throw self.failure("unexpected end") }
        for index in 0..<count where self.bytes[self.offset + index] != word.utf8Start[index] {
            throw self.failure("unexpected character")
        }
        self.offset += count
    }

    private mutating func scanNumber() throws(Failure) {
        let start = self.offset
        func digits(_ scanner: inout JSONScanner) -> Int {
            let from = scanner.offset
            while scanner.offset < scanner.bytes.count,
                scanner.bytes[scanner.offset] >= UInt8(ascii: "0"), scanner.bytes[scanner.offset] <= UInt8(ascii: "9")
            {
                scanner.offset += 1
            }
            return scanner.offset - from
        }
        _ = self.consumeRaw(UInt8(ascii: "-"))
        let integerStart = self.offset
        if self.consumeRaw(UInt8(ascii: "0")) {
            // A leading zero stands alone.
        } else if digits(&self) == 0 {
            throw self.failure("invalid number", at: start)
        }
        let integer = integerStart..<self.offset
        var fraction = self.offset..<self.offset
        if self.consumeRaw(UInt8(ascii: ".")) {
            let fractionStart = self.offset
            guard digits(&self) > 0 else { throw self.failure("invalid number", at: start) }
            fraction = fractionStart..<self.offset
        }
        var exponent = 0
        if self.consumeRaw(UInt8(ascii: "e")) || self.consumeRaw(UInt8(ascii: "E")) {
            var negative = false
            if !self.consumeRaw(UInt8(ascii: "+")) { negative = self.consumeRaw(UInt8(ascii: "-")) }
            let exponentStart = self.offset
            guard digits(&self) > 0 else { throw self.failure("invalid number", at: start) }
            // Saturates far beyond anything storable, so it cannot overflow.
            for index in exponentStart..<self.offset where exponent < 4_000_000_000 {
                exponent = exponent * 10 + Int(self.bytes[index] - UInt8(ascii: "0"))
            }
            if negative { exponent = -exponent }
        }
        guard Self.fitsPostgresNumeric(self.bytes, integer: integer, fraction: fraction, exponent: exponent) else {
            throw self.failure("number outside PostgreSQL's numeric range", at: start)
        }
    }

    /// Whether PostgreSQL's `numeric` (which `jsonb` stores numbers as) can hold the
    /// number with these digits and exponent, by the rules of its `numeric_in`: an
    /// exponent below ±1,073,741,823, at most 16,383 digits after the decimal point
    /// (counting those the exponent shifts there), and a first significant digit at most
    /// 131,071 places before it. Checked against PostgreSQL 15 at each boundary.
    static func fitsPostgresNumeric(_ bytes: UnsafeRawBufferPointer, integer: Range<Int>, fraction: Range<Int>, exponent: Int) -> Bool {
        guard exponent < 1_073_741_823, exponent > -1_073_741_823 else { return false }
        guard max(0, fraction.count - exponent) <= 16_383 else { return false }
        // The position of the first significant digit (0 = units, -1 = tenths, ...).
        let zero = UInt8(ascii: "0")
        if let first = integer.first(where: { bytes[$0] != zero }) {
            return integer.upperBound - 1 - first + exponent <= 131_071
        }
        if let first = fraction.first(where: { bytes[$0] != zero }) {
            return -(first - fraction.lowerBound + 1) + exponent <= 131_071
        }
        return true  // zero: any exponent that passed the first check
    }

    private mutating func consumeRaw(_ byte: UInt8) -> Bool {
        guard self.offset < self.bytes.count, self.bytes[self.offset] == byte else { return false }
        self.offset += 1
        return true
    }

    /// Scans a string starting at its opening quote, checking escapes and UTF-8.
    private mutating func scanString(decoding: Bool, into output: inout [UInt8]) throws(Failure) {
        let start = self.offset
        self.offset += 1
        var pendingHighSurrogate: UInt32? = nil
        while true {
            guard self.offset < self.bytes.count else { throw self.failure("unterminated string", at: start) }
            let byte = self.bytes[self.offset]
            if byte != UInt8(ascii: "\\"), pendingHighSurrogate != nil {
                throw Failure(message: "unpaired UTF-16 surrogate at byte \(self.offset)", isUnstorable: true)
            }
            switch byte {
            case UInt8(ascii: "\""):
                self.offset += 1
                return
            case UInt8(ascii: "\\"):
                guard self.offset + 1 < self.bytes.count else { throw self.failure("unterminated string", at: start) }
                let escape = self.bytes[self.offset + 1]
                if escape != UInt8(ascii: "u"), pendingHighSurrogate != nil {
                    throw Failure(message: "unpaired UTF-16 surrogate at byte \(self.offset)", isUnstorable: true)
                }
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    if decoding { output.append(escape) }
                case UInt8(ascii: "b"): if decoding { output.append(0x08) }
                case UInt8(ascii: "f"): if decoding { output.append(0x0C) }
                case UInt8(ascii: "n"): if decoding { output.append(0x0A) }
                case UInt8(ascii: "r"): if decoding { output.append(0x0D) }
                case UInt8(ascii: "t"): if decoding { output.append(0x09) }
                case UInt8(ascii: "u"):
                    let unit = try self.hexQuad(at: self.offset + 2)
                    self.offset += 4
                    if unit == 0 {
                        throw Failure(message: "\\u0000 cannot be stored (byte \(self.offset - 4))", isUnstorable: true)
                    }
                    if let high = pendingHighSurrogate {
                        guard (0xDC00...0xDFFF).contains(unit) else {
                            throw Failure(message: "unpaired UTF-16 surrogate at byte \(self.offset)", isUnstorable: true)
                        }
                        pendingHighSurrogate = nil
                        let scalar = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00)
                        if decoding { output.append(contentsOf: String(Unicode.Scalar(scalar)!).utf8) }
                    } else if (0xD800...0xDBFF).contains(unit) {
                        pendingHighSurrogate = unit
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        throw Failure(message: "unpaired UTF-16 surrogate at byte \(self.offset)", isUnstorable: true)
                    } else if decoding {
                        output.append(contentsOf: String(Unicode.Scalar(unit)!).utf8)
                    }
                default:
                    throw self.failure("invalid escape")
                }
                self.offset += 2
            case 0x00..<0x20:
                throw self.failure("control character in string")
            case 0x80...0xFF:
                let end = try self.scanUTF8Sequence()
                if decoding { output.append(contentsOf: self.bytes[self.offset..<end]) }
                self.offset = end
            default:
                if decoding { output.append(byte) }
                self.offset += 1
            }
        }
    }

    private func hexQuad(at position: Int) throws(Failure) -> UInt32 {
        guard position + 4 <= self.bytes.count else { throw self.failure("invalid \\u escape", at: position) }
        var value: UInt32 = 0
        for index in position..<position + 4 {
            let byte = self.bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw self.failure("invalid \\u escape", at: position)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Checks the multi-byte UTF-8 sequence at `offset`; returns where it ends.
    private func scanUTF8Sequence() throws(Failure) -> Int {
        let end = UTF8Check.sequenceEnd(self.bytes, at: self.offset)
        guard end > self.offset else { throw self.failure("invalid UTF-8") }
        return end
    }

    private func failure(_ message: String, at position: Int? = nil) -> Failure {
        Failure(message: "\(message) at byte \(position ?? self.offset)", isUnstorable: false)
    }
}

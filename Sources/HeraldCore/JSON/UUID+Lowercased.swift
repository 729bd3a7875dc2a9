import struct Foundation.UUID

extension UUID {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Appends the canonical lowercase form (`8-4-4-4-12` hex digits) to `bytes`.
    public func appendLowercased(to bytes: inout [UInt8]) {
        withUnsafeBytes(of: self.uuid) { raw in
            for (index, byte) in raw.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 { bytes.append(UInt8(ascii: "-")) }
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0x0F)])
            }
        }
    }
}

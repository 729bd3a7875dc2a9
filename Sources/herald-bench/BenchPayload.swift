import ArgumentParser

/// The data a scenario publishes: about `bytes` long, as a JSON string or as an object of
/// records (keys, numbers, nested arrays), which costs a JSON parser and printer more.
enum BenchPayload: String, CaseIterable, Sendable {
    /// `"xxxx…"`.
    case string
    /// `{"items":[{"id":0,"price":12.5,"qty":3,"sku":"A-00000","tags":["red","xl"]},…]}`.
    case object

    /// The JSON text, `bytes` long (a string) or the fewest records reaching it (an object).
    func json(bytes: Int) -> String {
        switch self {
        case .string:
            return "\"" + String(repeating: "x", count: max(0, bytes - 2)) + "\""
        case .object:
            var records: [String] = []
            var length = #"{"items":[]}"#.utf8.count
            repeat {
                let index = records.count
                let record = #"{"id":\#(index),"price":\#(index % 97).5,"qty":\#(index % 7 + 1),"sku":"A-\#(10_000 + index)","tags":["red","xl"]}"#
                records.append(record)
                length += record.utf8.count + 1
            } while length < bytes
            return #"{"items":["# + records.joined(separator: ",") + "]}"
        }
    }
}
extension BenchPayload: ExpressibleByArgument {}

/// What a batch reports of itself (`herald-batch` notice of `herald.publish_items`): each
/// topic's last seq after it, the request groups it deferred, and the items (by ord) that
/// repeated an idempotency key, with their original seqs.
struct BatchReport: Equatable {
    var lastSeqs: [String: Int64] = [:]
    var deferredGroups: Set<Int> = []
    var replayed: [Int: Int64] = [:]

    /// Reads the notice's detail:
    /// `{"topics":[..],"last_seqs":[..],"deferred":[..],"replayed_ords":[..],"replayed_seqs":[..]}`,
    /// any array possibly null. Nil when it does not read so.
    init?(json: String) {
        var topics: [String] = []
        var lastSeqs: [Int64] = []
        var deferred: [Int64] = []
        var ords: [Int64] = []
        var seqs: [Int64] = []
        let bytes = Array(json.utf8)
        let parsed: Bool = bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw)
            do {
                try scanner.readObject { scanner, key in
                    if try scanner.readNull() { return }
                    switch key {
                    case "topics": try scanner.readArray { topics.append(try $0.readString()) }
                    case "last_seqs": try scanner.readArray { lastSeqs.append(try $0.readInteger()) }
                    case "deferred": try scanner.readArray { deferred.append(try $0.readInteger()) }
                    case "replayed_ords": try scanner.readArray { ords.append(try $0.readInteger()) }
                    case "replayed_seqs": try scanner.readArray { seqs.append(try $0.readInteger()) }
                    default: try scanner.skipValue()
                    }
                }
                return scanner.isAtEnd()
            } catch {
                return false
            }
        }
        guard parsed, topics.count == lastSeqs.count, ords.count == seqs.count else { return nil }
        self.lastSeqs = Dictionary(zip(topics, lastSeqs)) { $1 }
        self.deferredGroups = Set(deferred.map { Int($0) })
        self.replayed = Dictionary(zip(ords.map { Int($0) }, seqs)) { $1 }
    }
}

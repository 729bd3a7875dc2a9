@testable import HeraldCore
import Testing

@Suite("A batch's report of itself, read back after a lost answer")
struct PublishBatchTests {
    static func item(_ topic: String, key: String? = nil) throws -> PublishItem {
        var item = try Array(#"{"data":1}"#.utf8).withUnsafeBytes { raw in
            try PublishBodyParser.single(topic: topic, json: raw, idempotencyKey: nil)
        }
        item.idempotencyKey = key
        return item
    }

    @Test("the report's JSON is read, null arrays included; anything else is refused")
    func reportParsing() {
        let report = BatchReport(json: #"{"topics": ["a", "b"], "last_seqs": [5, 9], "deferred": [2], "replayed_ords": [3], "replayed_seqs": [1]}"#)
        #expect(report?.lastSeqs == ["a": 5, "b": 9])
        #expect(report?.deferredGroups == [2])
        #expect(report?.replayed == [3: 1])
        let empty = BatchReport(json: #"{"topics": null, "last_seqs": null, "deferred": [], "replayed_ords": null, "replayed_seqs": null}"#)
        #expect(empty == BatchReport(json: "{}"))
        #expect(BatchReport(json: #"{"topics": ["a"], "last_seqs": []}"#) == nil)
        #expect(BatchReport(json: "not json") == nil)
    }

    @Test("seqs follow from the report: new items of a topic end at its last seq, in batch order; replays keep theirs; deferred requests get none")
    func seqsFromReport() throws {
        // Requests: [a, b, a], [b], [a with key k] (a replay), [c] (deferred).
        let batch = PublishBatch([
            [try Self.item("a"), try Self.item("b"), try Self.item("a")], [try Self.item("b")], [try Self.item("a", key: "k")],
            [try Self.item("c")],
        ])
        let seqs = batch.seqs(lastSeqs: ["a": 12, "b": 7], deferredGroups: [3], replayed: [5: 3])
        #expect(seqs.map { "\($0.index):\($0.seq)\($0.replayed ? "r" : "")" } == ["0:11", "1:6", "2:12", "3:7", "4:3r"])
    }

    @Test("requests linked by a repeated key form one group, deferred together")
    func groups() throws {
        let batch = PublishBatch([[try Self.item("a", key: "k")], [try Self.item("b")], [try Self.item("c"), try Self.item("a", key: "k")]])
        #expect(batch.groupOf == [0, 1, 0])
        #expect(batch.sent == [0, 1, 2])
        #expect(batch.repeatOf == [3: 0])
        #expect(batch.requests(inGroups: [0]) == [0, 2])
    }
}

import Foundation
@testable import HeraldCore
import Testing

@Suite("A group-commit batch: items, ids, groups")
struct PublishBatchTests {
    static func item(_ topic: String, key: String? = nil) throws -> PublishItem {
        var item = try Array(#"{"data":1}"#.utf8).withUnsafeBytes { raw in
            try PublishBodyParser.single(topic: topic, json: raw, idempotencyKey: nil)
        }
        item.idempotencyKey = key
        return item
    }

    @Test("every item sent carries an id of its own, which is what finds it in the log after a lost answer")
    func ids() throws {
        let batch = PublishBatch([[try Self.item("a"), try Self.item("a", key: "k")], [try Self.item("b", key: "k"), try Self.item("a", key: "k")]])
        #expect(batch.sent == [0, 1, 2])
        #expect(batch.ids.count == 3)
        #expect(Set(batch.ids).count == 3)
        #expect(PublishBatch([[try Self.item("a")]]).ids != PublishBatch([[try Self.item("a")]]).ids)
    }

    @Test("ids are version 4 UUIDs, all different")
    func version4() {
        let ids = UUID.version4(count: 10_000) + UUID.version4(count: 10_000)
        #expect(Set(ids).count == 20_000)
        for id in ids.prefix(100) {
            let text = id.uuidString
            #expect(Array(text)[14] == "4", "\(text)")
            #expect("89AB".contains(Array(text)[19]), "\(text)")
        }
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

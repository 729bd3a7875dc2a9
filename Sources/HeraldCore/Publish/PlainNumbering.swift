/// How `herald.publish_plain` numbers a batch's items (`migrations/0007_plain_publish.sql`):
/// the distinct topics in the order they first appear, how many items each has, and for
/// every item its topic (1-based, into `topics`) and its rank among that topic's items
/// (1-based, in batch order). An item's seq is then its topic's new `last_seq` less the
/// topic's count plus its rank.
struct PlainNumbering {
    /// The distinct topics, in order of first appearance.
    private(set) var topics: [String] = []
    /// The number of items of each topic.
    private(set) var counts: [Int32] = []
    /// Each item's topic: a 1-based index into `topics`.
    private(set) var topicOf: [Int32] = []
    /// Each item's rank among its topic's items, from 1.
    private(set) var ranks: [Int32] = []

    /// Numbers items of `topics` (one entry per item, in batch order).
    init<Topics: Collection>(_ topics: Topics) where Topics.Element == String {
        var index: [String: Int] = [:]
        self.topicOf.reserveCapacity(topics.count)
        self.ranks.reserveCapacity(topics.count)
        for topic in topics {
            let position: Int
            if let known = index[topic] {
                position = known
            } else {
                position = self.topics.count
                index[topic] = position
                self.topics.append(topic)
                self.counts.append(0)
            }
            self.counts[position] += 1
            self.topicOf.append(Int32(position + 1))
            self.ranks.append(self.counts[position])
        }
    }

    /// Item `item`'s topic, as a 0-based index into `topics` (and into the answer's rows).
    func topic(of item: Int) -> Int {
        Int(self.topicOf[item]) - 1
    }

    /// The seq of item `item`, given each topic's new `last_seq`.
    func seq(of item: Int, lastSeqs: [Int64]) -> Int64 {
        let topic = self.topic(of: item)
        return lastSeqs[topic] - Int64(self.counts[topic]) + Int64(self.ranks[item])
    }
}

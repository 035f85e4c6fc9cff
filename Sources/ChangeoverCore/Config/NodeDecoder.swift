import Foundation
import Yams

/// Decodes a `Decodable` from a composed YAML node, with the rules `YAMLDecoder` applies to
/// text: scalars through Yams's `ScalarConstructible`, `null`/`~`/empty as nil, the last of two
/// equal keys winning, `<<` merge keys. It exists so that a config can be decoded a part at a
/// time: a fleet's databases are decoded one by one from the composed file and each one's node
/// let go once it is resolved, where decoding the whole text at once keeps every node and
/// every raw stanza alive together (with 10,000 databases that was most of the daemon's memory).
enum NodeDecoder {
    /// Tags only `<<` (the merge key), as `YAMLDecoder` does: every other scalar is text until
    /// a type is asked of it.
    private static var mergeOnly: Resolver { Resolver.basic.appending(Resolver.Rule.merge) }

    /// The text's single document as a node, composed as `YAMLDecoder` composes it; nil when
    /// the text has none.
    static func compose(_ text: String) throws -> Node? {
        try Yams.compose(yaml: text, mergeOnly)
    }

    /// `compose`, run on a thread of its own. glibc gives a new thread an arena of its own, so
    /// the document's nodes (and the parser's garbage between them) are allocated apart from
    /// what is decoded from them: once the nodes are let go, their pages are wholly free and
    /// `malloc_trim` can hand them back, where nodes interleaved with the fleet's decoded
    /// databases would keep most pages resident for a handful of live bytes each.
    static func composeApart(_ text: String) throws -> Node? {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Node?, any Error> = .success(nil)
        let thread = Thread {
            result = Result { try compose(text) }
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        return try result.get()
    }

    /// `node` decoded as `type`; errors carry `codingPath` before the path inside the node.
    /// With `unknownKeys`, the keys of its mappings that `type` does not know are noted there
    /// (and decoding goes on, so that one pass finds them all).
    static func decode<T: Decodable>(
        _ type: T.Type, from node: Node, codingPath: [any CodingKey] = [],
        unknownKeys: UnknownKeys? = nil
    ) throws -> T {
        try NodeDecoding(node: node, codingPath: codingPath, unknownKeys: unknownKeys).decode(type)
    }

    /// A mapping's pairs with merge keys (`<<: {…}`) expanded, merged pairs first so that the
    /// mapping's own keys win.
    static func pairs(of mapping: Node.Mapping) -> [(key: Node, value: Node)] {
        var merged: [(key: Node, value: Node)] = []
        var own: [(key: Node, value: Node)] = []
        own.reserveCapacity(mapping.count)
        for pair in mapping {
            guard pair.key.tag.description == Tag.Name.merge.rawValue else {
                own.append(pair)
                continue
            }
            switch pair.value {
            case .mapping(let inner):
                merged.append(contentsOf: pairs(of: inner))
            case .sequence(let sequence):
                for case .mapping(let inner) in sequence.reversed() { merged.append(contentsOf: pairs(of: inner)) }
            case .scalar:
                break
            }
        }
        return merged.isEmpty ? own : merged + own
    }

    /// `text` in storage of its own. A scalar's text is shared with its node: kept in what is
    /// decoded, it would keep the page it shares with the node's other garbage resident (text
    /// of up to 15 bytes is held inline and needs no copy).
    static func detached(_ text: String) -> String {
        let count = text.utf8.count
        guard count > 15 else { return text }
        return String(unsafeUninitializedCapacity: count) { $0.initialize(fromContentsOf: text.utf8) }
    }

    /// A key in a coding path: a mapping key by its text, a list item by its index.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(_ string: String) { (stringValue, intValue) = (string, nil) }
        init(index: Int) { (stringValue, intValue) = ("Index \(index)", index) }
        init?(stringValue: String) { self.init(stringValue) }
        init?(intValue: Int) { self.init(index: intValue) }
    }
}

private func describeKind(_ node: Node) -> String {
    switch node {
    case .scalar: "Scalar"
    case .mapping: "Mapping"
    case .sequence: "Sequence"
    }
}

private func typeMismatch(_ expected: Any.Type, _ node: Node, at path: [any CodingKey]) -> DecodingError {
    .typeMismatch(
        expected,
        .init(
            codingPath: path,
            debugDescription: "Expected to decode \(expected) but found \(describeKind(node)) instead."))
}

private struct NodeDecoding: Decoder, SingleValueDecodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    let unknownKeys: UnknownKeys?
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func child(_ node: Node, _ key: any CodingKey) -> NodeDecoding {
        NodeDecoding(node: node, codingPath: codingPath + [key], unknownKeys: unknownKeys)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else { throw typeMismatch(Node.Mapping.self, node, at: codingPath) }
        let pairs = NodeDecoder.pairs(of: mapping)
        return KeyedDecodingContainer(
            NodeKeyedContainer<Key>(
                decoder: self, pairs: pairs,
                unknown: unknownKeys?.check(pairs, keyedBy: type)))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else { throw typeMismatch(Node.Sequence.self, node, at: codingPath) }
        return NodeUnkeyedContainer(decoder: self, items: Array(sequence))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { node.null == NSNull() }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard let constructible = type as? any ScalarConstructible.Type else { return try T(from: self) }
        guard case .scalar(let scalar) = node else { throw typeMismatch(Node.Scalar.self, node, at: codingPath) }
        if type == String.self, let text = NodeDecoder.detached(scalar.string) as? T { return text }
        // The scalar is not quoted: it may be a password put where a number belongs.
        guard let value = constructible.construct(from: scalar) as? T else {
            throw DecodingError.valueNotFound(
                type,
                .init(
                    codingPath: codingPath,
                    debugDescription: "Expected \(type) value but found a scalar that is not one."))
        }
        return value
    }
}

private struct NodeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoding
    let pairs: [(key: Node, value: Node)]
    /// Where the keys asked for are noted when the mapping has unknown keys (their suggestions
    /// are taken from them); nil otherwise.
    let unknown: UnknownKeys.Mapping?

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { pairs.compactMap { $0.key.string.flatMap { Key(stringValue: NodeDecoder.detached($0)) } } }

    /// The value of the last pair with this key (a stanza's mappings are a handful of keys: a
    /// scan costs less than a dictionary).
    private func value(_ key: Key) -> Node? {
        unknown?.asked.append(key.stringValue)
        return pairs.last { $0.key.string == key.stringValue }?.value
    }

    private func child(_ key: Key) throws -> NodeDecoding {
        guard let node = value(key) else {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue).")
            )
        }
        return decoder.child(node, key)
    }

    func contains(_ key: Key) -> Bool { value(key) != nil }
    func decodeNil(forKey key: Key) throws -> Bool { try child(key).decodeNil() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decode(type) }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try child(key).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }
    func superDecoder() throws -> any Decoder { try child(Key(stringValue: "super")!) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try child(key) }
}

private struct NodeUnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoding
    let items: [Node]
    var currentIndex = 0

    init(decoder: NodeDecoding, items: [Node]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next<T>(_ type: T.Type, _ body: (NodeDecoding) throws -> T) throws -> T {
        let key = NodeDecoder.Key(index: currentIndex)
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                type, .init(codingPath: codingPath + [key], debugDescription: "Unkeyed container is at end."))
        }
        let value = try body(decoder.child(items[currentIndex], key))
        currentIndex += 1
        return value
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return try next(Bool.self) { $0.decodeNil() } }
        // Only a null is consumed: decodeNil() that answers false leaves the item for decode().
        guard items[currentIndex].null == NSNull() else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type) { try $0.decode(type) } }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<
        NestedKey
    > {
        try next(KeyedDecodingContainer<NestedKey>.self) { try $0.container(keyedBy: type) }
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next((any UnkeyedDecodingContainer).self) { try $0.unkeyedContainer() }
    }
    mutating func superDecoder() throws -> any Decoder { try next((any Decoder).self) { $0 } }
}

import Yams

/// The keys of a config's mappings that no setting reads: a misspelt `catchup:` or `windwos:`
/// would otherwise be dropped without a word and its database run on the defaults.
///
/// `NodeDecoder` asks it about every mapping it decodes as a keyed container. A key is unknown
/// when the container's `CodingKey` type has no key of its name; a map of data (labels, an
/// image's environment, `images:` itself) is decoded with the dictionary's own key type, which
/// takes any name, so its keys are never unknown. The known keys a suggestion is taken from are
/// the key type's cases when it is `CaseIterable`, and otherwise the keys the type asked the
/// container for (a synthesized `Decodable` asks for every key it has, up to the first one that
/// is missing — which is the misspelt one). Only a mapping that has an unknown key costs an
/// allocation: a correct config of 10,000 databases decodes as it did.
final class UnknownKeys {
    struct Problem {
        var line: Int
        var column: Int
        /// The key as written; nil for a key that is a list or a mapping.
        var key: String?
        /// The known key it is closest to, if one is close.
        var suggestion: String?

        /// `catchup: unknown key; did you mean catchUp?`, without where it is.
        var message: String {
            (key.map { "\($0): unknown key" } ?? "a list or mapping as a key: unknown key")
                + (suggestion.map { "; did you mean \($0)?" } ?? "")
        }
    }

    /// The unknown keys of one mapping, and the keys its type asked for.
    final class Mapping {
        var unknown: [(key: String?, line: Int, column: Int)] = []
        var declared: [String]
        var asked: [String] = []

        init(declared: [String]) { self.declared = declared }
    }

    private var mappings: [Mapping] = []

    /// The unknown keys found, in the order of the text.
    var problems: [Problem] {
        var seen = Set<[Int]>()
        var problems: [Problem] = []
        for mapping in mappings {
            let known = mapping.declared + mapping.asked.filter { !mapping.declared.contains($0) }
            for entry in mapping.unknown where seen.insert([entry.line, entry.column]).inserted {
                let suggestion = entry.key.flatMap { Self.nearest($0, in: known) }
                problems.append(Problem(line: entry.line, column: entry.column, key: entry.key, suggestion: suggestion))
            }
        }
        return problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
    }

    var isEmpty: Bool { mappings.isEmpty }

    /// The keys of `pairs` that `Key` does not know, noted; the mapping to note the keys the
    /// type asks for in, or nil when every key is known.
    func check<Key: CodingKey>(_ pairs: [(key: Node, value: Node)], keyedBy: Key.Type) -> Mapping? {
        var found: Mapping?
        for pair in pairs {
            if let name = pair.key.string {
                if Key(stringValue: name) != nil { continue }
            } else if Key(stringValue: "") != nil {
                continue  // a map of data: its key type takes any name
            }
            let mapping = found ?? Mapping(declared: Self.declared(Key.self))
            let mark = pair.key.mark
            mapping.unknown.append((pair.key.string.map(NodeDecoder.detached), mark?.line ?? 0, mark?.column ?? 0))
            found = mapping
        }
        if let found { mappings.append(found) }
        return found
    }

    private static func declared<Key: CodingKey>(_ type: Key.Type) -> [String] {
        guard let iterable = type as? any CaseIterable.Type else { return [] }
        return names(iterable)
    }

    private static func names<Keys: CaseIterable>(_ type: Keys.Type) -> [String] {
        Keys.allCases.compactMap { ($0 as? any CodingKey)?.stringValue }
    }

    /// The known key `key` is a slip of: the same but for case, or at most two edits away (and
    /// fewer edits than the known key has letters, so that `xy` is not taken for `on`).
    static func nearest(_ key: String, in known: [String]) -> String? {
        if let same = known.first(where: { $0.lowercased() == key.lowercased() }) { return same }
        var best: (name: String, distance: Int)?
        for name in known {
            let distance = editDistance(key, name)
            if distance <= 2, distance < name.count, distance < best?.distance ?? .max { best = (name, distance) }
        }
        return best?.name
    }

    /// Levenshtein distance, by characters.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

import Foundation

/// A small seeded generator for the property tests: SplitMix64, so every case is reproducible
/// from its seed alone. Set `PROPERTY_SEED` to rerun with another base seed; a failing case
/// prints its own seed, and `PropertyGenerator(seed:)` with it regenerates exactly that input.
public struct PropertyGenerator: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The base seed of a run: `PROPERTY_SEED` if set, else a fixed one.
    public static let baseSeed: UInt64 = {
        if let text = ProcessInfo.processInfo.environment["PROPERTY_SEED"], let seed = UInt64(text) { return seed }
        return 0x00C0_FFEE_2026
    }()

    /// The seed of case `index` of a property named `name`.
    public static func seed(_ name: String, _ index: Int) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return baseSeed ^ hash ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Runs `count` cases, each with its own generator; `body` gets the case's seed for messages.
    public static func forAll(_ name: String, count: Int, _ body: (inout PropertyGenerator, UInt64) throws -> Void)
        rethrows
    {
        for index in 0..<count {
            let seed = seed(name, index)
            var random = PropertyGenerator(seed: seed)
            try body(&random, seed)
        }
    }

    public mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    public mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }
    public mutating func pick<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }

    /// Random bytes, biased towards the ASCII range so they look like text half the time.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in chance(0.5) ? UInt8(int(0x20...0x7E)) : UInt8(truncatingIfNeeded: next()) }
    }

    /// A string of `count` characters from `alphabet`.
    public mutating func string(from alphabet: [String], count: Int) -> String {
        (0..<count).map { _ in pick(alphabet) }.joined()
    }

    /// Characters that trip up parsers: quotes, escapes, control characters, newlines,
    /// combining marks, right-to-left text, emoji, NUL.
    public static let hostileCharacters: [String] = [
        "\"", "'", "\\", "\n", "\r", "\r\n", "\t", "\0", "\u{7F}", "\u{85}", "\u{2028}", "\u{2029}",
        "\u{FEFF}", "\u{200B}", "\u{301}", "e\u{301}", "\u{202E}", "ß", "İ", "ﬁ", "𝔸", "🦀", "👨‍👩‍👧", "中",
        "%", "%00", "%zz", "&", "=", "?", "@", ":", "/", "[", "]", "{", "}", ",", "#", "|", ">", "*", "!",
        "-", "..", "…", " ", "  ",
    ]

    /// Unicode noise: ASCII, hostile characters and random scalars.
    public mutating func noise(maxLength: Int) -> String {
        let count = int(0...maxLength)
        var text = ""
        for _ in 0..<count {
            switch int(0...3) {
            case 0: text += pick(Self.hostileCharacters)
            case 1:
                if let scalar = Unicode.Scalar(UInt32(int(0x20...0x2FFFF))) { text.unicodeScalars.append(scalar) }
            default: text.unicodeScalars.append(Unicode.Scalar(UInt8(int(0x20...0x7E))))
            }
        }
        return text
    }

    /// Invalid UTF-8 decoded leniently, so the parser sees replacement characters.
    public mutating func lossyText(_ count: Int) -> String {
        String(decoding: bytes(count), as: UTF8.self)
    }

    /// One of several mutations of `lines`: delete, duplicate, swap, reindent, cut or garble one.
    public mutating func mutateLines(_ lines: [String]) -> [String] {
        var lines = lines
        guard !lines.isEmpty else { return [noise(maxLength: 20)] }
        let i = int(0...lines.count - 1)
        let j = int(0...lines.count - 1)
        switch int(0...7) {
        case 0: lines.remove(at: i)
        case 1: lines.insert(lines[i], at: j)
        case 2: lines.swapAt(i, j)
        case 3:
            lines[i] =
                String(repeating: pick([" ", "  ", "\t", "    "]), count: int(0...6))
                + lines[i].trimmingCharacters(in: .whitespaces)
        case 4: lines[i] = String(lines[i].prefix(int(0...lines[i].count)))
        case 5: lines[i] += noise(maxLength: 12)
        case 6: lines.insert(noise(maxLength: 40), at: j)
        default:
            var characters = Array(lines[i]).map(String.init)
            if !characters.isEmpty {
                characters[int(0...characters.count - 1)] = pick(Self.hostileCharacters)
            }
            lines[i] = characters.joined()
        }
        return lines
    }
}

extension String {
    /// True when the text holds no line break of any kind (LF, CR, NEL, LS, PS).
    public var isOneLine: Bool {
        !contains(where: \.isNewline)
            && !unicodeScalars.contains { $0 == "\u{85}" || $0 == "\u{2028}" || $0 == "\u{2029}" }
    }
}

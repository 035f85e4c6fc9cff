/// A cheap pass over a config's text before Yams sees it, refusing what would crash or swamp
/// the process instead of giving a one-line error.
///
/// Yams composes and decodes its node tree recursively, so ~5,000 nested collections (`[[[[…`,
/// `{a: {a: …`, `- - - …`, `? ? ? …`) overflow the stack: the process dies with SIGSEGV. Its
/// decoder expands merge keys (`<<: [*a, *a]`) eagerly, so a few lines of aliases
/// ("billion laughs") grow without bound. libyaml itself is iterative and safe.
///
/// The pass follows libyaml's own scanner rules (token starts, simple keys, the indentation
/// stack, quoted, plain and block scalars, comments, line breaks including NEL/LS/PS) just far
/// enough to know how deep the node tree gets — open block collections (indentless sequences
/// included), open flow collections, the one-pair mappings a `k: v` or `? k` opens inside a flow
/// sequence, and the level a key's own content sinks by when a `:` after it turns out to open a
/// mapping around it — and where aliases are. Where it cannot match libyaml it errs towards
/// counting more: a confused pass can reject an odd document, never let a deep one through.
struct YAMLPrescan {
    /// What makes a text unfit to hand to Yams; lines and columns count from 1.
    enum Problem: Equatable {
        case nul(line: Int, column: Int)
        case controlCharacter(UInt32, line: Int, column: Int)
        case tooDeep(limit: Int, line: Int, column: Int)
        case alias(name: String, line: Int, column: Int)
    }

    /// The first problem in `text`, or nil if it is safe to parse.
    static func check(_ text: String, maximumDepth: Int) -> Problem? {
        scalars(of: text).withUnsafeBufferPointer { scalars in
            var scanner = YAMLPrescan(scalars, maximumDepth: maximumDepth)
            if let problem = scanner.characterProblem() { return problem }
            return scanner.scan()
        }
    }

    /// How deep the pass finds `text` nested, and how many aliases it holds, read as plain
    /// nodes (for tests that hold the pass against the tree Yams builds).
    static func nesting(in text: String) -> (deepest: Int, aliases: Int) {
        scalars(of: text).withUnsafeBufferPointer { scalars in
            var scanner = YAMLPrescan(scalars, maximumDepth: .max)
            scanner.stopsAtAliases = false
            _ = scanner.scan()
            return (scanner.deepest, scanner.aliases)
        }
    }

    private static func scalars(of text: String) -> [UInt32] {
        var scalars: [UInt32] = []
        scalars.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars { scalars.append(scalar.value) }
        return scalars
    }

    private struct Indent {
        enum Kind { case sequence, mapping, indentlessSequence }
        var column: Int
        var kind: Kind
    }

    /// An open flow collection.
    private struct Flow {
        var isSequence: Bool
        /// A `k: v` or `? k` entry of a sequence: a one-pair mapping, one level more.
        var pairOpen = false
        /// The deepest level reached since the current entry began.
        var entryDeepest: Int
    }

    private struct SimpleKey {
        var index: Int
        var line: Int
        var column: Int
    }

    /// The text's Unicode scalars: libyaml counts columns in characters.
    private let s: UnsafeBufferPointer<UInt32>
    private let maximumDepth: Int
    private var i = 0
    private var line = 0
    private var column = 0
    private var flows: [Flow] = []
    private var flowLevel: Int { flows.count }
    /// How many open flow sequences have a one-pair mapping open.
    private var pairs = 0
    /// The open block collections, as libyaml's indentation stack plus the indentless sequences
    /// its parser opens at a mapping's own column.
    private var indents: [Indent] = []
    private var simpleKeyAllowed = true
    /// The possible simple key of the block context (flow level 0): a `:` after it opens a
    /// block mapping at its column. Keys inside flow collections never change the block stack.
    private var blockKey: SimpleKey?
    /// The deepest level reached since `blockKey` was saved.
    private var blockKeyDeepest = 0
    private var stopsAtAliases = true
    private var aliases = 0
    /// The deepest nesting seen so far.
    private var deepest = 0

    private init(_ scalars: UnsafeBufferPointer<UInt32>, maximumDepth: Int) {
        s = scalars
        self.maximumDepth = maximumDepth
    }

    // MARK: - Characters

    /// NUL and the control characters libyaml's reader refuses (it reports them at a wrong place).
    private func characterProblem() -> Problem? {
        var line = 1
        var column = 1
        var index = 0
        while index < s.count {
            let c = s[index]
            if c == 0 { return .nul(line: line, column: column) }
            let allowed =
                (c >= 0x20 && c <= 0x7E) || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x85
                || (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000
            if !allowed { return .controlCharacter(c, line: line, column: column) }
            if Self.isBreak(c) {
                index += c == 0x0D && index + 1 < s.count && s[index + 1] == 0x0A ? 2 : 1
                line += 1
                column = 1
            } else {
                index += 1
                column += 1
            }
        }
        return nil
    }

    /// The characters the scanner acts on.
    private enum A {
        static let openBracket: UInt32 = 0x5B, closeBracket: UInt32 = 0x5D, openBrace: UInt32 = 0x7B,
            closeBrace: UInt32 = 0x7D
        static let comma: UInt32 = 0x2C, dash: UInt32 = 0x2D, question: UInt32 = 0x3F, colon: UInt32 = 0x3A
        static let star: UInt32 = 0x2A, ampersand: UInt32 = 0x26, bang: UInt32 = 0x21, pipe: UInt32 = 0x7C
        static let greater: UInt32 = 0x3E, apostrophe: UInt32 = 0x27, quote: UInt32 = 0x22, hash: UInt32 = 0x23
        static let percent: UInt32 = 0x25, dot: UInt32 = 0x2E, plus: UInt32 = 0x2B, backslash: UInt32 = 0x5C
        static let zero: UInt32 = 0x30, nine: UInt32 = 0x39
    }

    private static func isBreak(_ c: UInt32) -> Bool {
        c == 0x0A || c == 0x0D || c == 0x85 || c == 0x2028 || c == 0x2029
    }
    /// A blank, a line break or the end (the end reads as 0).
    private static func isBlankZ(_ c: UInt32) -> Bool { c == 0x20 || c == 0x09 || c == 0 || isBreak(c) }

    private func at(_ index: Int) -> UInt32 { index < s.count ? s[index] : 0 }
    private func isBreak(_ index: Int) -> Bool { Self.isBreak(at(index)) }
    private func isBlank(_ index: Int) -> Bool {
        let c = at(index)
        return c == 0x20 || c == 0x09
    }
    private func isBlankZ(_ index: Int) -> Bool { Self.isBlankZ(at(index)) }
    private func isEnd() -> Bool { i >= s.count }

    /// Moves to the next line break (or the end), staying on this line.
    private mutating func skipToBreak() {
        while i < s.count && !Self.isBreak(s[i]) {
            i += 1
            column += 1
        }
    }

    private mutating func advance() {
        i += 1
        column += 1
    }

    private mutating func advanceBreak() {
        i += at(i) == 0x0D && at(i + 1) == 0x0A ? 2 : 1
        line += 1
        column = 0
    }

    private func isDocumentIndicator() -> Bool {
        guard column == 0, !isEnd() else { return false }
        let c = s[i]
        guard c == A.dash || c == A.dot else { return false }
        return at(i + 1) == c && at(i + 2) == c && isBlankZ(i + 3)
    }

    // MARK: - Tokens

    private mutating func scan() -> Problem? {
        while true {
            skipToNextToken()
            if let key = blockKey, key.line < line || key.index + 1024 < i { blockKey = nil }
            if flowLevel == 0 { unroll(to: column) }
            if isEnd() { return nil }
            let c = s[i]
            if column == 0 && c == A.percent {
                // A directive: the rest of the line.
                unroll(to: -1)
                blockKey = nil
                simpleKeyAllowed = false
                skipToBreak()
                continue
            }
            if isDocumentIndicator() {
                unroll(to: -1)
                blockKey = nil
                simpleKeyAllowed = false
                advance()
                advance()
                advance()
                continue
            }
            switch c {
            case A.openBracket, A.openBrace:
                saveKey()
                flows.append(Flow(isSequence: c == A.openBracket, entryDeepest: depth + 1))
                if let problem = reached(depth) { return problem }
                simpleKeyAllowed = true
                advance()
            case A.closeBracket, A.closeBrace:
                if let closed = flows.popLast() {
                    if closed.pairOpen { pairs -= 1 }
                    // The entry that holds this collection went as deep as it did.
                    if flows.isEmpty {
                        blockKeyDeepest = max(blockKeyDeepest, closed.entryDeepest)
                    } else {
                        flows[flows.count - 1].entryDeepest = max(
                            flows[flows.count - 1].entryDeepest, closed.entryDeepest)
                    }
                } else {
                    blockKey = nil
                }
                simpleKeyAllowed = false
                advance()
            case A.comma:
                if flows.isEmpty {
                    blockKey = nil
                } else {
                    if flows[flows.count - 1].pairOpen {
                        flows[flows.count - 1].pairOpen = false
                        pairs -= 1
                    }
                    flows[flows.count - 1].entryDeepest = depth
                }
                simpleKeyAllowed = true
                advance()
            case A.dash where isBlankZ(i + 1):
                if flowLevel == 0 {
                    if roll(column, .sequence), let problem = reached(depth) { return problem }
                    blockKey = nil
                }
                simpleKeyAllowed = true
                advance()
            case A.question where flowLevel > 0 || isBlankZ(i + 1):
                if flowLevel == 0 {
                    if roll(column, .mapping), let problem = reached(depth) { return problem }
                    blockKey = nil
                } else if let problem = openPair(aroundKeyDeepest: nil) {
                    return problem
                }
                simpleKeyAllowed = flowLevel == 0
                advance()
            case A.colon where flowLevel > 0 || isBlankZ(i + 1):
                if flowLevel == 0 {
                    if let key = blockKey {
                        // The key already read sits inside the mapping this opens.
                        if roll(key.column, .mapping),
                            let problem = reached(max(depth, blockKeyDeepest + 1), at: (key.line, key.column))
                        {
                            return problem
                        }
                    } else if roll(column, .mapping), let problem = reached(depth) {
                        return problem
                    }
                    blockKey = nil
                } else if let problem = openPair(aroundKeyDeepest: flows[flows.count - 1].entryDeepest) {
                    return problem
                }
                simpleKeyAllowed = flowLevel == 0
                advance()
            case A.star:
                let (startLine, startColumn) = (line + 1, column + 1)
                saveKey()
                simpleKeyAllowed = false
                advance()
                var name = ""
                while isAnchorCharacter(at(i)) {
                    if name.utf8.count < 40 { name.unicodeScalars.append(Unicode.Scalar(UInt8(s[i]))) }
                    advance()
                }
                if stopsAtAliases { return .alias(name: name, line: startLine, column: startColumn) }
                aliases += 1
            case A.ampersand:
                // An anchor names the node that follows and may start a simple key. Its name is
                // what libyaml takes: `&a: x` is an anchored empty key, not a name "a:".
                saveKey()
                simpleKeyAllowed = false
                advance()
                while isAnchorCharacter(at(i)) { advance() }
            case A.bang:
                // A tag: libyaml needs a blank (or a flow `,`) after it, so it runs to one.
                saveKey()
                simpleKeyAllowed = false
                advance()
                while !isBlankZ(i) && !(flowLevel > 0 && isFlowIndicator(s[i])) { advance() }
            case A.pipe where flowLevel == 0, A.greater where flowLevel == 0:
                blockKey = nil
                simpleKeyAllowed = true
                skipBlockScalar()
            case A.apostrophe, A.quote:
                saveKey()
                simpleKeyAllowed = false
                skipQuotedScalar(single: c == A.apostrophe)
            default:
                if startsPlainScalar(c) {
                    saveKey()
                    simpleKeyAllowed = false
                    skipPlainScalar()
                } else {
                    // libyaml stops here ("found character that cannot start any token").
                    // Carry on past it: counting too much is harmless.
                    advance()
                }
            }
        }
    }

    private func isFlowIndicator(_ c: UInt32) -> Bool {
        c == A.comma || c == A.openBracket || c == A.closeBracket || c == A.openBrace || c == A.closeBrace
    }

    private func isAnchorCharacter(_ c: UInt32) -> Bool {
        (A.zero...A.nine).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || c == 0x5F
            || c == A.dash
    }

    private static let indicators: Set<UInt32> = Set("-?:,[]{}#&*!|>'\"%@`".unicodeScalars.map(\.value))

    private func startsPlainScalar(_ c: UInt32) -> Bool {
        if !isBlankZ(i) && !Self.indicators.contains(c) { return true }
        if c == A.dash && !isBlank(i + 1) { return true }
        if flowLevel == 0 && (c == A.question || c == A.colon) && !isBlankZ(i + 1) { return true }
        return false
    }

    /// Spaces, tabs where libyaml skips them, comments and line breaks.
    private mutating func skipToNextToken() {
        while true {
            if column == 0 && at(i) == 0xFEFF { advance() }
            while !isEnd() && (s[i] == 0x20 || ((flowLevel > 0 || !simpleKeyAllowed) && s[i] == 0x09)) { advance() }
            if at(i) == A.hash {
                skipToBreak()
            }
            guard !isEnd() && isBreak(i) else { return }
            advanceBreak()
            if flowLevel == 0 { simpleKeyAllowed = true }
        }
    }

    private mutating func saveKey() {
        guard flowLevel == 0, simpleKeyAllowed else { return }
        blockKey = SimpleKey(index: i, line: line, column: column)
        blockKeyDeepest = depth
    }

    /// A `?` or `:` in a flow sequence: libyaml's parser wraps the entry in a one-pair mapping.
    /// After an implicit key (`[[a]: b]`), what the key held is one level deeper than it was
    /// counted.
    private mutating func openPair(aroundKeyDeepest keyDeepest: Int?) -> Problem? {
        let top = flows.count - 1
        guard flows[top].isSequence, !flows[top].pairOpen else { return nil }
        flows[top].pairOpen = true
        pairs += 1
        return reached(max(depth, (keyDeepest ?? 0) + 1))
    }

    // MARK: - Block collections

    private var indentColumn: Int { indents.last?.column ?? -1 }

    private mutating func unroll(to column: Int) {
        while let last = indents.last, last.column > column { indents.removeLast() }
    }

    /// libyaml's roll_indent, plus the parser's indentless sequence: a `- ` at the column of
    /// the mapping it is a value of opens a sequence without a new indentation level. Whether
    /// a level was opened.
    private mutating func roll(_ column: Int, _ kind: Indent.Kind) -> Bool {
        if column > indentColumn {
            indents.append(Indent(column: column, kind: kind))
            return true
        }
        guard column == indentColumn, let last = indents.last else { return false }
        switch (kind, last.kind) {
        case (.sequence, .mapping):
            indents.append(Indent(column: column, kind: .indentlessSequence))
            return true
        case (.mapping, .indentlessSequence):
            indents.removeLast()  // the next key of the mapping ends the sequence
            return false
        default:
            return false
        }
    }

    /// The current depth: the collections open here, and so the levels of the tree above a node
    /// that starts here.
    private var depth: Int { indents.count + flows.count + pairs }

    /// Notes that the tree reaches `level` here (or at the key `at`, which a mapping just opened
    /// around).
    private mutating func reached(_ level: Int, at place: (line: Int, column: Int)? = nil) -> Problem? {
        deepest = max(deepest, level)
        if flows.isEmpty {
            blockKeyDeepest = max(blockKeyDeepest, level)
        } else {
            flows[flows.count - 1].entryDeepest = max(flows[flows.count - 1].entryDeepest, level)
        }
        guard level > maximumDepth else { return nil }
        let (line, column) = place ?? (line, column)
        return .tooDeep(limit: maximumDepth, line: line + 1, column: column + 1)
    }

    // MARK: - Scalars

    /// A plain scalar, which may go on over lines indented more than the current block.
    private mutating func skipPlainScalar() {
        let indent = indentColumn + 1
        var leadingBlanks = false
        outer: while true {
            if isDocumentIndicator() || at(i) == A.hash { break }
            let inFlow = flowLevel > 0
            while i < s.count {
                let c = s[i]
                if Self.isBlankZ(c) { break }
                if c == A.colon {
                    let next = at(i + 1)
                    if Self.isBlankZ(next) || (inFlow && (isFlowIndicator(next) || next == A.question)) { break outer }
                }
                if inFlow && isFlowIndicator(c) { break outer }
                leadingBlanks = false
                i += 1
                column += 1
            }
            guard isBlank(i) || isBreak(i) else { break }
            while isBlank(i) || isBreak(i) {
                if isBreak(i) {
                    advanceBreak()
                    leadingBlanks = true
                } else {
                    advance()
                }
            }
            if flowLevel == 0 && column < indent { break }
        }
        if leadingBlanks { simpleKeyAllowed = true }
    }

    /// A single- or double-quoted scalar, over as many lines as it takes.
    private mutating func skipQuotedScalar(single: Bool) {
        let quote = single ? A.apostrophe : A.quote
        advance()
        while !isEnd() {
            if isDocumentIndicator() { return }  // libyaml stops with an error here
            while !isBlankZ(i) {
                let c = s[i]
                if single && c == quote && at(i + 1) == quote {
                    advance()
                    advance()
                } else if c == quote {
                    advance()
                    return
                } else if !single && c == A.backslash && isBreak(i + 1) {
                    advance()
                    break
                } else if !single && c == A.backslash {
                    advance()
                    if !isEnd() && !isBreak(i) { advance() }
                } else {
                    advance()
                }
            }
            while isBlank(i) || isBreak(i) {
                if isBreak(i) { advanceBreak() } else { advance() }
            }
        }
    }

    /// A literal or folded block scalar: its header, then every line indented at least as far
    /// as its content, which libyaml takes from the explicit indicator or the first non-empty
    /// line, and never less than one past the enclosing block's column.
    private mutating func skipBlockScalar() {
        advance()
        var increment = 0
        func digit(_ c: UInt32) -> Int? { (A.zero...A.nine).contains(c) ? Int(c - A.zero) : nil }
        if at(i) == A.plus || at(i) == A.dash {
            advance()
            if let d = digit(at(i)) {
                increment = d
                advance()
            }
        } else if let d = digit(at(i)) {
            increment = d
            advance()
            if at(i) == A.plus || at(i) == A.dash { advance() }
        }
        while isBlank(i) { advance() }
        if at(i) == A.hash {
            skipToBreak()
        }
        guard !isEnd() else { return }
        // Anything else on the header line is an error for libyaml; scan on from there.
        guard isBreak(i) else { return }
        advanceBreak()
        let parent = indentColumn
        var indent = increment > 0 ? (parent >= 0 ? parent + increment : increment) : 0
        skipBlockScalarBreaks(&indent, parent: parent)
        while column == indent && !isEnd() {
            skipToBreak()
            guard !isEnd() else { return }
            advanceBreak()
            skipBlockScalarBreaks(&indent, parent: parent)
        }
    }

    private mutating func skipBlockScalarBreaks(_ indent: inout Int, parent: Int) {
        var maxIndent = 0
        while true {
            while (indent == 0 || column < indent) && at(i) == 0x20 { advance() }
            maxIndent = max(maxIndent, column)
            guard !isEnd() && isBreak(i) else { break }
            advanceBreak()
        }
        if indent == 0 { indent = max(maxIndent, parent + 1, 1) }
    }
}

/// Where passwords are kept out of what the controller prints, logs and records: one set of
/// rules, used by the conninfo parser, the configuration's errors and the audit log.
///
/// Three contexts, three strengths: a message quoted back to an operator masks each password in
/// place (``maskingPasswords(in:)``, ``masking(passwordsIn:from:)``); an audit record drops a
/// whole value that holds one (``containsInlinePassword(_:)``) and every value of a key that
/// names a secret (``isSecretKey(_:)``).
public enum Redaction {
    /// What a password is replaced by in a message or a conninfo.
    public static let mask = "********"
    /// What replaces a whole audit value that holds a secret.
    public static let placeholder = "[redacted]"
    /// Words that make a key name a secret, case-insensitive.
    public static let secretKeyWords = ["password", "passwd", "secret", "token"]
    /// Keys that hold one of those words and no secret: a lease's fencing token is a counter
    /// the store hands out in order, there to be compared.
    public static let publicKeys: Set<String> = ["lease.token"]

    /// A key holding one of `secretKeyWords` (case-insensitive), except `publicKeys`.
    public static func isSecretKey(_ key: String) -> Bool {
        if publicKeys.contains(key) { return false }
        let lower = key.lowercased()
        return secretKeyWords.contains { lower.contains($0) }
    }

    /// Whether `value` contains "password=" (any case) followed by a non-space: an audit
    /// value such as a conninfo. "password= not set" holds none.
    public static func containsInlinePassword(_ value: String) -> Bool {
        let lower = value.lowercased()
        var searchStart = lower.startIndex
        while let range = lower[searchStart...].firstRange(of: "password=") {
            if range.upperBound < lower.endIndex, !lower[range.upperBound].isWhitespace {
                return true
            }
            searchStart = range.upperBound
        }
        return false
    }

    /// `password=value` (bare or quoted) and the password of a URL's user info, masked.
    ///
    /// What the regexes `(?i)(password\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s"]*)` and
    /// `(://[^:/@\s"]*:)[^\s"]*@` would replace, found in one pass each: the regex engine took
    /// time quadratic in a quoted value full of `://a:` (a megabyte of it ran for minutes).
    public static func maskingPasswords(in text: String) -> String {
        maskingURLPasswords(in: maskingPasswordParameters(in: Array(text)))
    }

    private static func maskingPasswordParameters(in chars: [Character]) -> [Character] {
        let word = Array("password")
        func isWordLetter(_ c: Character, _ letter: Character) -> Bool {
            if let ascii = c.asciiValue { return ascii | 0x20 == letter.asciiValue! }
            return c.lowercased() == String(letter) || c.uppercased() == letter.uppercased()
        }
        var out: [Character] = []
        out.reserveCapacity(chars.count)
        var i = 0
        while i < chars.count {
            guard i + word.count <= chars.count, isWordLetter(chars[i], "p"),
                (1..<word.count).allSatisfy({ isWordLetter(chars[i + $0], word[$0]) })
            else {
                out.append(chars[i])
                i += 1
                continue
            }
            var j = i + word.count
            while j < chars.count && chars[j].isWhitespace { j += 1 }
            guard j < chars.count, chars[j] == "=" else {
                out.append(chars[i])
                i += 1
                continue
            }
            j += 1
            while j < chars.count && chars[j].isWhitespace { j += 1 }
            var end = j
            if end < chars.count && chars[end] == "'" {
                end += 1
                while end < chars.count {
                    if chars[end] == "'" {
                        end += 1
                        break
                    }
                    if chars[end] == "\\" {
                        guard end + 1 < chars.count else { break }
                        end += 2
                        continue
                    }
                    end += 1
                }
            } else {
                while end < chars.count && !chars[end].isWhitespace && chars[end] != "\"" { end += 1 }
            }
            out += chars[i..<j]
            out += mask
            i = end
        }
        return out
    }

    private static func maskingURLPasswords(in chars: [Character]) -> String {
        // lastAt[k]: the last "@" from k to the end of k's run of characters that are neither
        // whitespace nor '"'; -1 if there is none.
        var lastAt = [Int](repeating: -1, count: chars.count + 1)
        var last = -1
        for k in chars.indices.reversed() {
            if chars[k].isWhitespace || chars[k] == "\"" {
                last = -1
            } else if chars[k] == "@" && last == -1 {
                last = k
            }
            lastAt[k] = last
        }
        var out = ""
        var p = 0
        while p < chars.count {
            if p + 3 <= chars.count, chars[p] == ":", chars[p + 1] == "/", chars[p + 2] == "/" {
                var q = p + 3
                while q < chars.count,
                    !(chars[q] == ":" || chars[q] == "/" || chars[q] == "@" || chars[q] == "\""
                        || chars[q].isWhitespace)
                {
                    q += 1
                }
                if q < chars.count, chars[q] == ":", lastAt[q + 1] >= 0 {
                    out += String(chars[p...q]) + mask + "@"
                    p = lastAt[q + 1] + 1
                    continue
                }
            }
            out.append(chars[p])
            p += 1
        }
        return out
    }

    /// libpq quotes parts of a string it rejects, even a whole URL with its password, or a
    /// password with a bad percent escape. Every password the input could hold is masked.
    ///
    /// Nil when the input has so many places a password could be (`:/`, `password`) that
    /// finding them all would take time quadratic in its length: the caller then shows no part
    /// of libpq's message.
    public static func masking(passwordsIn input: String, from message: String) -> String? {
        let places = 16
        guard input.ranges(of: ":/").prefix(places + 1).count <= places,
            input.lowercased().ranges(of: "password").prefix(places + 1).count <= places
        else { return nil }
        var candidates: [Substring] = []
        // scheme://user:password@host, also misspelt (one slash, no host): libpq takes the
        // first "@" before a "/", a reader may take the last, a typo may leave none.
        var rest = Substring(input)
        while let scheme = rest.firstRange(of: ":/") {
            let whole = rest[scheme.upperBound...].drop { $0 == "/" }
            let token = whole.prefix { !$0.isWhitespace }
            let firstAt = whole.prefix { $0 != "/" }.firstIndex(of: "@")
            let ats = [firstAt, token.lastIndex(of: "@")].compactMap { $0 }
            for at in ats.isEmpty ? [token.endIndex] : ats {
                let userinfo = whole[..<at]
                if let colon = userinfo.firstIndex(of: ":") {
                    candidates.append(userinfo[userinfo.index(after: colon)...])
                }
            }
            rest = rest[scheme.upperBound...]
        }
        // password=value in the key=value form or a URL's query, bare or quoted.
        let lowered = Substring(input.lowercased())
        if lowered.count == input.count {
            var index = lowered.startIndex
            while let key = lowered[index...].firstRange(of: "password") {
                let offset = lowered.distance(from: lowered.startIndex, to: key.upperBound)
                var value = input.dropFirst(offset).drop { $0 == " " || $0 == "\t" }
                if value.first == "=" {
                    value = value.dropFirst().drop { $0 == " " || $0 == "\t" }
                    if value.first == "'" { value = value.dropFirst() }
                    let bare = value.prefix { !$0.isWhitespace }
                    candidates.append(bare)
                    candidates.append(bare.prefix { $0 != "&" })
                    candidates.append(value.prefix { $0 != "'" })
                }
                index = key.upperBound
            }
        }
        // As the key=value parser would cut them when it misreads a URL.
        candidates += candidates.flatMap { [$0.prefix { $0 != "=" }, $0.prefix { !$0.isWhitespace }] }
        var masked = message
        for secret in Set(candidates.map(String.init)).filter({ !$0.isEmpty }).sorted(by: { $0.count > $1.count }) {
            masked = masked.replacing(secret, with: mask)
        }
        return masked
    }
}

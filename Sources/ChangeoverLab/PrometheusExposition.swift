import Foundation

/// Checks Prometheus text exposition (format 0.0.4) the way `promtool check metrics` would, plus
/// the project's own rules for its label values. Returns the problems found, one sentence each;
/// none for a valid scrape.
///
/// Format: `# HELP` / `# TYPE` at most once per family and before its samples, a family's
/// samples together, valid metric and label names, well-escaped label values, numbers, no
/// series twice; histograms with ascending `le` buckets whose counts never fall, a `+Inf`
/// bucket equal to `_count`, and a `_sum`; counters named `_total` and never negative.
/// The project's rules: no label value with whitespace, no label that names a changeover
/// (`changeover`, `id`, `changeover_id`: one series per changeover grows without bound).
public enum PrometheusExposition {
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    static let perChangeoverLabels: Set<String> = ["changeover", "id", "changeover_id"]

    public static func problems(in text: String) -> [String] {
        var problems: [String] = []
        var types: [String: String] = [:]
        var helped = Set<String>()
        var finished = Set<String>()
        var current: String?
        var seen = Set<String>()
        var samples: [(family: String, sample: Sample)] = []
        func enter(_ family: String, line: Int) {
            if current != family {
                if finished.contains(family) {
                    problems.append("line \(line): the samples of \(family) are not together")
                }
                if let current { finished.insert(current) }
                current = family
            }
        }
        for (index, raw) in text.components(separatedBy: "\n").enumerated() {
            let number = index + 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let words = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true).map(String.init)
                guard words.count >= 3, words[1] == "HELP" || words[1] == "TYPE" else { continue }
                let name = words[2]
                guard isMetricName(name) else {
                    problems.append("line \(number): bad metric name \(name)")
                    continue
                }
                enter(name, line: number)
                if words[1] == "HELP" {
                    if !helped.insert(name).inserted { problems.append("line \(number): a second HELP for \(name)") }
                } else {
                    let type = words.count > 3 ? words[3] : ""
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(type) else {
                        problems.append("line \(number): bad type \(type) for \(name)")
                        continue
                    }
                    if types[name] != nil { problems.append("line \(number): a second TYPE for \(name)") }
                    if samples.contains(where: { $0.family == name }) {
                        problems.append("line \(number): the TYPE of \(name) after its samples")
                    }
                    types[name] = type
                    if type == "counter", !name.hasSuffix("_total") {
                        problems.append("line \(number): counter \(name) does not end in _total")
                    }
                }
                continue
            }
            guard let sample = parseSample(line) else {
                problems.append("line \(number): not a sample: \(line.prefix(120))")
                continue
            }
            var family = sample.name
            for suffix in ["_bucket", "_sum", "_count"] where sample.name.hasSuffix(suffix) {
                let base = String(sample.name.dropLast(suffix.count))
                if types[base] == "histogram" || types[base] == "summary" { family = base }
            }
            enter(family, line: number)
            let key =
                sample.name + "{"
                + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}"
            if !seen.insert(key).inserted { problems.append("line \(number): \(key) twice") }
            for (label, value) in sample.labels {
                if value.contains(where: \.isWhitespace) {
                    problems.append("line \(number): label \(label)=\"\(value)\" holds whitespace")
                }
                if perChangeoverLabels.contains(label) {
                    problems.append("line \(number): label \(label) makes a series per changeover")
                }
            }
            if types[family] == "counter", sample.value < 0 {
                problems.append("line \(number): counter \(sample.name) is negative")
            }
            samples.append((family, sample))
        }
        for (family, type) in types where type == "histogram" {
            problems += histogramProblems(family, samples.filter { $0.family == family }.map(\.sample))
        }
        return problems
    }

    /// Every sample of a scrape (comments left out); nil if one line is not a sample.
    public static func samples(in text: String) -> [Sample]? {
        var result: [Sample] = []
        for line in text.components(separatedBy: "\n") where !line.isEmpty && !line.hasPrefix("#") {
            guard let sample = parseSample(line) else { return nil }
            result.append(sample)
        }
        return result
    }

    static func histogramProblems(_ family: String, _ samples: [Sample]) -> [String] {
        var problems: [String] = []
        var groups: [[String: String]: [Sample]] = [:]
        for sample in samples {
            var labels = sample.labels
            labels["le"] = nil
            groups[labels, default: []].append(sample)
        }
        for (labels, group) in groups {
            let name = "\(family)\(labels.isEmpty ? "" : "\(labels.sorted { $0.key < $1.key })")"
            var buckets: [(le: Double, count: Double)] = []
            for sample in group where sample.name == "\(family)_bucket" {
                guard let text = sample.labels["le"], let le = text == "+Inf" ? Double.infinity : Double(text) else {
                    problems.append("\(name): a bucket without a valid le")
                    continue
                }
                buckets.append((le, sample.value))
            }
            if buckets.map(\.le) != buckets.map(\.le).sorted() {
                problems.append("\(name): buckets not in ascending le")
            }
            if zip(buckets, buckets.dropFirst()).contains(where: { $0.count > $1.count }) {
                problems.append("\(name): bucket counts fall")
            }
            guard let infinity = buckets.last, infinity.le == .infinity else {
                problems.append("\(name): no +Inf bucket")
                continue
            }
            guard let count = group.first(where: { $0.name == "\(family)_count" }) else {
                problems.append("\(name): no _count")
                continue
            }
            if count.value != infinity.count {
                problems.append("\(name): _count \(count.value) is not the +Inf bucket's \(infinity.count)")
            }
            if !group.contains(where: { $0.name == "\(family)_sum" }) { problems.append("\(name): no _sum") }
        }
        return problems
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == ":"
        }
    }

    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first), !name.hasPrefix("__") else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
    }

    /// `name{label="value",…} value [timestamp]`.
    static func parseSample(_ line: String) -> Sample? {
        let scalars = Array(line.unicodeScalars)
        var index = 0
        var name = ""
        while index < scalars.count, scalars[index] != "{", scalars[index] != " " {
            name.unicodeScalars.append(scalars[index])
            index += 1
        }
        guard isMetricName(name) else { return nil }
        var labels: [String: String] = [:]
        if index < scalars.count, scalars[index] == "{" {
            index += 1
            while index < scalars.count, scalars[index] != "}" {
                var label = ""
                while index < scalars.count, scalars[index] != "=" {
                    label.unicodeScalars.append(scalars[index])
                    index += 1
                }
                guard isLabelName(label), labels[label] == nil, index + 1 < scalars.count, scalars[index + 1] == "\""
                else { return nil }
                index += 2
                var value = ""
                while index < scalars.count, scalars[index] != "\"" {
                    if scalars[index] == "\\" {
                        guard index + 1 < scalars.count else { return nil }
                        switch scalars[index + 1] {
                        case "\\": value += "\\"
                        case "\"": value += "\""
                        case "n": value += "\n"
                        default: return nil
                        }
                        index += 2
                    } else {
                        value.unicodeScalars.append(scalars[index])
                        index += 1
                    }
                }
                guard index < scalars.count else { return nil }
                index += 1
                labels[label] = value
                if index < scalars.count, scalars[index] == "," {
                    index += 1
                } else if index < scalars.count, scalars[index] != "}" {
                    return nil
                }
            }
            guard index < scalars.count else { return nil }
            index += 1
        }
        let rest = String(String.UnicodeScalarView(scalars[index...])).split(
            separator: " ", omittingEmptySubsequences: true)
        guard (1...2).contains(rest.count), let value = number(String(rest[0])) else { return nil }
        if rest.count == 2, Int64(rest[1]) == nil { return nil }
        return Sample(name: name, labels: labels, value: value)
    }

    static func number(_ text: String) -> Double? {
        switch text {
        case "+Inf", "Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(text)
        }
    }
}

import Foundation
import PostgresClient
import Testing
import Yams

@testable import ChangeoverCore

/// The config is decoded from composed nodes a part at a time (`NodeDecoder`); it must read
/// every document as Yams's own `YAMLDecoder` reads the whole text.
@Suite struct NodeDecoderTests {
    struct Sample: Decodable, Equatable {
        var name: String
        var port: Int?
        var ratio: Double?
        var enabled: Bool?
        var tags: [String]?
        var labels: [String: String]?
        var nested: Nested?
        var optionals: [Int?]?
        var matrix: [[Int]]?

        struct Nested: Decodable, Equatable {
            var size: UInt16
            var note: String?
        }
    }

    /// What each decoder makes of `text`: the value, or that it failed.
    static func both(_ text: String) -> (yams: Result<Sample, DecodeFailure>, ours: Result<Sample, DecodeFailure>) {
        let yams = Result { try YAMLDecoder().decode(Sample.self, from: text) }.mapError {
            DecodeFailure(String(describing: $0))
        }
        let ours = Result { () throws -> Sample in
            guard let node = try NodeDecoder.compose(text) else { throw DecodeFailure("empty") }
            return try NodeDecoder.decode(Sample.self, from: node)
        }.mapError { DecodeFailure(String(describing: $0)) }
        return (yams, ours)
    }

    struct DecodeFailure: Error, Equatable {
        var text: String
        init(_ text: String) { self.text = text }
    }

    @Test(arguments: [
        "name: a",
        "name: a\nport: 5432\nratio: 0.25\nenabled: true",
        "name: 'quoted: yes'\nport: 0x1F\nenabled: off",
        "name: a\ntags: [x, y, 'z z']\nlabels: {tier: production, zone: eu-1}",
        "name: a\nnested: {size: 65535, note: ~}",
        "name: a\noptionals: [1, null, 3, ~]",
        "name: a\nmatrix: [[1, 2], [], [3]]",
        "name: first\nname: second",
        "<<: {name: merged, port: 1}\nport: 2",
        "<<: [{name: one}, {name: two, port: 7}]",
        "name: a\nport:",
        "name: a\nlabels:\n  k: 12\n  j: true",
        "name: 123",
        "name:\n  multi: line",
        // Failures: both must refuse.
        "port: 1",
        "name: a\nport: twelve",
        "name: a\nport: 1.5",
        "name: a\nnested: {size: 70000}",
        "name: a\nnested: {note: n}",
        "name: a\ntags: x",
        "name: a\nlabels: [a, b]",
        "name: [a]",
    ])
    func decodesAsYamsDecodesTheText(_ text: String) {
        let (yams, ours) = Self.both(text)
        switch (yams, ours) {
        case (.success(let a), .success(let b)):
            #expect(a == b, "\(text.debugDescription)")
        case (.failure, .failure):
            break
        default:
            Issue.record("\(text.debugDescription): Yams \(yams), NodeDecoder \(ours)")
        }
    }

    @Test func errorsNameThePathFromThePrefixGivenAndNeverTheValue() throws {
        let node = try #require(try NodeDecoder.compose("name: a\nnested: {size: hunter2}"))
        do {
            _ = try NodeDecoder.decode(
                Sample.self, from: node, codingPath: [NodeDecoder.Key("databases"), NodeDecoder.Key("orders")])
            Issue.record("decoded")
        } catch let error as DecodingError {
            let text = FleetConfig.describe(error)
            #expect(text.hasPrefix("wrong type at databases.orders.nested.size: "), "\(text)")
            #expect(!text.contains("hunter2"), "\(text)")
        }
    }

    @Test func aDatabaseNamedTwiceKeepsItsLastStanzaAndDatabasesMustBeAMapping() throws {
        let head = "provisioner: {root: /n}\nimages: {pg15: {binDirectory: /b}}\n"
        let config = try FleetConfig.parse(
            head + """
                databases:
                  b: {image: pg15, primary: "host=first"}
                  a: {image: pg15, primary: "host=a"}
                  b: {image: pg15, primary: "host=second"}
                """)
        #expect(config.databases.keys.sorted() == ["a", "b"])
        #expect(config.databases["b"]?.primary == .postgres(try ConnInfo("host=second")))

        #expect(try FleetConfig.parse(head + "databases:\n").databases.isEmpty)
        func error(_ text: String) -> String? {
            do {
                _ = try FleetConfig.parse(head + text)
                return nil
            } catch { return error.description }
        }
        #expect(
            error("databases: [a, b]")
                == "malformed config config: wrong type at databases: a mapping of database names to their settings is expected"
        )
        // The first bad stanza in name order is the one named, whatever the file's order.
        #expect(
            error("databases:\n  z: {image: pg15}\n  a: {image: pg15}\n")
                == "malformed config config: missing key \"primary\" in databases.a")
    }
}

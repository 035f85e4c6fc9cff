import Foundation
import Testing

@testable import ChangeoverCore

/// The exec provisioner's config keys, bad input about them in one line each, and how its
/// replies are read.
@Suite struct ExecProvisionerConfigTests {
    static let valid = """
        stateDirectory: /var/lib/changeover
        provisioner:
          kind: exec
          command: /bin/sh -c provision
          timeout: 90s
        images:
          pg15: {labels: {tag: "postgres:15"}}
          pg15-patched: {labels: {tag: "postgres:15-patched"}}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=25432 user=postgres dbname=postgres"
            password: {env: ORDERS_PASSWORD}
        """

    @Test func parsesAnExecConfig() throws {
        let config = try FleetConfig.parse(Self.valid)
        #expect(config.provisioner.kind == .exec)
        #expect(config.provisioner.command == ["/bin/sh", "-c", "provision"])
        #expect(config.provisioner.timeout == .seconds(90))
        #expect(try config.image("pg15-patched").labels == ["tag": "postgres:15-patched"])
        let list = try FleetConfig.parse(
            Self.valid.replacingOccurrences(
                of: "command: /bin/sh -c provision\n  timeout: 90s",
                with: "command: [sh, -c, \"a b\"]"))
        #expect(list.provisioner.command.count == 3 && list.provisioner.command[2] == "a b")
        #expect(list.provisioner.command[0].hasSuffix("/sh") && list.provisioner.command[0].hasPrefix("/"))
        #expect(list.provisioner.timeout == .seconds(300))
    }

    @Test(arguments: [
        ("  command: /bin/sh -c provision\n", "", "the exec provisioner needs provisioner.command"),
        ("command: /bin/sh -c provision", "command: \"\"", "the exec provisioner needs provisioner.command"),
        (
            "command: /bin/sh", "command: /nonexistent/provisioner",
            "provisioner.command /nonexistent/provisioner does not exist"
        ),
        ("command: /bin/sh", "command: /etc/passwd", "provisioner.command /etc/passwd is not an executable file"),
        ("command: /bin/sh", "command: /tmp", "provisioner.command /tmp is not an executable file"),
        (
            "command: /bin/sh", "command: no-such-provisioner-program",
            "provisioner.command no-such-provisioner-program is not a program on PATH"
        ),
        ("timeout: 90s", "timeout: soon", "provisioner.timeout: \"soon\" is not a duration"),
        ("timeout: 90s", "timeout: 0s", "provisioner.timeout must be longer than 0 s"),
        ("    password: {env: ORDERS_PASSWORD}", "    container: orders-pg", "container: needs the docker provisioner"),
    ])
    func badExecInputIsOneLine(_ replaced: String, _ replacement: String, _ expected: String) {
        let text = Self.valid.replacingOccurrences(of: replaced, with: replacement)
        #expect(text != Self.valid)
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text, source: "f.yaml") }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "no error")")
        #expect(error?.description.contains("\n") == false)
    }

    @Test func repliesAreReadLeniently() throws {
        let reply = try JSONDecoder().decode(
            JSONValue.self,
            from: Data(#"{"host":"10.0.0.5","port":"5433","facts":{"pid":123,"ok":true,"x":null}}"#.utf8))
        #expect(reply["port"]?.int == 5433)
        #expect(reply["facts"]?.textDictionary == ["pid": "123", "ok": "true"])
        let encoded = String(decoding: try JSONEncoder().encode(JSONValue.object(["port": 5432])), as: UTF8.self)
        #expect(encoded == #"{"port":5432}"#)
    }

    @Test func secretsAreMaskedInRepliesAndErrors() {
        #expect(
            ExecCommand.mask("auth failed for s3cret (s3cret)", ["s3cret", ""])
                == "auth failed for [redacted] ([redacted])")
        let masked = ExecCommand.mask(["facts": .object(["conninfo": "password=s3cret"])], ["s3cret"])
        #expect(masked["facts"]?["conninfo"]?.string == "password=[redacted]")
        #expect(ExecProvisioner.unquote(#""a\"b\\c""#) == #"a"b\c"#)
    }
}

import Foundation
import Testing

@testable import ChangeoverCore

/// The docker provisioner's config keys, and bad input about them in one line each.
@Suite struct DockerProvisionerConfigTests {
    static let valid = """
        stateDirectory: /var/lib/changeover
        provisioner:
          kind: docker
          socket: /var/lib/changeover-docker/docker.sock
          labels: {team: databases}
        images:
          pg15: {docker: {image: "changeover/postgres:15-old"}}
          pg15-patched: {docker: {image: "changeover/postgres:15-patched"}}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=25432 user=postgres dbname=postgres"
            container: orders-pg
            password: {env: ORDERS_PASSWORD}
        """

    @Test func parsesADockerConfig() throws {
        let config = try FleetConfig.parse(Self.valid)
        #expect(config.provisioner.kind == .docker)
        #expect(config.provisioner.socket == "/var/lib/changeover-docker/docker.sock")
        #expect(config.provisioner.labels == ["team": "databases"])
        #expect(try config.image("pg15-patched").docker == "changeover/postgres:15-patched")
        #expect(try config.database("orders").container == "orders-pg")
        let url = try FleetConfig.parse(
            Self.valid.replacingOccurrences(of: "socket: /var", with: "socket: unix:///var"))
        #expect(url.provisioner.socket == "/var/lib/changeover-docker/docker.sock")
    }

    @Test(arguments: [
        (
            "  socket: /var/lib/changeover-docker/docker.sock\n", "",
            "the docker provisioner needs provisioner.socket (the Docker engine's unix socket)"
        ),
        (
            "pg15-patched: {docker: {image: \"changeover/postgres:15-patched\"}}",
            "pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}",
            "image pg15-patched: the docker provisioner needs docker.image"
        ),
        (
            "    container: orders-pg\n", "",
            "database orders: the docker provisioner needs the primary's container (container: NAME)"
        ),
        (
            "container: orders-pg", "container: ../../images/x",
            "container \"../../images/x\" is not a Docker container name"
        ),
        ("changeover/postgres:15-old", "changeover/postgres:15 old?x=1", "is not an image reference"),
        (
            "kind: docker", "kind: kubernetes",
            "unknown provisioner kind \"kubernetes\" (known: local, docker, exec, ssh)"
        ),
        ("kind: docker", "kind: local", "the local provisioner needs provisioner.root"),
    ])
    func badDockerInputIsOneLine(_ replaced: String, _ replacement: String, _ expected: String) {
        let text = Self.valid.replacingOccurrences(of: replaced, with: replacement)
        #expect(text != Self.valid)
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text, source: "f.yaml") }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "no error")")
        #expect(error?.description.contains("\n") == false)
    }

    @Test func localProvisionerRefusesContainersAndDockerOnlyImages() {
        let local = """
            provisioner: {root: /n}
            images:
              pg15: {binDirectory: /b}
              pg15-patched: {binDirectory: /b}
            databases:
              orders: {image: pg15, primary: "host=h", container: orders-pg}
            """
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(local, source: "f.yaml") }
        #expect(
            error?.description
                == "config f.yaml, database orders: container: needs the docker provisioner (provisioner: {kind: docker, socket: …})"
        )
        let dockerOnly = local.replacingOccurrences(
            of: "pg15-patched: {binDirectory: /b}", with: "pg15-patched: {docker: {image: x}}"
        )
        .replacingOccurrences(of: ", container: orders-pg", with: "")
        let image = #expect(throws: ConfigError.self) { try FleetConfig.parse(dockerOnly, source: "f.yaml") }
        #expect(image?.description == "config f.yaml, image pg15-patched: the local provisioner needs binDirectory")
    }

    @Test func followerNamesAreDockerNames() {
        let name = DockerNames.follower(changeover: "orders-20261129-101500-1a2b")
        #expect(name == "changeover-orders-20261129-101500-1a2b")
        #expect(DockerNames.isContainerName(DockerNames.follower(changeover: "a/b c:ü")))
        #expect(
            !DockerNames.isContainerName("-x") && !DockerNames.isContainerName("a/b")
                && !DockerNames.isContainerName(""))
        #expect(DockerNames.isImageReference("changeover/postgres:15-patched"))
        #expect(DockerNames.isImageReference("sha256:e11210b8fbc4"))
        #expect(
            !DockerNames.isImageReference("../x") && !DockerNames.isImageReference("x?y")
                && !DockerNames.isImageReference("a b"))
    }
}

/// The Engine API's HTTP framing, read without an engine.
@Suite struct HTTPExchangeTests {
    @Test func chunkedRepliesAreJoined() throws {
        let raw = Array(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n5\r\n:\"b\"}\r\n0\r\n\r\n"
                .utf8)
        let response = try HTTPExchange.parse(raw)
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"a\":\"b\"}")
        #expect(response.headers["content-type"] == "application/json")
    }

    @Test func contentLengthBoundsTheBody() throws {
        let response = try HTTPExchange.parse(Array("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}junk".utf8))
        #expect(response.status == 404 && response.body == Array("{}".utf8))
        #expect(throws: HTTPExchange.Failure.self) { try HTTPExchange.parse([]) }
        #expect(throws: HTTPExchange.Failure.self) { try HTTPExchange.parse(Array("SSH-2.0\r\n\r\n".utf8)) }
    }

    @Test func execStreamsAreDemultiplexed() {
        func frame(_ stream: UInt8, _ text: String) -> [UInt8] {
            let payload = Array(text.utf8)
            let n = UInt32(payload.count)
            return [stream, 0, 0, 0, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
                + payload
        }
        let streams = DockerStreams.demultiplex(frame(1, "out ") + frame(2, "err") + frame(1, "put") + [1, 0, 0])
        #expect(String(decoding: streams.stdout, as: UTF8.self) == "out put")
        #expect(String(decoding: streams.stderr, as: UTF8.self) == "err")
    }

    /// The engine's message, one line, and never the request body.
    @Test func errorsAreOneLine() {
        let error = DockerError(
            code: .conflict, call: "create container x", status: 409, message: "Conflict.\nThe name is in use")
        #expect(error.description == "docker: create container x failed: Conflict. The name is in use (HTTP 409)")
    }
}

// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The Docker Engine API's JSON keys are capitalised; the decoding types keep its spelling.

import Foundation

/// The Docker Engine API over its unix socket (HTTP/1.1, JSON), the calls the docker provisioner
/// needs: containers (create, start, kill, stop, wait, remove, inspect, logs, exec), volumes and
/// images. One connection per request, on a thread of its own (see `HTTPExchange`). Errors are one
/// line (`DockerError`) and never hold a request body: container environments carry passwords.
public struct DockerEngineClient: Sendable {
    /// The engine's socket, e.g. /var/lib/changeover-docker/docker.sock.
    public var socketPath: String
    /// The API version every path is pinned to; 1.41 is Engine 20.10's (Debian 12's docker.io).
    public var apiVersion: String
    /// The deadline of a call that does not say otherwise.
    public var timeout: Duration

    public init(socket: String, apiVersion: String = "1.41", timeout: Duration = .seconds(30)) {
        socketPath = socket.hasPrefix("unix://") ? String(socket.dropFirst("unix://".count)) : socket
        self.apiVersion = apiVersion
        self.timeout = timeout
    }

    // MARK: engine

    /// The engine's version and API version; throws when nothing answers.
    public func version() async throws(DockerError) -> (version: String, apiVersion: String) {
        struct Version: Decodable {
            var Version: String?
            var ApiVersion: String?
        }
        let version = try decode(
            Version.self, try await call("GET", "/version", what: "ask the engine its version"),
            what: "ask the engine its version")
        return (version.Version ?? "?", version.ApiVersion ?? "?")
    }

    // MARK: images

    public func image(_ reference: String) async throws(DockerError) -> DockerImage {
        let what = "inspect image \(reference)"
        return try decode(DockerImage.self, try await call("GET", "/images/\(reference)/json", what: what), what: what)
    }

    // MARK: volumes

    public func createVolume(_ name: String, labels: [String: String]) async throws(DockerError) {
        struct Body: Encodable {
            var Name: String
            var Labels: [String: String]
        }
        _ = try await call(
            "POST", "/volumes/create", body: try encode(Body(Name: name, Labels: labels)), what: "create volume \(name)"
        )
    }

    /// The volume, or nil when there is none by that name.
    public func volume(_ name: String) async throws(DockerError) -> DockerVolume? {
        let what = "inspect volume \(name)"
        do throws(DockerError) {
            return try decode(DockerVolume.self, try await call("GET", "/volumes/\(name)", what: what), what: what)
        } catch  where error.code == .notFound {
            return nil
        }
    }

    /// Removes a volume; one that is already gone is fine.
    public func removeVolume(_ name: String) async throws(DockerError) {
        do throws(DockerError) {
            _ = try await call("DELETE", "/volumes/\(name)", what: "remove volume \(name)")
        } catch  where error.code == .notFound {}
    }

    /// Names of the volumes that carry `label` ("key=value" or "key").
    public func volumes(label: String) async throws(DockerError) -> [String] {
        struct List: Decodable {
            struct Volume: Decodable { var Name: String }
            var Volumes: [Volume]?
        }
        let what = "list volumes labelled \(label)"
        let list = try decode(
            List.self, try await call("GET", "/volumes", query: ["filters": filters(label: label)], what: what),
            what: what)
        return (list.Volumes ?? []).map(\.Name).sorted()
    }

    // MARK: containers

    /// Creates a container; returns its Id. A taken name is a `.conflict`.
    public func createContainer(_ name: String, _ spec: DockerContainerSpec) async throws(DockerError) -> String {
        struct Created: Decodable { var Id: String }
        let what = "create container \(name)"
        let reply = try await call(
            "POST", "/containers/create", query: ["name": name], body: try encode(spec), what: what)
        return try decode(Created.self, reply, what: what).Id
    }

    /// Starts a container; one already running is fine. Returns once the process runs, not
    /// when the server in it is ready.
    public func start(_ container: String) async throws(DockerError) {
        _ = try await call("POST", "/containers/\(container)/start", what: "start container \(container)")
    }

    /// Sends `signal` to the container's main process; a container that is not running is fine.
    public func kill(_ container: String, signal: String) async throws(DockerError) {
        do throws(DockerError) {
            _ = try await call(
                "POST", "/containers/\(container)/kill", query: ["signal": signal],
                what: "send \(signal) to container \(container)")
        } catch  where error.code == .conflict {}  // "is not running"
    }

    /// Stops a container (its stop signal, then SIGKILL after `grace`); a stopped one is fine.
    public func stop(_ container: String, grace: Duration) async throws(DockerError) {
        let seconds = Int(grace.seconds.rounded(.up))
        _ = try await call(
            "POST", "/containers/\(container)/stop", query: ["t": String(seconds)],
            what: "stop container \(container)", timeout: grace + timeout)
    }

    /// Waits until the container is not running; returns its exit code.
    @discardableResult
    public func wait(_ container: String, timeout limit: Duration) async throws(DockerError) -> Int {
        struct Waited: Decodable { var StatusCode: Int }
        let what = "wait for container \(container) to stop"
        let reply = try await call(
            "POST", "/containers/\(container)/wait", query: ["condition": "not-running"],
            what: what, timeout: limit)
        return try decode(Waited.self, reply, what: what).StatusCode
    }

    /// Removes a container (killing it when `force`, which skips a clean shutdown); one that is
    /// already gone is fine. Its named volumes stay.
    public func removeContainer(_ container: String, force: Bool = true) async throws(DockerError) {
        do throws(DockerError) {
            _ = try await call(
                "DELETE", "/containers/\(container)", query: ["force": force ? "1" : "0", "v": "1"],
                what: "remove container \(container)")
        } catch  where error.code == .notFound {}
    }

    /// Changes a container's restart policy ("no", "always", "unless-stopped", "on-failure").
    public func update(_ container: String, restartPolicy: String) async throws(DockerError) {
        struct Body: Encodable {
            struct Policy: Encodable { var Name: String }
            var RestartPolicy: Policy
        }
        _ = try await call(
            "POST", "/containers/\(container)/update",
            body: try encode(Body(RestartPolicy: .init(Name: restartPolicy))),
            what: "set the restart policy of container \(container)")
    }

    public func container(_ container: String) async throws(DockerError) -> DockerContainer {
        let what = "inspect container \(container)"
        return try decode(
            DockerContainer.self, try await call("GET", "/containers/\(container)/json", what: what), what: what)
    }

    /// The container, or nil when there is none by that name.
    public func containerIfExists(_ name: String) async throws(DockerError) -> DockerContainer? {
        do throws(DockerError) {
            return try await container(name)
        } catch  where error.code == .notFound {
            return nil
        }
    }

    /// Names (without the leading "/") of the containers, running or not, that carry `label`.
    public func containers(label: String) async throws(DockerError) -> [String] {
        struct Listed: Decodable { var Names: [String]? }
        let what = "list containers labelled \(label)"
        let list = try decode(
            [Listed].self,
            try await call(
                "GET", "/containers/json",
                query: ["all": "1", "filters": filters(label: label)], what: what),
            what: what)
        return list.compactMap { $0.Names?.first.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 } }.sorted()
    }

    /// The last `tail` lines of the container's output (stdout and stderr interleaved by stream).
    public func logs(_ container: String, tail: Int = 20) async throws(DockerError) -> String {
        let reply = try await call(
            "GET", "/containers/\(container)/logs",
            query: ["stdout": "1", "stderr": "1", "tail": String(tail)], what: "read the logs of \(container)")
        let streams = DockerStreams.demultiplex(reply.body)
        return String(decoding: streams.stdout + streams.stderr, as: UTF8.self)
    }

    /// What a command run in a container printed and how it ended.
    public struct ExecResult: Sendable {
        public var exitCode: Int
        public var stdout: String
        public var stderr: String
        public var lastErrorLine: String {
            (stderr.split(whereSeparator: \.isNewline).last ?? stdout.split(whereSeparator: \.isNewline).last)
                .map(String.init) ?? ""
        }
    }

    /// Runs `command` in a running container (as `user`, root when nil) and waits for it.
    public func exec(
        _ container: String, _ command: [String], user: String? = nil, environment: [String] = [],
        timeout limit: Duration
    ) async throws(DockerError) -> ExecResult {
        struct Body: Encodable {
            var AttachStdout = true
            var AttachStderr = true
            var Cmd: [String]
            var User: String?
            var Env: [String]
        }
        struct Created: Decodable { var Id: String }
        struct Start: Encodable {
            var Detach = false
            var Tty = false
        }
        struct Inspected: Decodable {
            var ExitCode: Int?
            var Running: Bool?
        }
        let what = "run \(command.first ?? "a command") in container \(container)"
        let created = try decode(
            Created.self,
            try await call(
                "POST", "/containers/\(container)/exec",
                body: try encode(Body(Cmd: command, User: user, Env: environment)),
                what: what), what: what)
        let output = try await call(
            "POST", "/exec/\(created.Id)/start", body: try encode(Start()), what: what, timeout: limit)
        let streams = DockerStreams.demultiplex(output.body)
        let inspected = try decode(
            Inspected.self, try await call("GET", "/exec/\(created.Id)/json", what: what), what: what)
        return ExecResult(
            exitCode: inspected.ExitCode ?? -1, stdout: String(decoding: streams.stdout, as: UTF8.self),
            stderr: String(decoding: streams.stderr, as: UTF8.self))
    }

    /// Runs a one-shot container to completion (create, start, wait, read its output, remove).
    public func run(_ name: String, _ spec: DockerContainerSpec, timeout limit: Duration) async throws(DockerError)
        -> ExecResult
    {
        try? await removeContainer(name)
        _ = try await createContainer(name, spec)
        do throws(DockerError) {
            try await start(name)
            let code = try await wait(name, timeout: limit)
            let reply = try await call(
                "GET", "/containers/\(name)/logs", query: ["stdout": "1", "stderr": "1"],
                what: "read the output of \(name)")
            let streams = DockerStreams.demultiplex(reply.body)
            try await removeContainer(name)
            return ExecResult(
                exitCode: code, stdout: String(decoding: streams.stdout, as: UTF8.self),
                stderr: String(decoding: streams.stderr, as: UTF8.self))
        } catch {
            try? await removeContainer(name)
            throw error
        }
    }

    // MARK: plumbing

    /// One request; a status of 300 or more becomes a `DockerError` with the engine's message.
    func call(
        _ method: String, _ path: String, query: [String: String] = [:], body: [UInt8]? = nil,
        what: String, timeout limit: Duration? = nil
    ) async throws(DockerError) -> HTTPExchange.Response {
        var target = "/v\(apiVersion)\(path)"
        if !query.isEmpty {
            target +=
                "?"
                + query.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.escape($0.value))" }.joined(separator: "&")
        }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: docker\r\nUser-Agent: changeover\r\nConnection: close\r\n"
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        } else if method == "POST" {
            head += "Content-Length: 0\r\n"
        }
        let request = Array((head + "\r\n").utf8) + (body ?? [])
        let response: HTTPExchange.Response
        do throws(HTTPExchange.Failure) {
            response = try await HTTPExchange.exchange(socket: socketPath, request: request, timeout: limit ?? timeout)
        } catch {
            let code: DockerError.Code =
                switch error.kind {
                case .unreachable: .unreachable
                case .timeout: .timeout
                case .cancelled: .cancelled
                case .malformed: .failed
                }
            throw DockerError(code: code, call: what, message: error.message)
        }
        guard response.status < 300 || response.status == 304 else {
            struct Message: Decodable { var message: String? }
            let message =
                (try? JSONDecoder().decode(Message.self, from: Data(response.body)))?.message
                ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            let code: DockerError.Code =
                switch response.status {
                case 404: .notFound
                case 409: .conflict
                default: .failed
                }
            throw DockerError(code: code, call: what, status: response.status, message: message)
        }
        return response
    }

    func decode<T: Decodable>(_ type: T.Type, _ response: HTTPExchange.Response, what: String) throws(DockerError) -> T
    {
        do {
            return try JSONDecoder().decode(type, from: Data(response.body))
        } catch {
            throw DockerError(
                code: .failed, call: what, status: response.status, message: "the engine's reply could not be read")
        }
    }

    func encode<T: Encodable>(_ value: T) throws(DockerError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            throw DockerError(
                code: .failed, call: "encode a request", message: "\(type(of: value)) could not be encoded")
        }
    }

    func filters(label: String) -> String {
        let data = (try? JSONEncoder().encode(["label": [label]])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func escape(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}

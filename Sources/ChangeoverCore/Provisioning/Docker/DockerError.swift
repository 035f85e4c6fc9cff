/// A failed Docker Engine API call, in one line: what was asked and what the engine said.
/// Never holds a request body (container environments carry passwords).
public struct DockerError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// Nothing answers on the socket, or the connection broke.
        case unreachable
        case timeout
        case cancelled
        /// 404: no such container, image, volume or exec.
        case notFound
        /// 409: a name is taken, a volume is in use, a container is not running.
        case conflict
        /// Any other status, or a reply that could not be read.
        case failed
    }

    public var code: Code
    /// What was asked: "create container changeover-orders-1".
    public var call: String
    /// The HTTP status, when the engine answered.
    public var status: Int?
    /// The engine's `message`, or what went wrong below HTTP.
    public var message: String

    public init(code: Code, call: String, status: Int? = nil, message: String) {
        self.code = code
        self.call = call
        self.status = status
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var description: String {
        "docker: \(call) failed: \(message)" + (status.map { " (HTTP \($0))" } ?? "")
    }
}

import RedisClient
import Testing

@Suite
struct RedisErrorTests {
    @Test func descriptionNamesCodeEndpointAndMessage() {
        let error = RedisError(
            code: .authenticationFailed,
            message: "WRONGPASS invalid username-password pair or user is disabled.",
            endpoint: "127.0.0.1:6380")
        #expect(
            error.description
                == "authentication failed at 127.0.0.1:6380: WRONGPASS invalid username-password pair or user is disabled."
        )
        #expect(
            RedisError(code: .protocolError, message: "unexpected ROLE reply", endpoint: nil).description
                == "protocol error: unexpected ROLE reply")
    }

    @Test func messageIsKeptOnOneLine() {
        let error = RedisError(code: .serverError, message: "first\r\nsecond\n", endpoint: nil)
        #expect(error.message == "first second")
    }

    @Test func endpointDescriptionIsHostAndPortOnly() {
        let endpoint = RedisEndpoint(host: "db.example", port: 6379, user: "u", password: "hunter2")
        #expect(endpoint.description == "db.example:6379")
        #expect(RedisEndpoint(host: "::1", port: 6379).description == "[::1]:6379")
    }
}

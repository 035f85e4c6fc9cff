/// The framing of a Docker exec's or container's log output when no TTY is attached.
enum DockerStreams {
    /// Demultiplexes a non-TTY exec or log stream: frames of an 8-byte header (byte 0: 1 stdout,
    /// 2 stderr; bytes 4-7: the payload's length, big-endian) and the payload.
    static func demultiplex(_ bytes: [UInt8]) -> (stdout: [UInt8], stderr: [UInt8]) {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var index = 0
        while index + 8 <= bytes.count {
            let length = bytes[index + 4..<index + 8].reduce(0) { $0 << 8 | Int($1) }
            let start = index + 8
            let end = min(start + length, bytes.count)
            if bytes[index] == 2 { stderr += bytes[start..<end] } else { stdout += bytes[start..<end] }
            index = end
        }
        return (stdout, stderr)
    }
}

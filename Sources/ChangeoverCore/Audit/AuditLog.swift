import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An append-only, hash-chained audit log in JSON Lines format.
///
/// Every `append` takes an exclusive `flock` on the log, checks the last record
/// (and the sidecar `<path>.head` file) under the lock, writes one line with a
/// single `write(2)`, `fsync`s the log before returning, then atomically rewrites
/// the head file. Several processes (or threads) may append to the same log.
public final class AuditLog: Sendable {
    public let path: String
    let headPath: String

    /// Opens (creating if missing) the log at `path`. Missing parent directories are
    /// created with mode 0700, the log with mode 0600. For an empty log without a
    /// head file, a head file recording 0 records is written.
    public init(path: String) throws {
        guard !path.isEmpty else { throw AuditError("audit log path is empty") }
        self.path = path
        self.headPath = AuditHead.path(forLog: path)
        try AuditFileIO.makeParentDirectories(of: path)
        let fd = AuditFileIO.retryingEINTR { open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw AuditError.system("cannot open audit log", path: path, errno: errno) }
        defer { close(fd) }
        try AuditFileIO.lockExclusive(fd, path: path)
        let size = try AuditFileIO.size(of: fd, path: path)
        if size == 0, case .missing = AuditHead.read(logPath: path) {
            try AuditFileIO.writeHead(AuditHead(records: 0, hash: AuditRecord.genesisHash), logPath: path)
        }
    }

    /// Appends a record for `entry` and returns it once it is durable on disk.
    /// Throws (and writes nothing) if the log's last record is malformed or altered,
    /// or if the head file shows the log was truncated.
    @discardableResult
    public func append(_ entry: AuditEntry, actor: String, time: Date) throws -> AuditRecord {
        try append([entry], actor: actor, time: time)[0]
    }

    /// Appends records for `entries`, in order, with one write and one fsync, and returns them
    /// once they are durable: a step's outcome and the next step's start cost one sync.
    /// With `sync: false` the records are written (a killed process loses none of them) but not
    /// synced; the next synced append makes them durable too.
    @discardableResult
    public func append(_ entries: [AuditEntry], actor: String, time: Date, sync: Bool = true) throws -> [AuditRecord] {
        guard !entries.isEmpty else { return [] }
        let fd = AuditFileIO.retryingEINTR { open(path, O_RDWR | O_APPEND | O_CLOEXEC) }
        guard fd >= 0 else { throw AuditError.system("cannot open audit log", path: path, errno: errno) }
        defer { close(fd) }  // closing releases the flock
        try AuditFileIO.lockExclusive(fd, path: path)

        let size = try AuditFileIO.size(of: fd, path: path)
        var tail = try lastRecordState(fd: fd, size: size)
        var lines: [UInt8] = []
        var records: [AuditRecord] = []
        for entry in entries {
            // A last record numbered Int.max (its hash is easy to forge) must not trap here.
            let (seq, overflow) = tail.seq.addingReportingOverflow(1)
            guard !overflow else {
                throw AuditError(
                    "cannot append to audit log \(path): its last record is numbered \(tail.seq), the largest number there is"
                )
            }
            let body = AuditRecordBody(
                version: AuditRecord.currentVersion,
                seq: seq,
                time: AuditTime.format(time),
                actor: actor,
                changeover: entry.changeover,
                database: entry.database,
                step: entry.step,
                outcome: entry.outcome,
                message: entry.message,
                facts: entry.facts,
                prev: tail.hash
            )
            let (line, hash) = try AuditLineFormat.encodeLine(body)
            do {
                records.append(try JSONDecoder().decode(AuditRecord.self, from: Data(line.dropLast())))
            } catch {
                throw AuditError("cannot encode audit record \(body.seq) for \(path): \(error)")
            }
            lines += line
            tail = (body.seq, hash)
        }

        try AuditFileIO.writeAll(fd, lines, path: path, restoringSize: size)
        guard !sync || AuditFileIO.retryingEINTR({ fsync(fd) }) == 0 else {
            throw AuditError.system("cannot fsync audit log", path: path, errno: errno)
        }
        try AuditFileIO.writeHead(AuditHead(records: tail.seq, hash: tail.hash), logPath: path, sync: sync)
        return records
    }

    /// The records of one changeover, oldest first, read as `read(path:)` reads them; lines
    /// that do not hold its id are not decoded.
    public static func read(path: String, changeover id: String) throws -> [AuditRecord] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            if !FileManager.default.fileExists(atPath: path) { return [] }
            throw AuditError("cannot read audit log \(path): \(error.localizedDescription)")
        }
        let bytes = [UInt8](data)
        let needle = Array(id.utf8)
        let decoder = JSONDecoder()
        let (lines, partialLast) = AuditLineFormat.splitLines(bytes)
        var records: [AuditRecord] = []
        for (index, range) in lines.enumerated() {
            if partialLast && index == lines.count - 1 { break }
            guard !needle.isEmpty, bytes[range].firstRange(of: needle) != nil else { continue }
            if let record = try? decoder.decode(AuditRecord.self, from: Data(bytes[range])), record.changeover == id {
                records.append(record)
            }
        }
        return records
    }

    /// Reads all records without checking hashes or the chain (for display).
    /// Lines that cannot be decoded, including a cut-off last line, are skipped;
    /// use `verify` to find out whether the log is intact.
    public static func read(path: String) throws -> [AuditRecord] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            if !FileManager.default.fileExists(atPath: path) {
                throw AuditError("no audit log at \(path)")
            }
            throw AuditError("cannot read audit log \(path): \(error.localizedDescription)")
        }
        let bytes = [UInt8](data)
        let decoder = JSONDecoder()
        let (lines, partialLast) = AuditLineFormat.splitLines(bytes)
        var records: [AuditRecord] = []
        for (index, range) in lines.enumerated() {
            if partialLast && index == lines.count - 1 { break }
            if range.isEmpty { continue }
            if let record = try? decoder.decode(AuditRecord.self, from: Data(bytes[range])) {
                records.append(record)
            }
        }
        return records
    }

    /// The seq and hash the next record must chain from, checked under the lock:
    /// the last line must be complete and unaltered, and agree with the head file.
    private func lastRecordState(fd: Int32, size: Int) throws -> (seq: Int, hash: String) {
        let refuse = { (reason: String) in AuditError("cannot append to audit log \(self.path): \(reason)") }
        let head: AuditHead?
        switch AuditHead.read(logPath: path) {
        case .missing: head = nil
        case .unreadable(let reason): throw refuse(reason)
        case .head(let h): head = h
        }
        if size == 0 {
            if let head, head.records > 0 {
                throw refuse("the log is empty but its head file says \(head.records) records were written")
            }
            return (0, AuditRecord.genesisHash)
        }
        let lastLine = try AuditFileIO.readLastLine(fd, size: size, path: path)
        guard let lastLine else { throw refuse("its last record is incomplete (the log does not end with a newline)") }
        let record: AuditRecord
        switch AuditLineFormat.check(lastLine) {
        case .malformed: throw refuse("its last record is malformed")
        case .hashMismatch: throw refuse("its last record was altered: its hash does not match its contents")
        case .valid(let r): record = r
        }
        guard let head else {
            throw refuse("its head file \(headPath) is missing, so the log's tail cannot be checked")
        }
        if head.records == record.seq && head.hash == record.hash {
            return (record.seq, record.hash)
        }
        // An earlier append was interrupted after its records were made durable but before
        // the head was rewritten: the head names an earlier record of the same chain.
        if head.records < record.seq, try headNamesEarlierRecord(head, fd: fd, size: size) {
            return (record.seq, record.hash)
        }
        if head.records > record.seq {
            throw refuse("the log ends at record \(record.seq) but \(head.records) were written")
        }
        throw refuse("its last record (\(record.seq)) does not match its head file (\(head.records) records)")
    }
}

extension AuditLog {
    /// Whether record `head.records` of the log carries `head.hash` (read in full: only after a crash).
    fileprivate func headNamesEarlierRecord(_ head: AuditHead, fd: Int32, size: Int) throws -> Bool {
        if head.records == 0 { return head.hash == AuditRecord.genesisHash }
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        let bytes = [UInt8](data)
        let (lines, _) = AuditLineFormat.splitLines(bytes)
        guard head.records <= lines.count,
            case .valid(let record) = AuditLineFormat.check(bytes[lines[head.records - 1]])
        else { return false }
        return record.seq == head.records && record.hash == head.hash
    }
}

/// Thin POSIX helpers for the audit log.
enum AuditFileIO {
    static func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result < 0 && errno == EINTR { continue }
            return result
        }
    }

    static func parentDirectory(of path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// Creates missing directories along the path with mode 0700; existing ones are left alone.
    static func makeParentDirectories(of path: String) throws {
        let parent = parentDirectory(of: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw AuditError("cannot create audit log \(path): \(parent) is not a directory")
            }
            return
        }
        var current = parent.hasPrefix("/") ? "" : "."
        for component in parent.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw AuditError.system("cannot create audit log directory", path: current, errno: errno)
            }
        }
    }

    static func lockExclusive(_ fd: Int32, path: String) throws {
        guard retryingEINTR({ flock(fd, LOCK_EX) }) == 0 else {
            throw AuditError.system("cannot lock audit log", path: path, errno: errno)
        }
    }

    static func size(of fd: Int32, path: String) throws -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw AuditError.system("cannot stat audit log", path: path, errno: errno) }
        return Int(info.st_size)
    }

    /// Writes the whole buffer (normally in one write(2)). If the write fails part-way,
    /// the file is truncated back to `restoringSize` so no partial line is left behind.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String, restoringSize: Int) throws {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                retryingEINTR { write(fd, buffer.baseAddress! + written, buffer.count - written) }
            }
            if n <= 0 {
                let code = n < 0 ? errno : EIO
                if written > 0 { _ = ftruncate(fd, off_t(restoringSize)) }
                throw AuditError.system("cannot write to audit log", path: path, errno: code)
            }
            written += n
        }
    }

    /// The bytes of the last line (without its newline), read from the end of the file.
    /// Returns nil if the file does not end with a newline.
    static func readLastLine(_ fd: Int32, size: Int, path: String) throws -> [UInt8]? {
        let chunk = 4096
        var end = size  // bytes[end...] already read into `collected`
        var collected: [UInt8] = []
        while end > 0 {
            let start = max(0, end - chunk)
            var buffer = [UInt8](repeating: 0, count: end - start)
            var got = 0
            while got < buffer.count {
                let n = buffer.withUnsafeMutableBytes { raw in
                    retryingEINTR { pread(fd, raw.baseAddress! + got, raw.count - got, off_t(start + got)) }
                }
                guard n > 0 else {
                    throw AuditError.system("cannot read audit log", path: path, errno: n < 0 ? errno : EIO)
                }
                got += n
            }
            collected = buffer + collected
            if collected.last != AuditLineFormat.newline { return nil }
            // Look for the newline ending the previous line (not the final one).
            if let index = collected.dropLast().lastIndex(of: AuditLineFormat.newline) {
                return Array(collected[(index + 1)..<(collected.count - 1)])
            }
            end = start
        }
        return Array(collected.dropLast())
    }

    /// Atomically replaces `<log>.head`: temp file, fsync, rename, fsync directory.
    static func writeHead(_ head: AuditHead, logPath: String, sync: Bool = true) throws {
        let headPath = AuditHead.path(forLog: logPath)
        let tempPath = headPath + ".tmp"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = Array((try? encoder.encode(head)) ?? Data()) + [AuditLineFormat.newline]
        let fd = retryingEINTR { open(tempPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw AuditError.system("cannot write audit head file", path: tempPath, errno: errno) }
        do {
            try writeAll(fd, bytes, path: tempPath, restoringSize: 0)
            guard !sync || retryingEINTR({ fsync(fd) }) == 0 else {
                throw AuditError.system("cannot fsync audit head file", path: tempPath, errno: errno)
            }
        } catch {
            close(fd)
            unlink(tempPath)
            throw error
        }
        close(fd)
        guard rename(tempPath, headPath) == 0 else {
            let code = errno
            unlink(tempPath)
            throw AuditError.system("cannot replace audit head file", path: headPath, errno: code)
        }
        guard sync else { return }
        let directory = parentDirectory(of: logPath)
        let dirFD = retryingEINTR { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard dirFD >= 0 else {
            throw AuditError.system("cannot open audit log directory", path: directory, errno: errno)
        }
        defer { close(dirFD) }
        guard retryingEINTR({ fsync(dirFD) }) == 0 else {
            throw AuditError.system("cannot fsync audit log directory", path: directory, errno: errno)
        }
    }
}

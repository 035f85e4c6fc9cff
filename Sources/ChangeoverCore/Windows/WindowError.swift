/// Why a maintenance window or freeze period could not be read.
///
/// `description` is one line that names the bad part and quotes the whole spec, e.g.
/// `bad day "sux" in "sux:22:00-sun:23:30" (use mon…sun)`.
public struct WindowError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of mistake it is; extensible without breaking callers that switch on it.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The spec matches none of the accepted forms.
        public static let badSyntax = Code("badSyntax")
        public static let badDay = Code("badDay")
        public static let badTime = Code("badTime")
        public static let badDuration = Code("badDuration")
        public static let unknownTimeZone = Code("unknownTimeZone")
        /// Shorter than ``MaintenanceWindow/minimumDuration`` (30 minutes, as RDS).
        public static let tooShort = Code("tooShort")
        /// Longer than ``MaintenanceWindow/maximumDuration`` (a week).
        public static let tooLong = Code("tooLong")
        public static let badDate = Code("badDate")
        /// A freeze period whose last day comes before its first.
        public static let badFreeze = Code("badFreeze")
    }

    public let code: Code
    /// One line, no newline.
    public let message: String

    /// Line breaks in the quoted spec (YAML and JSON strings can hold them) become spaces.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var description: String { message }
}

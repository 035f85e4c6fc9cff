import ArgumentParser
import ChangeoverCore
import Foundation

enum Deadline {
    /// An ISO 8601 instant with an offset, for --deadline.
    static func parse(_ text: String) throws -> Date {
        do {
            return try ConfigValue.instant(text, at: "--deadline")
        } catch {
            throw ValidationError(error.description)
        }
    }
}

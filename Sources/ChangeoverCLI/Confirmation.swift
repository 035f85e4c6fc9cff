import ChangeoverCore
import Foundation

/// The terminal's yes before a destructive verb; `--yes` stands for it.
enum Confirmation {
    /// Returns when `yes` or the operator answers y; otherwise a one-line bad-input failure
    /// (`verb needs --yes` when there is no terminal to ask on).
    static func require(_ yes: Bool, verb: String, question: String) throws {
        if yes { return }
        guard isatty(STDIN_FILENO) == 1 else {
            throw Failure(.badInput, "\(verb) needs --yes when not run from a terminal")
        }
        FileHandle.standardOutput.write(Data("\(question) [y/N] ".utf8))
        guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
            throw Failure(.badInput, "not aborted")
        }
    }
}

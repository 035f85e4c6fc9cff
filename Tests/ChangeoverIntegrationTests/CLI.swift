import ChangeoverLab

/// The built `changeover` executable, run as an operator would.
typealias CLI = LabCLI

extension LabCLI {
    /// The commands a hint text offers (each in backquotes, beginning `changeover `), as the
    /// shell would split them: the words after `changeover`.
    static func hints(in text: String) -> [[String]] {
        text.split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 && $0.element.hasPrefix("changeover ") }
            .map { Array(shellWords(String($0.element)).dropFirst()) }
    }

    /// Splits `line` into words as sh does for plain words and single quotes (what the hints use).
    static func shellWords(_ line: String) -> [String] {
        var words: [String] = []
        var word = ""
        var quoted = false
        var inWord = false
        for character in line {
            if quoted {
                if character == "'" { quoted = false } else { word.append(character) }
            } else if character == "'" {
                quoted = true
                inWord = true
            } else if character == " " {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(character)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        return words
    }
}

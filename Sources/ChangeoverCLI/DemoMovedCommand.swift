import ArgumentParser

/// `changeover demo`: the rehearsal needs the lab's throwaway servers, which the shipped binary
/// does not link, so this only says where the rehearsal is (`changeover-demo`).
struct DemoMovedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Moved: the rehearsal is `changeover-demo` (`make demo` builds and runs it).",
        shouldDisplay: false)

    @Argument(parsing: .allUnrecognized, help: "Ignored.") var arguments: [String] = []

    func run() async throws {
        try await reporting {
            throw Failure(
                .badInput, "the demo is its own program now: run `make demo` in a source tree, or `changeover-demo`")
        }
    }
}

import ArgumentParser

/// `changeover demo` as it was before the rehearsal became its own program: the shipped binary
/// does not link the lab's throwaway servers, so this only says where the demo went.
struct DemoMovedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Moved: the rehearsal is `changeover-demo` (`make demo` builds and runs it).",
        shouldDisplay: false)

    @Argument(parsing: .allUnrecognized, help: "Ignored.") var arguments: [String] = []

    func run() async throws {
        try await reporting {
            throw Failure(.badInput,
                          "the demo is its own program now: run `make demo` in a source tree, or `changeover-demo`")
        }
    }
}

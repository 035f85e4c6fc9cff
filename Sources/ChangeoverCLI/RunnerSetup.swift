import ChangeoverCore

/// What a program built on this CLI adds to each runner that runs, resumes or aborts a
/// changeover: `changeover` adds nothing; `changeover-testing`, which the integration tests run,
/// installs its fault hook here. Set once, before the command runs.
package enum RunnerSetup {
    nonisolated(unsafe) package static var install: (inout ChangeoverRunner) -> Void = { _ in }

    /// A runner about to drive a changeover: SIGTERM and SIGINT stop it between steps, and the
    /// program's additions are installed.
    static func driving(_ runner: inout ChangeoverRunner) async {
        runner.stop = await Signals.stopOnTermination()
        install(&runner)
    }
}

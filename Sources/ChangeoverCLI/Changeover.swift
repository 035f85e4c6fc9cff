import ArgumentParser

/// The root of the command tree: every verb, and the exit codes they share. Run it with
/// `Changeover.mainExitingTwoOnBadUsage()`: a `main()` here would lose, at top level, to
/// swift-argument-parser's synchronous one.
package struct Changeover: AsyncParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        commandName: "changeover",
        abstract: "Patch a database by changing it over to a caught-up follower on a new image.",
        discussion: """
            Exit codes: 0 success; 2 bad input (config, arguments, secrets, an impossible resume or abort); \
            3 preflight failed, nothing was touched; 4 aborted and rolled back, the old primary serves; \
            5 failed after the point of no return, an operator must look; 6 the audit log does not verify; \
            7 another controller is working on the database; 8 stopped by a signal before the switchover, \
            resumable (`resume` continues).
            """,
        version: BuildStamp.versionLine,
        subcommands: [
            CheckCommand.self, PlanCommand.self, RunCommand.self, ScheduleCommand.self, PrepareCommand.self,
            SwitchCommand.self,
            StatusCommand.self, ResumeCommand.self, AbortCommand.self, RetireCommand.self,
            WindowsCommand.self, AuditCommand.self, StepsCommand.self, DaemonCommand.self,
            CampaignCommand.self, InventoryCommand.self, DemoMovedCommand.self,
        ])
}

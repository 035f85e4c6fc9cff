import ChangeoverCLI

// The shipped binary: the command tree, and nothing of the lab or the tests.
await Changeover.mainExitingTwoOnBadUsage()

import ChangeoverCLI

// `changeover` as the integration tests run it when they kill the controller at a step
// boundary (CHANGEOVER_FAULT=kill-before:STEP or kill-after:STEP). Built by `swift build
// --build-tests`, never installed: the fault hook it installs is in no shipped program.
RunnerSetup.install = { FaultInjection.install(in: &$0) }
await Changeover.mainExitingTwoOnBadUsage()

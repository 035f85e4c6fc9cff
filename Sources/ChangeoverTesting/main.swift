import ChangeoverCLI

// `changeover` as the integration tests run it when they kill the controller at a step
// boundary (CHANGEOVER_FAULT=kill-before:STEP or kill-after:STEP). Built by `swift build
// --build-tests`, never installed. Core reads CHANGEOVER_FAULT itself for now; this program is
// where the test-only switch belongs, and where the hook that replaces it will be installed.
await Changeover.mainExitingTwoOnBadUsage()

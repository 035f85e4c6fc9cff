import ChangeoverLab

/// The built `changeover` executable, run as an operator would.
typealias CLI = LabCLI

import Testing

@testable import ChangeoverCore

@Suite struct ChangeoverMachineTests {
    @Test func happyPathPerformsEveryForwardStepThenCompletes() throws {
        var machine = ChangeoverMachine()
        var performed: [ChangeoverStep] = []
        var action = try machine.handle(.begin)
        while case .perform(let step) = action {
            performed.append(step)
            action = try machine.handle(.stepSucceeded)
        }
        #expect(performed == ChangeoverStep.forward)
        #expect(action == .finish(.completed))
        #expect(machine.step == .done)
    }

    @Test(arguments: [ChangeoverStep.provision, .catchUp, .awaitWindow, .fence, .finalSync])
    func failureBeforePromotionRollsBack(failing: ChangeoverStep) throws {
        var machine = ChangeoverMachine()
        var action = try machine.handle(.begin)
        while case .perform(let step) = action, step != failing {
            action = try machine.handle(.stepSucceeded)
        }
        #expect(action == .perform(failing))
        action = try machine.handle(.stepFailed("boom"))
        #expect(action == .rollBack(failedStep: failing, reason: "boom"))
        #expect(machine.step == .rollback)
        #expect(try machine.handle(.stepSucceeded) == .finish(.aborted))
        #expect(machine.step == .aborted)
        #expect(machine.failedStep == failing)
        #expect(machine.failure == "boom")
    }

    @Test(arguments: [ChangeoverStep.promote, .repoint, .verify, .settle])
    func failureFromPromotionOnGoesToFailedWithoutRollback(failing: ChangeoverStep) throws {
        var machine = ChangeoverMachine()
        var action = try machine.handle(.begin)
        while case .perform(let step) = action, step != failing {
            action = try machine.handle(.stepSucceeded)
        }
        #expect(try machine.handle(.stepFailed("late")) == .finish(.failed))
        #expect(machine.step == .failed)
    }

    @Test func preflightFailureAbortsWithNothingToUndo() throws {
        var machine = ChangeoverMachine()
        _ = try machine.handle(.begin)
        #expect(try machine.handle(.stepFailed("standby")) == .finish(.aborted))
        #expect(machine.step == .aborted)
    }

    @Test func failedRollbackEndsFailedAndKeepsBothReasons() throws {
        var machine = ChangeoverMachine(step: .catchUp)
        _ = try machine.handle(.stepFailed("timeout"))
        #expect(try machine.handle(.stepFailed("cannot restart")) == .finish(.failed))
        #expect(machine.failure?.contains("timeout") == true)
        #expect(machine.failure?.contains("cannot restart") == true)
    }

    @Test func terminalStepsAcceptNoInputButReportOnResume() throws {
        for step in ChangeoverStep.allCases where step.isTerminal {
            for event in [ChangeoverMachine.Event.begin, .stepSucceeded, .stepFailed("x"), .abortRequested("x")] {
                var machine = ChangeoverMachine(step: step)
                #expect(throws: ChangeoverMachine.IllegalTransition.self) { try machine.handle(event) }
            }
            var machine = ChangeoverMachine(step: step)
            guard case .finish = try machine.handle(.resumed(promoted: false)) else {
                Issue.record("resuming \(step) does not just report")
                continue
            }
            #expect(machine.step == step)
        }
    }

    @Test(arguments: [ChangeoverStep.provision, .catchUp, .awaitWindow, .fence, .finalSync])
    func abortBeforePromotionRollsBack(at step: ChangeoverStep) throws {
        var machine = ChangeoverMachine(step: step)
        #expect(try machine.handle(.abortRequested("operator")) == .rollBack(failedStep: step, reason: "operator"))
        #expect(machine.step == .rollback)
        #expect(try machine.handle(.stepSucceeded) == .finish(.aborted))
    }

    @Test(arguments: [ChangeoverStep.promote, .repoint, .verify, .settle])
    func abortFromThePromotionOnIsRefused(at step: ChangeoverStep) {
        var machine = ChangeoverMachine(step: step)
        #expect(throws: ChangeoverMachine.IllegalTransition.self) { try machine.handle(.abortRequested("operator")) }
        #expect(machine.step == step)
    }

    @Test func resumeBetweenFenceAndPromotionFencesAgainUnlessPromoted() throws {
        for step in [ChangeoverStep.finalSync, .promote] {
            var machine = ChangeoverMachine(step: step)
            #expect(try machine.handle(.resumed(promoted: false)) == .perform(.fence))
            #expect(machine.step == .fence)
            var promoted = ChangeoverMachine(step: step)
            #expect(try promoted.handle(.resumed(promoted: true)) == .perform(.promote))
            #expect(promoted.step == .promote)
        }
        for step in [ChangeoverStep.provision, .catchUp, .awaitWindow, .fence, .repoint, .verify, .settle] {
            var machine = ChangeoverMachine(step: step)
            #expect(try machine.handle(.resumed(promoted: step.rollsBackOnFailure ? false : true)) == .perform(step))
        }
        var rolling = ChangeoverMachine(step: .rollback, failedStep: .catchUp, failure: "timeout")
        #expect(try rolling.handle(.resumed(promoted: false)) == .rollBack(failedStep: .catchUp, reason: "timeout"))
    }

    /// A rollback that could not finish (the old primary unreachable) ends the changeover as
    /// failed but not closed: abort or resume tries the rollback again, and only its success
    /// makes the changeover aborted. A failure past the promotion cannot be aborted; resume does its step again.
    @Test func anUnfinishedRollbackCanBeTriedAgain() throws {
        var machine = ChangeoverMachine(step: .catchUp)
        #expect(
            try machine.handle(.stepFailed("primary unreachable"))
                == .rollBack(failedStep: .catchUp, reason: "primary unreachable"))
        #expect(try machine.handle(.stepFailed("cannot drop the slot")) == .finish(.failed))
        #expect(machine.step == .failed && machine.rollbackUnfinished == true && machine.canContinue)
        #expect(machine.failure == "primary unreachable; rollback failed: cannot drop the slot")
        #expect(
            try machine.handle(.abortRequested("again")) == .rollBack(failedStep: .catchUp, reason: machine.failure!))
        #expect(try machine.handle(.stepFailed("still unreachable")) == .finish(.failed))
        #expect(machine.failure == "primary unreachable; rollback failed: still unreachable", "reasons do not pile up")
        #expect(
            try machine.handle(.resumed(promoted: false)) == .rollBack(failedStep: .catchUp, reason: machine.failure!))
        #expect(try machine.handle(.stepSucceeded) == .finish(.aborted))
        #expect(machine.step == .aborted && machine.rollbackUnfinished == nil && !machine.canContinue)

        var past = ChangeoverMachine(step: .verify)
        #expect(try past.handle(.stepFailed("no write")) == .finish(.failed))
        #expect(!past.canContinue)
        #expect(throws: ChangeoverMachine.IllegalTransition.self) { try past.handle(.abortRequested("no")) }
        // Resumed, the step is done again (the new primary serves either way); done, it ends.
        #expect(try past.handle(.resumed(promoted: true)) == .perform(.verify))
        #expect(past.step == .verify)
        #expect(try past.handle(.stepSucceeded) == .perform(.settle))
    }

    /// Walks the table: every listed transition is taken by some input, and every input the
    /// machine accepts moves along a listed transition.
    @Test func transitionTableAndMachineAgree() throws {
        var taken = Set<String>()
        for step in ChangeoverStep.allCases {
            let events: [ChangeoverMachine.Event] = [
                .begin, .stepSucceeded, .stepFailed("x"), .abortRequested("x"),
                .resumed(promoted: false), .resumed(promoted: true), .promotionNotRequested("x"),
            ]
            let failedSteps: [ChangeoverStep?] = step == .failed ? [nil] + ChangeoverStep.afterPromotion : [nil]
            for (event, unfinished, failedStep) in events.flatMap({ event in
                failedSteps.flatMap { failed in
                    [(event, nil, failed), (event, true, failed)] as [(ChangeoverMachine.Event, Bool?, ChangeoverStep?)]
                }
            }) {
                var machine = ChangeoverMachine(step: step, failedStep: failedStep, rollbackUnfinished: unfinished)
                guard (try? machine.handle(event)) != nil, machine.step != step else { continue }
                let trigger: Transition.Trigger =
                    switch event {
                    case .stepFailed, .promotionNotRequested: .failure
                    case .abortRequested: .abort
                    case .resumed: step == .pending ? .success : .resume
                    default: .success
                    }
                let key = "\(step)->\(machine.step)/\(trigger)"
                #expect(ChangeoverMachine.transitions.contains { "\($0.from)->\($0.to)/\($0.trigger)" == key })
                taken.insert(key)
            }
        }
        for transition in ChangeoverMachine.transitions {
            #expect(
                taken.contains("\(transition.from)->\(transition.to)/\(transition.trigger)"),
                "no input takes \(transition.from) → \(transition.to)")
        }
        for step in ChangeoverStep.allCases where !step.isTerminal {
            #expect(ChangeoverMachine.transitions.contains { $0.from == step }, "\(step) has no way out")
        }
    }
}

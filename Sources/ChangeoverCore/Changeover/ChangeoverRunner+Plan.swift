/// What a changeover would do, read-only: `plan` and `check --connect`.
extension ChangeoverRunner {
    public func plan(database: String, image: String) async throws -> ChangeoverPlan {
        let prepared = try prepare(database: database, image: image, id: Self.newID(database: database))
        let checks = await preflight(prepared)
        let routerStep = ChangeoverComponents.repointSummary(prepared.database.router)
        return ChangeoverPlan(
            database: database, fromImage: prepared.fromImage.name, toImage: prepared.toImage.name,
            primary: prepared.oldEndpoint, checks: checks, resources: prepared.engine.plannedResources(),
            steps: ChangeoverStep.forward.map { step in
                step == .repoint ? "\(step): \(routerStep)" : "\(step): \(step.summary(for: prepared.database.engine))"
            })
    }

    /// A database's preflight, read-only (`check --connect`): the checks a changeover to `image`
    /// would make; without an image, those of a changeover to the image the database runs now,
    /// less the one that wants a new image.
    public func preflight(database: String, image: String? = nil) async throws -> [PreflightCheck] {
        let current = try store.database(database)?.image ?? config.database(database).image
        let prepared = try prepare(database: database, image: image ?? current, id: Self.newID(database: database))
        let checks = await preflight(prepared)
        guard image == nil else { return checks }
        let sameImage = await prepared.provisioner.newImageCheck(from: prepared.fromImage, to: prepared.toImage)
        return checks.filter { $0 != sameImage }
    }

    /// The engine's checks and the router's.
    private func preflight(_ prepared: Prepared) async -> [PreflightCheck] {
        await prepared.engine.preflight()
            + [await prepared.router.check(database: prepared.database.name, primary: prepared.oldEndpoint)]
    }
}

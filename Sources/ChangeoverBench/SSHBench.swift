import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient

/// `count` changeovers of one engine between two ssh test hosts (network namespaces with an
/// sshd each): each follower is made on the host the primary is not on, over ssh, and the
/// old Postgres primary is fenced through its host's ssh connection.
func benchSSHChangeovers(_ engine: DatabaseConfig.EngineKind) async throws -> Row {
    var row = Row(engine: engine.rawValue, method: "over ssh, follower on another host")
    print("\n\(engine.rawValue) over ssh: \(count) changeovers, hosts a and b")
    print("   #  writer pause ms  controller pause ms  total s  outcome  breakdown")
    let lab = try Lab()
    var writer: (any WriteProbe)?
    do {
        let hosts = [
            try await LabSSHHost.create(lab: lab, name: "a"), try await LabSSHHost.create(lab: lab, name: "b"),
        ]
        let primary =
            engine == .postgres
            ? try await lab.startPrimary(on: hosts[0].network) : try await lab.startRedisPrimary(on: hosts[0].network)
        // Follower i goes on the host the primary of changeover i is not on: b, a, b, …
        let followers = (0..<count).map { (host: hosts[($0 + 1) % 2], port: FreePort.next()) }
        let servers = [(host: hosts[0], port: primary.port)] + followers
        let probe = try await lab.writer(engine, over: servers.map { ($0.host.address, $0.port) })
        writer = probe
        await probe.start()
        try await probe.waitForAcknowledgements(200, timeout: .seconds(30))
        let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
        let images = engine == .postgres ? ["pg15", "pg15-patched"] : ["redis7", "redis7-patched"]
        for (index, follower) in followers.enumerated() {
            let text = sshBenchConfig(
                lab: lab, hosts: hosts, engine: engine, primary: primary, followerPort: follower.port)
            let path = "\(lab.root)/fleet.yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let runner = ChangeoverRunner(config: try FleetConfig.load(path: path), environment: environment)
            let current = try runner.store.database("bench")?.image ?? images[0]
            let began = ContinuousClock.now
            let summary = try await runner.run(database: "bench", image: images.first { $0 != current }!)
            try await probe.waitForAcknowledgements(200, timeout: .seconds(30))
            let pause = await probe.longestGap(since: began)
            row.pauses.append(pause)
            row.controllerPauses.append(summary.writePauseMilliseconds ?? .nan)
            row.totals.append(summary.totalMilliseconds / 1000)
            if summary.outcome != .completed { row.failures += 1 }
            let steps =
                summary.timings.filter { [.fence, .finalSync, .promote, .repoint].contains($0.step) }
                .map { "\($0.step) \(String(format: "%.1f", $0.milliseconds))" }.joined(separator: ", ")
                + ["stop.ms", "controldata.ms", "promote.ms"].compactMap { key in
                    summary.facts[key].map { " \(key) \($0)" }
                }.joined()
                + (summary.facts["stop.armed"] == "true" ? " (stop armed)" : "")
            print(
                String(
                    format: "%4d  %15.1f  %19.1f  %7.2f  ", index + 1, pause, summary.writePauseMilliseconds ?? .nan,
                    summary.totalMilliseconds / 1000) + summary.outcome.rawValue + "  on host \(follower.host.name)  "
                    + steps)
        }
        let report = await probe.stop()
        writer = nil
        row.errors = report.errors
        let last = followers.last!
        row.lost = try await lab.missing(report.acknowledged, engine: engine, host: last.host.address, port: last.port)
            .count
    } catch {
        print("changeover over ssh failed: \(error)")
        row.failures += 1
    }
    if let writer { _ = await writer.stop() }
    await lab.shutdown()
    return row
}

func sshBenchConfig(
    lab: Lab, hosts: [LabSSHHost], engine: DatabaseConfig.EngineKind, primary: Lab.Server, followerPort: Int
) -> String {
    let database =
        engine == .postgres
        ? """
            engine: postgres
            image: pg15
            primary: "host=\(hosts[0].address) port=\(primary.port) user=postgres dbname=postgres"
            password: {env: LAB_PG_PASSWORD}
            replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
        """
        : """
            engine: redis
            image: redis7
            primary: "\(hosts[0].address):\(primary.port)"
            password: {env: LAB_PG_PASSWORD}
            retireAfter: 0s
        """
    return """
        stateDirectory: \(lab.root)/state
        provisioner:
          kind: ssh
          identity: \(LabSSHHost.identity(lab: lab))
          knownHosts: \(LabSSHHost.knownHosts(lab: lab))
          runAs: postgres
          hosts:
        \(hosts.map { "    - {name: \($0.name), address: \($0.address), root: \($0.nodes)}" }.joined(separator: "\n"))
        images:
          pg15: {binDirectory: \(lab.binDirectory)}
          pg15-patched: {binDirectory: \(lab.binDirectory)}
          redis7: {binDirectory: \(Lab.redisBinDirectory)}
          redis7-patched: {binDirectory: \(Lab.redisBinDirectory)}
        databases:
          bench:
        \(database)
            follower: {port: \(followerPort)}
            catchUp: {maxLagBytes: 1MB, holdFor: 300ms, pollEvery: 50ms, timeout: 2m}
        """
}

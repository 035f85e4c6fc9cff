import ArgumentParser
import ChangeoverCore
import ChangeoverDaemon
import Foundation
import Logging
import ServiceLifecycle

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run scheduled changeovers in their maintenance windows; serve status and metrics over HTTP.",
        discussion: """
            Runs what `changeover schedule` recorded and what the config's schedule: section asks for. \
            GET /status (JSON) and GET /metrics (Prometheus) on the loopback address of daemon.listen, with \
            `Authorization: Bearer <token>`, the token read from the environment variable daemon.tokenEnv names. \
            SIGHUP reloads the config. SIGTERM (or SIGINT) stops it: changeovers before their switchover stop in \
            a resumable state, one inside its switchover finishes (or rolls back) first.
            """)

    @OptionGroup var fleet: FleetOptions
    @Flag(help: "Log every step's progress (debug level).") var verbose = false
    @Option(help: "text, or json: one JSON object a line (time, level, changeover, database, step, message) on stderr.")
    var logFormat: LogFormat = .text

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            ChangeoverDaemon.returnFreeMemory()
            guard let settings = config.daemon else {
                throw Failure(
                    .badInput, "config \(fleet.config) has no daemon: section (listen, tokenEnv, concurrency)")
            }
            let environment = ProcessInfo.processInfo.environment
            guard let token = environment[settings.tokenEnvironment], !token.isEmpty else {
                throw Failure(
                    .badInput,
                    "environment variable \(settings.tokenEnvironment) (daemon.tokenEnv) is not set: the HTTP endpoints need a bearer token"
                )
            }
            let level: Logger.Level = verbose ? .debug : .info
            logFormat.bootstrap(level: level)
            let logger = Logger(label: "changeover.daemon")
            /// The start and stop lines: on stdout as text, in the log as JSON.
            func announce(_ text: String) {
                if logFormat == .json { logger.notice("\(text)") } else { Output.line(text) }
            }
            let daemon = ChangeoverDaemon(
                configPath: fleet.config, config: config, environment: environment, logger: logger,
                build: .init(version: BuildStamp.version, commit: BuildStamp.commit))
            let server: StatusServer
            do {
                server = try StatusServer(
                    host: settings.host, port: settings.port, token: token, logger: logger,
                    open: daemon.handleOpen, handler: daemon.handle)
            } catch {
                throw Failure(.badInput, "daemon.listen: \(error)")
            }
            announce(
                "changeover daemon: pid \(getpid()), http://\(settings.host):\(server.port) (the page at /, GET /status, GET /metrics; bearer token from \(settings.tokenEnvironment)); SIGHUP reloads \(fleet.config), SIGTERM stops"
            )
            // Shut down in reverse: the scheduler first (its changeovers stop or finish), the status last.
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: server), .init(service: daemon)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            announce("changeover daemon: stopped")
        }
    }
}

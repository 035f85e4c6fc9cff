import Logging
import PostgresClient

/// What a changeover acts through: the provisioner that makes and removes followers where the
/// database's servers live, the engine that does the database's part of each step, and the
/// router clients find the primary through. The executor only calls them; which ones a
/// database gets is decided here, from its config, and nowhere else. Tests give the runner
/// their own (`ChangeoverRunner.components`).
public struct ChangeoverComponents: Sendable {
    public var provisioner: any Provisioner
    public var engine: any Engine
    public var router: any Router

    public init(provisioner: any Provisioner, engine: any Engine, router: any Router) {
        self.provisioner = provisioner
        self.engine = engine
        self.router = router
    }

    /// What one changeover's components are made for: the database as it stands now (its
    /// current primary, its follower's port chosen), the images, and what they report through.
    public struct Context: Sendable {
        public var changeover: String
        public var database: DatabaseConfig
        public var fromImage: FleetConfig.Image
        public var toImage: FleetConfig.Image
        public var config: FleetConfig
        /// Where secrets given as environment variables are read from.
        public var environment: [String: String]
        public var logger: Logger
        public var progress: @Sendable (String) -> Void
        /// Retries the components' remote calls and reports each retry.
        public var retries: Retrier
    }

    /// Makes a changeover's components; may fail with a `ConfigError` (a secret not set) before
    /// any server is touched.
    public typealias Factory = @Sendable (Context) throws -> ChangeoverComponents

    /// The components the config names: the one place that switches on the provisioner's, the
    /// engine's and the router's kinds.
    public static func fromConfig(_ context: Context) throws -> ChangeoverComponents {
        let provisioner = makeProvisioner(context)
        var setup = EngineSetup(
            changeover: context.changeover, database: context.database, fromImage: context.fromImage,
            toImage: context.toImage, provisioner: provisioner, stateDirectory: context.config.stateDirectory,
            environment: context.environment, logger: context.logger, progress: context.progress)
        setup.retries = context.retries
        let engine: any Engine =
            switch context.database.engine {
            case .postgres: try PostgresEngine(setup)
            case .redis: try RedisEngine(setup)
            }
        return ChangeoverComponents(provisioner: provisioner, engine: engine, router: try makeRouter(context))
    }

    static func makeProvisioner(_ context: Context) -> any Provisioner {
        let config = context.config
        let database = context.database
        switch config.provisioner.kind {
        case .local:
            return LocalProvisioner(
                root: config.provisioner.root, runAs: config.provisioner.runAs,
                listenAddress: database.followerListen ?? "127.0.0.1", listenConfigured: database.followerListen != nil,
                advertise: database.followerAdvertise, keptLogs: "\(config.stateDirectory)/logs",
                service: config.provisioner.service)
        case .docker:
            return DockerProvisioner(
                client: DockerEngineClient(socket: config.provisioner.socket ?? ""), database: database.name,
                primaryContainer: database.container, labels: config.provisioner.labels)
        case .exec:
            return ExecProvisioner(
                command: ExecCommand(argv: config.provisioner.command, timeout: config.provisioner.timeout),
                changeover: context.changeover, database: database.name, engine: database.engine,
                primary: database.primary.endpoint)
        case .ssh:
            let ssh = config.provisioner.ssh
            return SSHProvisioner(
                hosts: ssh?.hosts ?? [],
                login: SSHLogin(
                    user: ssh?.user ?? "root", identity: ssh?.identity ?? "", knownHosts: ssh?.knownHosts ?? "",
                    controlDirectory: "\(config.stateDirectory)/ssh"),
                root: config.provisioner.root, runAs: config.provisioner.runAs, placement: ssh?.placement ?? [:],
                primaryAddress: database.primary.host, listen: database.followerListen,
                advertise: database.followerAdvertise, timeout: config.provisioner.timeout,
                service: config.provisioner.service)
        }
    }

    static func makeRouter(_ context: Context) throws -> any Router {
        let router = context.database.router
        switch router.kind {
        case .none:
            return NoRouter()
        case .hook:
            return HookRouter(command: router.command ?? "", timeout: router.timeout)
        case .pgbouncer:
            return PgBouncerRouter(
                admin: router.admin ?? ConnInfo(parameters: []),
                password: try router.password?.value(environment: context.environment),
                database: router.database, includeFile: router.include ?? "", timeout: router.timeout)
        case .haproxy:
            return HAProxyRouter(
                socket: router.socket ?? "", backend: router.backend ?? "", server: router.server ?? "",
                timeout: router.timeout)
        }
    }

    /// What the repoint step does with the database's router, for `plan`.
    static func repointSummary(_ router: RouterConfig) -> String {
        switch router.kind {
        case .none: "clients follow by themselves (no router configured)"
        case .hook: "run the hook command with the new primary's address"
        case .pgbouncer: "rewrite pgbouncer's databases line, RELOAD, RESUME (paused before the fence)"
        case .haproxy: "haproxy runtime API: set server addr, shut down the old sessions"
        }
    }
}

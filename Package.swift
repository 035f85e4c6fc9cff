// swift-tools-version:6.0
import PackageDescription

let settings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "changeover",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "changeover", targets: ["changeover"]),
        .executable(name: "changeover-demo", targets: ["ChangeoverDemo"]),
        .executable(name: "changeover-testing", targets: ["ChangeoverTesting"]),
        .executable(name: "changeover-bench", targets: ["ChangeoverBench"]),
        .library(name: "ChangeoverCore", targets: ["ChangeoverCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq"),
        // Keeping passwords out of messages, logs and the audit log: the rules every module shares.
        .target(name: "Redaction", swiftSettings: settings),
        .target(name: "PostgresClient", dependencies: ["CLibPQ", "Redaction"], swiftSettings: settings),
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis", pkgConfig: "hiredis"),
        .systemLibrary(name: "CSystem", path: "Sources/CSystem"),
        .target(name: "RedisClient", dependencies: ["CHiredis"], swiftSettings: settings),
        .target(
            name: "ChangeoverCore",
            dependencies: [
                "PostgresClient", "RedisClient", "CSystem", "Redaction",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: settings),
        // Throwaway local databases and the acknowledged-writes probe: used by the tests,
        // `changeover-demo` and the benchmark. Nothing in it is a fake database. The shipped
        // `changeover` does not link it (`.ci/no-lab-symbols` checks).
        .target(
            name: "ChangeoverLab", dependencies: ["ChangeoverCore", "PostgresClient", "RedisClient"],
            swiftSettings: settings),
        // The scheduler daemon: runs scheduled changeovers, serves status and metrics over HTTP.
        .target(
            name: "ChangeoverDaemon",
            dependencies: [
                "ChangeoverCore",
                "CSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: settings),
        // The commands: they parse arguments, call Core and print. Shared by the executables below.
        .target(
            name: "ChangeoverCLI",
            dependencies: [
                "ChangeoverCore", "ChangeoverDaemon",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: settings),
        // The product: the command tree and nothing of the lab.
        .executableTarget(name: "changeover", dependencies: ["ChangeoverCLI"], swiftSettings: settings),
        // `make demo`: the rehearsal on throwaway local servers.
        .executableTarget(
            name: "ChangeoverDemo",
            dependencies: [
                "ChangeoverCLI", "ChangeoverCore", "ChangeoverLab",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: settings),
        // The command tree as the tests run it when they kill the controller at a step boundary
        // (CHANGEOVER_FAULT). Not installed.
        .executableTarget(
            name: "ChangeoverTesting", dependencies: ["ChangeoverCLI", "ChangeoverCore"], swiftSettings: settings),
        .executableTarget(
            name: "ChangeoverBench",
            dependencies: ["ChangeoverCore", "ChangeoverLab", "PostgresClient", "RedisClient"],
            swiftSettings: settings),
        .testTarget(
            name: "PostgresClientTests", dependencies: ["PostgresClient", "ChangeoverCore", "ChangeoverLab"],
            swiftSettings: settings),
        .testTarget(
            name: "RedisClientTests", dependencies: ["RedisClient", "ChangeoverCore", "ChangeoverLab"],
            swiftSettings: settings),
        .testTarget(
            name: "ChangeoverCoreTests",
            dependencies: ["ChangeoverCore", "ChangeoverLab", "Redaction", .product(name: "Yams", package: "Yams")],
            swiftSettings: settings),
        .testTarget(
            name: "ChangeoverDaemonTests", dependencies: ["ChangeoverDaemon", "ChangeoverCore", "ChangeoverLab"],
            swiftSettings: settings),
        .testTarget(
            name: "ChangeoverIntegrationTests",
            dependencies: [
                "ChangeoverCore", "ChangeoverDaemon", "ChangeoverLab", "PostgresClient", "RedisClient", "changeover",
                "ChangeoverTesting",
            ],
            // The exec provisioner script the tests plug in, run from the source tree.
            exclude: ["Resources"],
            swiftSettings: settings),
        // Changeovers of dockerized databases through the docker provisioner. They need a Docker engine
        // with the changeover images (`make docker-test` starts one and builds them) and are skipped
        // unless CHANGEOVER_DOCKER_HOST names it.
        .testTarget(
            name: "ChangeoverDockerTests",
            dependencies: [
                "ChangeoverCore", "ChangeoverLab", "PostgresClient", "RedisClient", "changeover", "ChangeoverTesting",
            ],
            swiftSettings: settings),
    ]
)

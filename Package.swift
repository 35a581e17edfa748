// swift-tools-version:6.0
import PackageDescription

// No Swift package dependencies: Foundation, XCTest, and the system C libraries ncursesw, sqlite3 and libpq.
// Dependencies point one way: SymTUI → {SymProtocol, SymStore, SymModel}; SymEngine → {SymProtocol, SymStore, SymModel}.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "SymTUI",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "symtui", targets: ["SymTUIMain"]),
        .executable(name: "symtui-bench", targets: ["SymBench"]),
        // libFuzzer targets (Tests/reliability/fuzz.sh); a plain build makes corpus replayers.
        .executable(name: "FuzzSafeText", targets: ["FuzzSafeText"]),
        .executable(name: "FuzzConfig", targets: ["FuzzConfig"]),
        .executable(name: "FuzzFields", targets: ["FuzzFields"]),
        .executable(name: "FuzzEvents", targets: ["FuzzEvents"]),
        .executable(name: "FuzzHCL", targets: ["FuzzHCL"]),
    ],
    targets: [
        .systemLibrary(name: "CNCursesW", path: "Sources/CNCursesW"),
        .systemLibrary(name: "CSQLite3", path: "Sources/CSQLite3"),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ"),
        // SHA-256 with the x86 SHA extensions, chosen at run time by SymModel's SHA256 (the portable Swift code otherwise).
        .target(name: "CSHA", path: "Sources/CSHA"),
        .target(name: "SymModel", dependencies: ["CSHA"], swiftSettings: strict),
        .target(name: "SymStore", dependencies: ["SymModel", "CSQLite3", "CLibPQ"], swiftSettings: strict),
        // The wire protocol between the daemon and its clients: calls, replies, identity, exit codes.
        .target(name: "SymProtocol", dependencies: ["SymModel"], swiftSettings: strict),
        .target(name: "SymEngine", dependencies: ["SymProtocol", "SymStore", "SymModel", "CLibPQ"], swiftSettings: strict),
        // The console and the CLI: never linked against the engine; the executable wires the engine's commands in.
        .target(name: "SymTUI", dependencies: ["SymProtocol", "SymStore", "SymModel", "CNCursesW"], swiftSettings: strict),
        .executableTarget(name: "SymTUIMain", dependencies: ["SymTUI", "SymEngine", "SymProtocol", "SymStore", "SymModel"], swiftSettings: strict),
        .executableTarget(name: "SymBench", dependencies: ["SymModel", "SymStore", "SymProtocol", "SymEngine", "SymTUI", "ThrowawayPostgres"], swiftSettings: strict),
        .target(name: "FuzzReplay", path: "Tests/fuzz/FuzzReplay"),
        .executableTarget(name: "FuzzSafeText", dependencies: ["SymModel", "FuzzReplay"], path: "Tests/fuzz/FuzzSafeText"),
        .executableTarget(name: "FuzzConfig", dependencies: ["SymModel", "FuzzReplay"], path: "Tests/fuzz/FuzzConfig"),
        .executableTarget(name: "FuzzFields", dependencies: ["SymModel", "FuzzReplay"], path: "Tests/fuzz/FuzzFields"),
        .executableTarget(name: "FuzzEvents", dependencies: ["SymModel", "SymProtocol", "FuzzReplay"], path: "Tests/fuzz/FuzzEvents"),
        .executableTarget(name: "FuzzHCL", dependencies: ["SymModel", "FuzzReplay"], path: "Tests/fuzz/FuzzHCL"),
        // Fixture helpers every test target shares (config builders, temporary directories, Tests/Fixtures).
        .target(name: "ThrowawayPostgres", path: "Tests/ThrowawayPostgres"),
        .target(name: "SymTestSupport", dependencies: ["SymModel", "ThrowawayPostgres"], path: "Tests/SymTestSupport"),
        .testTarget(name: "SymModelTests", dependencies: ["SymModel", "SymTestSupport"]),
        .testTarget(name: "SymStoreTests", dependencies: ["SymStore", "SymModel", "SymTestSupport"]),
        .testTarget(name: "SymEngineTests", dependencies: ["SymEngine", "SymProtocol", "SymStore", "SymModel", "SymTestSupport"]),
        .testTarget(name: "SymTUITests", dependencies: ["SymTUI", "SymProtocol", "SymModel", "SymTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.0
import PackageDescription

// No Swift package dependencies: Foundation, XCTest, and the system C libraries ncursesw and sqlite3.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "SymTUI",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "symtui", targets: ["SymTUIMain"]),
        .executable(name: "symtui-bench", targets: ["SymBench"]),
    ],
    targets: [
        .systemLibrary(name: "CNCursesW", path: "Sources/CNCursesW"),
        .systemLibrary(name: "CSQLite3", path: "Sources/CSQLite3"),
        .target(name: "SymModel", swiftSettings: strict),
        .target(name: "SymStore", dependencies: ["SymModel", "CSQLite3"], swiftSettings: strict),
        .target(name: "SymEngine", dependencies: ["SymModel", "SymStore"], swiftSettings: strict),
        .target(name: "SymTUI", dependencies: ["SymModel", "SymStore", "SymEngine", "CNCursesW"], swiftSettings: strict),
        .executableTarget(name: "SymTUIMain", dependencies: ["SymTUI"], swiftSettings: strict),
        .executableTarget(name: "SymBench", dependencies: ["SymModel", "SymStore", "SymEngine", "SymTUI"], swiftSettings: strict),
        .testTarget(name: "SymModelTests", dependencies: ["SymModel"]),
        .testTarget(name: "SymStoreTests", dependencies: ["SymStore", "SymModel"]),
        .testTarget(name: "SymEngineTests", dependencies: ["SymEngine", "SymStore", "SymModel"]),
        .testTarget(name: "SymTUITests", dependencies: ["SymTUI", "SymModel"]),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.1
import PackageDescription

// Request-path modules skip Swift's run-time exclusivity checks: each object there is owned by
// one event loop and accessed sequentially, and the checks cost ~5% of proxy CPU (measured with
// perf; see docs/benchmarks.md). Compile-time exclusivity checking still applies.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

// Module map: see docs/ARCHITECTURE.md. Imports point inward: the algorithms (FerryPolicy) and the
// config model (FerryConfig) know nothing about I/O; FerryProxy is the only data-plane module.
let package = Package(
    name: "Ferry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ferry", targets: ["ferry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    ],
    targets: [
        // FerryConfig reads grpc_json_transcoder's descriptor set with FerryGRPC (stdlib only), so a bad
        // descriptor or service is a located config error.
        .target(name: "FerryConfig", dependencies: ["FerryGRPC", .product(name: "Yams", package: "Yams")]),
        .target(name: "FerryPolicy", swiftSettings: hotPath),
        // Protobuf wire format, descriptors, proto3 JSON mapping and HTTP rules for
        // grpc_json_transcoder; stdlib only.
        .target(name: "FerryGRPC"),
        .target(name: "CFerrySystem"),
        .target(name: "FerryTelemetry", dependencies: ["FerryConfig"], swiftSettings: hotPath),
        .target(
            name: "FerryProxy",
            dependencies: [
                "FerryConfig", "FerryPolicy", "FerryTelemetry", "FerryGRPC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: hotPath
        ),
        .target(
            name: "FerryAdmin",
            dependencies: [
                "FerryProxy", "FerryTelemetry", "FerryConfig", "CFerrySystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "FerryTestKit",
            dependencies: [
                "FerryProxy", "FerryAdmin", "FerryConfig", "FerryPolicy", "FerryTelemetry", "CFerrySystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ]
        ),
        .executableTarget(name: "ferry-policy-bench", dependencies: ["FerryPolicy"], path: "Sources/ferry-policy-bench"),
        // libFuzzer targets (scripts/fuzz); in normal builds they replay corpus files.
        .executableTarget(name: "ferry-fuzz-http1", dependencies: ["FerryProxy"], path: "Sources/ferry-fuzz-http1"),
        .executableTarget(name: "ferry-fuzz-config", dependencies: ["FerryProxy"], path: "Sources/ferry-fuzz-config"),
        .executableTarget(
            name: "ferry",
            dependencies: [
                "FerryProxy", "FerryAdmin", "FerryConfig", "FerryTelemetry", "FerryTestKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "FerryConfigTests", dependencies: ["FerryConfig", "FerryGRPC"]),
        .testTarget(name: "FerryPolicyTests", dependencies: ["FerryPolicy"]),
        .testTarget(name: "FerryGRPCTests", dependencies: ["FerryGRPC", "FerryTestKit"], exclude: ["Fixtures"]),
        .testTarget(name: "FerryTelemetryTests", dependencies: ["FerryTelemetry", "FerryConfig"]),
        .testTarget(
            name: "FerryProxyTests",
            dependencies: [
                "FerryProxy", "FerryTestKit", "FerryConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "FerryProxy", "FerryAdmin", "FerryTestKit", "FerryConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)

// swift-tools-version:6.0
import PackageDescription

// Engine modules compile for AVX2+FMA: without a target CPU Swift on Linux emits SSE2 only
// and `addProduct` becomes a libm `fmaf` call per lane (~30x slower, NUMERICS-FACTS §3).
let engineFlags: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "Pare",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pare", targets: ["pare"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // No pkgConfig "gsl": it would add -lgslcblas, a second CBLAS beside OpenBLAS.
        .systemLibrary(name: "CGSL", providers: [.apt(["libgsl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CGSL"], swiftSettings: engineFlags),
        .target(name: "Layers", dependencies: ["TensorCore"], swiftSettings: engineFlags),
        .target(name: "Data", dependencies: ["TensorCore", "CZlib"], swiftSettings: engineFlags),
        // The search space imports nothing numeric: search and cost model stay engine-free.
        .target(name: "SearchSpace", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Run directories: atomic files, lock, checkpoint container, metrics, progress.
        .target(name: "Runs", dependencies: ["CZlib"]),
        .target(name: "Supernet", dependencies: ["TensorCore", "Layers", "Data", "SearchSpace", "Search", "Runs"], swiftSettings: engineFlags),
        // Evolutionary search: sees the space and protocols only (never the network).
        .target(name: "Search", dependencies: ["SearchSpace"]),
        // Standalone models: sliced weights (safetensors), model.json, ONNX.
        .target(name: "Export", dependencies: ["TensorCore", "Data", "SearchSpace", "Runs", "Supernet"], swiftSettings: engineFlags),
        .target(name: "Bench", dependencies: ["TensorCore", "Layers", "SearchSpace", "Supernet"], swiftSettings: engineFlags),
        .executableTarget(
            name: "pare",
            dependencies: [
                "TensorCore", "Layers", "Data", "SearchSpace", "Runs", "Supernet", "Search", "Export", "Bench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: engineFlags),
        .target(name: "_TestSupport", dependencies: ["TensorCore", "Layers"], swiftSettings: engineFlags),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "DataTests", dependencies: ["Data", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "SearchSpaceTests", dependencies: ["SearchSpace"]),
        .testTarget(name: "SearchTests", dependencies: ["Search", "SearchSpace"]),
        .testTarget(name: "SupernetTests", dependencies: ["Supernet", "SearchSpace", "Data", "Runs", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Supernet", "SearchSpace", "Data", "Runs", "_TestSupport"], swiftSettings: engineFlags),
        // Runs the built binary; depending on `pare` makes `swift test` build it first.
        .testTarget(name: "CLITests", dependencies: ["pare"]),
    ]
)

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
        // oneDNN (no pkg-config file in Debian): int8 convolutions of the quantized inference path.
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // Image folders: PNG through libpng's simplified API, JPEG through libjpeg-turbo.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CGSL"], swiftSettings: engineFlags),
        .target(name: "Layers", dependencies: ["TensorCore"], swiftSettings: engineFlags),
        // Dataset readers (IDX, CIFAR-10, image folders, NumPy), the decode cache, splits,
        // normalization, augmentation, batching.
        .target(name: "Datasets", dependencies: ["TensorCore", "CZlib", "CPNG", "CJPEG"], swiftSettings: engineFlags),
        // Search spaces, architectures, cost model: imports nothing numeric, so search and
        // cost model stay engine-free.
        .target(name: "Spaces", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The job's processes: one, or MPI ranks (OpenMPI loaded at run time, only under mpirun).
        .target(name: "Distributed"),
        // Run directories: atomic files, lock, checkpoint container, metrics, progress.
        .target(name: "Runs", dependencies: ["CZlib"]),
        // The networks built from a space (weight-sharing Supernet, single-architecture
        // Subnet): their operators, the inference graph, the model description, evaluation
        // and BN recalibration.
        .target(name: "Networks", dependencies: ["TensorCore", "Layers", "Datasets", "Spaces", "Runs"], swiftSettings: engineFlags),
        // Training a network: the recipe and trainer, the supernet run (path sampling,
        // checkpoints, resume), data parallelism, the moving average, distillation.
        .target(name: "Training", dependencies: ["TensorCore", "Layers", "Datasets", "Spaces", "Runs", "Networks"], swiftSettings: engineFlags),
        // Evolutionary search: sees the space and protocols only (never the network).
        // It writes its own files (SearchRun) through Runs.
        .target(name: "Search", dependencies: ["Spaces", "Runs"]),
        // The adapter between the two: scores candidates with a supernet's inherited weights.
        .target(name: "Scoring", dependencies: ["Networks", "Training", "Search", "Spaces", "Datasets", "Runs", "TensorCore", "Distributed"], swiftSettings: engineFlags),
        // Int8: calibration observers, the quantized graph, the float and integer executors.
        .target(name: "Quantization", dependencies: ["TensorCore", "Datasets", "Networks", "CDNNL"], swiftSettings: engineFlags),
        // Standalone models: sliced weights (safetensors), model.json, ONNX (float and QDQ int8).
        .target(name: "Export", dependencies: ["TensorCore", "Datasets", "Spaces", "Runs", "Networks", "Quantization"], swiftSettings: engineFlags),
        // Channel importance, reordering and pruning of trained networks (channel groups come
        // from Networks): the same width mechanism as the supernet's.
        .target(name: "Pruning", dependencies: ["TensorCore", "Layers", "Spaces", "Networks"], swiftSettings: engineFlags),
        .target(name: "Bench", dependencies: ["TensorCore", "Layers", "Datasets", "Spaces", "Networks", "Training", "Scoring"], swiftSettings: engineFlags),
        // The application layer: typed requests in, typed results out, progress through a
        // log callback (supernet training, search, export, finetune, prune). No ArgumentParser:
        // tests drive every workflow as a library call.
        .target(name: "Workflows", dependencies: ["TensorCore", "Layers", "Datasets", "Spaces", "Runs", "Networks", "Training", "Search", "Scoring", "Export", "Pruning", "Quantization", "Distributed"], swiftSettings: engineFlags),
        .executableTarget(
            name: "pare",
            dependencies: [
                "TensorCore", "Layers", "Datasets", "Spaces", "Runs", "Networks", "Training", "Search", "Scoring", "Export", "Bench", "Pruning", "Distributed", "Quantization", "Workflows",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: engineFlags),
        .target(name: "_TestSupport", dependencies: ["TensorCore", "Layers", "Spaces", "Datasets"], swiftSettings: engineFlags),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "SpacesTests", dependencies: ["Spaces", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "SearchTests", dependencies: ["Search", "Spaces", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "NetworksTests", dependencies: ["Networks", "Spaces", "Datasets", "Runs", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Networks", "Spaces", "Datasets", "Runs", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Networks", "Training", "Quantization", "Pruning", "Scoring", "Spaces", "Datasets", "Runs", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "QuantizationTests", dependencies: ["Quantization", "Layers", "Networks", "Export", "Datasets", "Spaces", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "Networks", "Training", "Spaces", "Datasets", "Export", "Runs", "_TestSupport"], swiftSettings: engineFlags),
        .testTarget(name: "WorkflowsTests", dependencies: ["Workflows", "Scoring", "Distributed", "Networks", "Training", "Spaces", "Datasets", "Runs", "Export", "Search", "TensorCore", "_TestSupport"], swiftSettings: engineFlags),
        // Runs the built binary; depending on `pare` makes `swift test` build it first.
        .testTarget(name: "CLITests", dependencies: ["pare", "Datasets", "Runs", "Export", "_TestSupport"], swiftSettings: engineFlags),
    ]
)

import Datasets
import Export
import Foundation
import Networks
import Runs
import Spaces
import TensorCore
import Testing
import Training
import _TestSupport

/// A briefly trained supernet (weights and running statistics away from their init).
/// `sharing`: shuffle3/5 and mbconv3_e3/mbconv5_e6 of a block share one operator.
/// `pruningNet`: block weights generated from the architecture (MetaPruning).
/// `classic`: the ResNet / plain-conv / MobileNetV1 space instead (its own kernel sharing).
func trainedSupernet(steps: Int = 12, sharing: KernelSharing = .separate, pruningNet: Bool = false,
                     classic: Bool = false) throws -> (TrainingRun, Dataset, Normalization) {
    // Two MobileNetV2 blocks: the second one can have its residual.
    var space = classic ? try tinyClassicSpace() : try tinySpace(lastStageBlocks: 2)
    if !classic { space.kernelSharing = sharing }
    space.pruningNet = pruningNet
    let (train, val) = try tinyData()
    return try trainedRun(space, train: train, validation: val, steps: steps)
}

/// `steps` steps of a 3-epoch run of `space` (batch 32) on the given splits.
func trainedRun(_ space: SearchSpace, train: Dataset, validation: Dataset, steps: Int) throws -> (TrainingRun, Dataset, Normalization) {
    var config = TrainConfig(space: space, spaceFile: "export-test.yaml", data: "synthetic")
    config.epochs = 3
    config.recipe.batchSize = 32
    config.calibrationBatches = 1
    config.probes = 0
    let norm = Normalization.fit(train)
    let t = try TrainingRun(config: config, train: train, validation: validation, normalization: norm)
    for _ in 0..<steps { _ = try t.trainStep() }
    return (t, train, norm)
}

/// Raw [0, 1] images NCHW, and the normalized [C, H, W, N] map Pare's forward takes.
func images(_ n: Int, space: SearchSpace, norm: Normalization, seed: UInt64) -> (nchw: [Float], map: OwnedMap) {
    let c = space.inputChannels, s = space.inputSize
    let rng = RNG(seed: seed)
    let raw = (0..<(n * c * s * s)).map { _ in Float(rng.uniform()) }
    let map = OwnedMap(channels: c, height: s, width: s, batch: n)
    for i in 0..<n { for ch in 0..<c { for p in 0..<(s * s) {
        map.map.pointer[(ch * s * s + p) * n + i] = (raw[(i * c + ch) * s * s + p] - norm.mean[ch]) / norm.std[ch]
    } } }
    return (raw, map)
}

/// Logits [classes, N] of a forward, as [N, classes] (ONNX's order).
func logitsRowMajor(_ net: any Network, _ x: OwnedMap, _ arch: Architecture) -> [Float] {
    let y = net.forward(x.map, arch: arch, mode: .inference)
    let n = y.batch, k = y.channels
    return (0..<(n * k)).map { y.pointer[($0 % k) * n + $0 / k] }
}

func recalibrated(_ t: TrainingRun, _ train: Dataset, _ norm: Normalization, _ arch: Architecture) {
    let loader = BatchLoader(dataset: train, batchSize: 32, normalization: norm, shuffle: false, dropLast: false)
    ArchitectureEvaluator(network: t.supernet!).recalibrate(arch: arch, loader: loader, indices: Array(0..<96))
}

let provenance = ModelDescription.Provenance(run: "test", spaceFile: "export-test.yaml", data: "synthetic", validation: 40, trainLimit: 0, supernetCheckpoint: "none",
                                             search: nil, inheritedScore: nil, calibrationImages: 96, exportedAt: "2026-11-23T00:00:00Z")

/// Runs tools/pare_model.py on `model` with uint8 NCHW `pixels`, checking its logits against
/// Pare's (`logits`, [N, classes]) within 1e-4.
func numpyCheck(_ python: String, model: ModelDirectory, pixels: [UInt8], logits: [Float], classes k: Int,
                in tmp: TemporaryDirectory) throws -> (status: Int32, output: String) {
    let n = logits.count / k
    var csv = "index,label,predicted," + (0..<k).map { "logit_\($0)" }.joined(separator: ",") + "\n"
    for j in 0..<n {
        let row = Array(logits[(j * k)..<((j + 1) * k)])
        csv += "\(j),0,\(row.firstIndex(of: row.max()!)!)," + row.map { String($0) }.joined(separator: ",") + "\n"
    }
    try Data(pixels).write(to: URL(fileURLWithPath: tmp.file("pixels.u8")))
    try Data(csv.utf8).write(to: URL(fileURLWithPath: tmp.file("pare.csv")))
    return try runProgram(python, [repositoryFile("tools/pare_model.py"), model.path, "--raw", tmp.file("pixels.u8"),
                                   "--count", "\(n)", "--check", tmp.file("pare.csv"), "--tolerance", "1e-4"])
}

import Datasets
import Export
import Foundation
import Runs
import Spaces
import Networks
import TensorCore
import Testing
import _TestSupport

/// Every operator form: ShuffleNet with projection and split, Xception, MobileNetV2 with
/// and without the residual shortcut.
let exportSpaceText = """
    name: export-test
    input: {channels: 1, size: 12}
    classes: 4
    stem: {channels: 4}
    stages:
      - {blocks: 2, stride: 2, widths: [6, 8], operators: [shuffle3, shuffle5, xception], middle_ratios: [0.5, 1.0, 1.5]}
      - {blocks: 2, stride: 2, widths: [12, 16], operators: [mbconv3_e3, mbconv5_e6], middle_ratios: [0.5, 1.0]}
    head: {channels: 16}
    """

/// A briefly trained supernet (weights and running statistics away from their init).
func trainedSupernet(steps: Int = 12) throws -> (TrainingRun, Dataset, Normalization) {
    let space = try SpaceFile.parse(exportSpaceText, file: "export-test.yaml")
    var spec = SyntheticSpec()
    spec.height = 12; spec.width = 12; spec.classes = 4; spec.trainCount = 200; spec.testCount = 10
    let (all, _) = try DataSource.synthetic(spec).load()
    let (train, val) = try all.splitValidation(40)
    var config = TrainConfig(space: space, spaceFile: "export-test.yaml", data: "synthetic")
    config.epochs = 3
    config.recipe.batchSize = 32
    config.calibrationBatches = 1
    config.probes = 0
    let norm = Normalization.fit(train)
    let t = try TrainingRun(config: config, train: train, validation: val, normalization: norm)
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

func temporaryDirectory(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pare-export-\(name)-\(getpid())").path
    try? FileManager.default.removeItem(atPath: dir)
    return dir
}

let provenance = ModelDescription.Provenance(run: "test", spaceFile: "export-test.yaml", data: "synthetic", validation: 40, trainLimit: 0, supernetCheckpoint: "none",
                                             search: nil, inheritedScore: nil, calibrationImages: 96, exportedAt: "2026-11-23T00:00:00Z")

@Suite("Standalone export") struct StandaloneExportTests {
    @Test("the extracted model computes the supernet's logits for its architecture, holding exactly the architecture's parameters")
    func extractedEqualsSupernet() throws {
        let (t, train, norm) = try trainedSupernet()
        let space = t.config.space
        let rng = RNG(seed: 21)
        for arch in [space.smallest, space.largest] + (0..<6).map({ _ in space.randomArchitecture(rng) }) {
            recalibrated(t, train, norm, arch)
            let x = images(5, space: space, norm: norm, seed: 3)
            let expected = logitsRowMajor(t.supernet!, x.map, arch)
            let model = try t.supernet!.extract(arch)
            #expect(maxAbsDifference(logitsRowMajor(model, x.map, arch), expected) <= 1e-5, "\(arch)")
            #expect(model.parameters.reduce(0) { $0 + $1.count } == space.cost(arch).parameters, "physically sliced: \(arch)")
        }
    }

    @Test("the folded inference graph matches Pare's forward (reference interpreter)")
    func graphMatchesForward() throws {
        let (t, train, norm) = try trainedSupernet()
        let space = t.config.space
        let rng = RNG(seed: 5)
        for arch in [space.largest] + (0..<5).map({ _ in space.randomArchitecture(rng) }) {
            recalibrated(t, train, norm, arch)
            let model = try t.supernet!.extract(arch)
            let x = images(3, space: space, norm: norm, seed: 8)
            let graph = try model.inferenceGraph(arch, mean: norm.mean, std: norm.std)
            #expect(maxAbsDifference(interpret(graph, input: x.nchw, batch: 3), logitsRowMajor(model, x.map, arch)) <= 1e-4, "\(arch)")
        }
    }

    @Test("export then load gives the same network bit for bit")
    func roundTrip() throws {
        let (t, train, norm) = try trainedSupernet()
        let arch = t.config.space.randomArchitecture(RNG(seed: 2))
        recalibrated(t, train, norm, arch)
        let model = try t.supernet!.extract(arch)
        let dir = ModelDirectory(path: temporaryDirectory("roundtrip"))
        let written = try dir.write(model: model, normalization: norm, provenance: provenance, folded: true, onnx: false)
        let (description, loaded) = try dir.load()
        #expect(description == written)
        #expect(description.architecture == arch.description)
        for (a, b) in zip(model.stateTensors, loaded.stateTensors) {
            #expect(a.name == b.name && a.shape == b.shape)
            #expect(Array(UnsafeBufferPointer(start: a.pointer, count: a.count)) == Array(UnsafeBufferPointer(start: b.pointer, count: b.count)))
        }
        let x = images(4, space: t.config.space, norm: norm, seed: 1)
        #expect(logitsRowMajor(loaded, x.map, arch) == logitsRowMajor(model, x.map, arch))
        // Extracting from a standalone model (single-operator slots, no ".ops.J") copies it.
        #expect(logitsRowMajor(try loaded.extract(arch), x.map, arch) == logitsRowMajor(model, x.map, arch))
        // PyTorch naming: a block's tensors are blocks.B.main.* / blocks.B.proj.*.
        #expect(description.tensors.contains { $0.name == "blocks.0.main.bn3.running_var" || $0.name == "blocks.0.main.bn6.running_var" })
        #expect(description.tensors.contains { $0.name.hasPrefix("blocks.2.expand.weight") })
        let folded = try Safetensors.read(dir.file(ModelDirectory.foldedFile)).tensors
        #expect(folded["stem.conv.bias"]?.shape == [4])
        #expect(!folded.keys.contains { $0.contains("running") })
    }
}

@Suite("Weight files") struct WeightFileTests {
    func exported(_ name: String) throws -> ModelDirectory {
        let (t, _, norm) = try trainedSupernet(steps: 2)
        let model = try t.supernet!.extract(t.config.space.smallest)
        let dir = ModelDirectory(path: temporaryDirectory(name))
        try dir.write(model: model, normalization: norm, provenance: provenance, folded: false, onnx: false)
        return dir
    }

    @Test("safetensors round trip and layout: 8-byte length, JSON header, aligned data")
    func safetensorsRoundTrip() throws {
        let tensors = [Safetensors.Tensor(name: "a.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                       Safetensors.Tensor(name: "b", shape: [1], values: [-0.5])]
        let data = Safetensors.encode(tensors, metadata: ["k": "v"])
        let n = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + n) % 8 == 0 && data.count == 8 + n + 28)
        let (read, meta) = try Safetensors.decode(data, path: "x.safetensors")
        #expect(read["a.weight"] == tensors[0] && read["b"] == tensors[1] && meta["k"] == "v")
    }

    @Test("truncated, corrupt, missing, extra and misshapen tensors are typed errors naming file and tensor")
    func badFiles() throws {
        let dir = try exported("bad")
        let path = dir.file(ModelDirectory.weightsFile)
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        func expectLoadError(_ data: Data, _ check: (ModelFileError) -> Bool) throws {
            try data.write(to: URL(fileURLWithPath: path))
            do {
                _ = try dir.load()
                Issue.record("load succeeded on a bad file")
            } catch let e as ModelFileError {
                #expect(check(e), "\(e)")
                #expect(e.description.hasPrefix(path))
            }
        }
        try expectLoadError(good.prefix(good.count - 10)) { if case .truncated(_, let t, _, _) = $0 { return !t.isEmpty } else { return false } }
        try expectLoadError(good.prefix(5)) { if case .corrupt = $0 { return true } else { return false } }
        var flipped = good
        flipped[flipped.count - 3] ^= 0x40
        try expectLoadError(flipped) { if case .checksum = $0 { return true } else { return false } }
        var header = good
        header[12] = 0x7B  // '{' inside the JSON: no longer an object
        try expectLoadError(header) { if case .corrupt = $0 { return true } else { return false } }

        var (tensors, _) = try Safetensors.decode(good, path: path)
        let victim = "fc.bias"
        let all = tensors.values.sorted { $0.name < $1.name }
        try expectLoadError(Safetensors.encode(all.filter { $0.name != victim })) { $0 == .missingTensor(path: path, tensor: victim) }
        try expectLoadError(Safetensors.encode(all + [.init(name: "extra", shape: [1], values: [0])])) { $0 == .unexpectedTensor(path: path, tensor: "extra") }
        tensors[victim] = .init(name: victim, shape: [2, 2], values: [0, 0, 0, 0])
        try expectLoadError(Safetensors.encode(tensors.values.sorted { $0.name < $1.name })) {
            $0 == .shapeMismatch(path: path, tensor: victim, expected: [4], found: [2, 2])
        }
        try good.write(to: URL(fileURLWithPath: path))
        _ = try dir.load()

        // model.json disagreeing with the architecture, or broken.
        let jsonPath = dir.file(ModelDirectory.descriptionFile)
        let json = try String(contentsOfFile: jsonPath, encoding: .utf8)
        try json.replacingOccurrences(of: "\"fc.weight\"", with: "\"fc.w\"").write(toFile: jsonPath, atomically: true, encoding: .utf8)
        #expect(throws: ModelFileError.self) { _ = try dir.load() }
        try "{\"format\": \"pare-model\"}".write(toFile: jsonPath, atomically: true, encoding: .utf8)
        do { _ = try dir.load(); Issue.record("loaded a model.json without fields") } catch let e as ModelFileError {
            #expect(e.description.contains("model.json: field '"), "\(e)")
        }
    }
}

import Datasets
import Export
import Foundation
import Networks
import Pruning
import Quantization
import Spaces
import TensorCore
import Testing
import _TestSupport

/// Every operator kind (`Operator.Kind.allCases`, so a new kind joins by itself) through
/// every path a model takes: supernet, extraction, the cost model against the layers
/// model.json lists, the folded graph, ONNX (onnxruntime), the numpy loader, channel groups
/// and pruning, int8. A kind wired into some paths and not others fails here.
@Suite("Every operator through every path") struct EveryOperatorTests {
    /// How a space of one kind is built: its kernel sharing and whether its stages have
    /// elastic depth (one or both blocks run) and even middle widths (channel_multiple 2).
    struct Setting: Sendable, CustomStringConvertible {
        var sharing: KernelSharing
        var elasticDepth: Bool
        var description: String { sharing.rawValue + (elasticDepth ? " elastic depth, channel multiple 2" : "") }
        static let all = [Setting(sharing: .separate, elasticDepth: false), Setting(sharing: .centreCrop, elasticDepth: false),
                          Setting(sharing: .centreCrop, elasticDepth: true)]
    }

    /// Two stages of two blocks of `kind` alone (stride 2 with a projection, then stride 1
    /// keeping the width) on 12x12 images; with kernel sharing the kind's kernels share
    /// weights; with elastic depth a candidate may skip each stage's second block.
    func space(_ kind: Operator.Kind, setting: Setting) throws -> SearchSpace {
        let sharing = setting.sharing
        let depths = setting.elasticDepth ? ", depths: [1, 2]" : ""
        let ops = kind.examples.map(\.description).joined(separator: ", ")
        let ratios = kind.examples[0].middle.isOwn ? ", middle_ratios: [0.5, 1.0]" : ""
        // Heads alternate so that pooling right after the last block is covered too.
        let head = Operator.Kind.allCases.firstIndex(of: kind)! % 2 == 0 ? 16 : 0
        return try SpaceFile.parse("""
            name: every-\(kind)
            input: {channels: 1, size: 12}
            classes: 4
            stem: {channels: 4}
            kernel_sharing: \(sharing.rawValue)
            channel_multiple: \(setting.elasticDepth ? 2 : 1)
            stages:
              - {blocks: 2, stride: 2, widths: [6, 8], operators: [\(ops)]\(ratios)\(depths)}
              - {blocks: 2, stride: 2, widths: [12, 16], operators: [\(ops)]\(ratios)\(depths)}
            head: {channels: \(head)}
            """, file: "every.yaml")
    }

    @Test("each kind's examples are of that kind and parse back from their names")
    func kindsAreComplete() {
        for kind in Operator.Kind.allCases {
            #expect(kind.examples.allSatisfy { $0.kind == kind && Operator(name: $0.description) == $0 }, "\(kind)")
        }
    }

    @Test(arguments: Operator.Kind.allCases, Setting.all)
    func everyPath(kind: Operator.Kind, setting: Setting) throws {
        BLAS.configure()
        let space = try space(kind, setting: setting)
        let (train, val) = try tinyData()
        let (t, _, norm) = try trainedRun(space, train: train, validation: val, steps: 8)
        let net = t.supernet!
        let rng = RNG(seed: 31)
        let archs = [space.smallest, space.largest] + (0..<3).map { _ in space.randomArchitecture(rng) }
        if setting.elasticDepth {
            #expect(archs.contains(where: \.skipsBlocks) && archs.contains { !$0.skipsBlocks }, "\(archs)")
            for a in archs { for (slot, w) in zip(space.blocks, space.blockWidths(a)) where slot.operators[0].middle.isOwn { #expect(w.middle % 2 == 0) } }
        }
        for (i, arch) in archs.enumerated() {
            let label = "\(kind) \(setting) \(arch)"
            recalibrated(t, train, norm, arch)
            let x = images(5, space: space, norm: norm, seed: UInt64(50 + i))
            let model = try net.extract(arch)
            // A skipping architecture becomes a network of its own depth.
            let fixed = model.architecture
            #expect(!fixed.skipsBlocks && fixed.genes == arch.genes.filter { !$0.skipped } && model.space.stages.allSatisfy { $0.depths == nil }, "\(label)")
            // Extraction: the supernet's function, exactly the architecture's parameters.
            #expect(maxAbsDifference(logitsRowMajor(model, x.map, fixed), logitsRowMajor(net, x.map, arch)) <= 1e-5, "\(label)")
            #expect(model.parameters.reduce(0) { $0 + $1.count } == space.cost(arch).parameters, "\(label)")
            #expect(model.space.cost(fixed) == space.cost(arch) && model.space.edgeCost(fixed) == space.edgeCost(arch), "\(label)")
            // The cost model counts the layers model.json describes.
            #expect(counted(try model.describe(fixed), inputSize: space.inputSize) == space.cost(arch), "\(label)")
            // The folded graph (the source of ONNX and int8) computes the forward.
            let graph = try model.inferenceGraph(fixed, mean: norm.mean, std: norm.std)
            #expect(maxAbsDifference(interpret(graph, input: x.nchw, batch: 5), logitsRowMajor(model, x.map, fixed)) <= 1e-4, "\(label)")
        }
        // A random candidate, or under elastic depth the first one that skips a block.
        let arch = setting.elasticDepth ? archs.dropFirst(2).first(where: \.skipsBlocks) ?? archs[0] : archs[4]
        recalibrated(t, train, norm, arch)
        let model = try net.extract(arch)
        try externalTools(model, arch: model.architecture, norm: norm, label: "\(kind) \(setting)")
        try groupsAndPruning(model, label: "\(kind) \(setting)")
        try int8(model, arch: model.architecture, norm: norm, train: train, label: "\(kind) \(setting)")
    }

    /// onnxruntime on model.onnx and tools/pare_model.py on model.json + safetensors.
    func externalTools(_ model: Subnet, arch: Architecture, norm: Normalization, label: String) throws {
        guard let python = testPython() else {
            Issue.record("no Python with onnxruntime and numpy: run scripts/setup.sh (creates .venv) or set PARE_PYTHON")
            return
        }
        let space = model.space
        let tmp = TemporaryDirectory("every-op")
        defer { withExtendedLifetime(tmp) {} }
        let dir = ModelDirectory(path: tmp.file("model"))
        try dir.write(model: model, normalization: norm, provenance: provenance, folded: false, onnx: true)
        let n = 6
        let x = images(n, space: space, norm: norm, seed: 77)
        let expected = logitsRowMajor(model, x.map, arch)
        try x.nchw.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: tmp.file("input.f32")))
        try expected.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: tmp.file("expected.f32")))
        let onnx = try runProgram(python, [repositoryFile("scripts/check_onnx.py"), dir.file(ModelDirectory.onnxFile),
                                           tmp.file("input.f32"), tmp.file("expected.f32"), "\(n)", "\(space.inputChannels)",
                                           "\(space.inputSize)", "\(space.inputSize)", "\(space.classes)", "1e-4"])
        #expect(onnx.status == 0, "\(label) onnxruntime: \(onnx.output)")
        // The numpy loader reads uint8 pixels: the same images quantized to bytes.
        let bytes = x.nchw.map { UInt8(($0 * 255).rounded()) }
        let exact = normalized(bytes, n: n, space: space, norm: norm)
        let logits = logitsRowMajor(model, exact, arch)
        let numpy = try numpyCheck(python, model: dir, pixels: bytes, logits: logits, classes: space.classes, in: tmp)
        #expect(numpy.status == 0 && numpy.output.contains("0 clear predictions differ"), "\(label) numpy: \(numpy.output)")
    }

    /// Reordering every channel group leaves the function unchanged; pruning a third of the
    /// prunable channels gives a smaller network holding exactly its cost's parameters.
    func groupsAndPruning(_ model: Subnet, label: String) throws {
        let space = model.space
        let x = OwnedMap.random(channels: space.inputChannels, height: space.inputSize, width: space.inputSize, batch: 4, rng: RNG(seed: 3))
        let before = model.forward(x.map, mode: .inference).toArray()
        let groups = model.channelGroups
        #expect(groups.flatMap(\.producers).allSatisfy { p in model.parameters.contains { $0.name == p.weight } }, "\(label)")
        let rng = RNG(seed: 9)
        let scores = groups.map { g in g.prunable ? (0..<g.channels).map { _ in rng.uniform() } : [] }
        let orders = ChannelOrder.sort(groups, scores: scores, in: TensorStore(model))
        #expect(orders.contains { !$0.isEmpty && $0 != Array(0..<$0.count) }, "\(label): nothing moved")
        #expect(maxAbsDifference(model.forward(x.map, mode: .inference).toArray(), before) <= 1e-4, "\(label): reordering changed the function")
        let pruner = Pruner(model: model)
        let plan = try pruner.plan(scores: scores, removing: 0.3)
        let pruned = try pruner.apply(plan, scores: scores)
        #expect(plan.cost.macs < space.cost(model.architecture).macs, "\(label)")
        // The pruned space is a valid one (model.json of a pruned model decodes it).
        #expect(throws: Never.self, "\(label)") { try plan.space.validate(file: "pruned") }
        #expect(pruned.parameters.reduce(0) { $0 + $1.count } == plan.space.cost(plan.architecture).parameters, "\(label)")
        let prunedLogits = pruned.forward(x.map, mode: .inference).toArray()
        #expect(prunedLogits.allSatisfy { $0.isFinite }, "\(label)")
    }

    /// The int8 model: oneDNN equals the integer reference, predictions follow the float model's.
    func int8(_ model: Subnet, arch: Architecture, norm: Normalization, train: Dataset, label: String) throws {
        let graph = try model.inferenceGraph(arch, mean: norm.mean, std: norm.std).foldingInputNormalization()
        let q = try Calibration.quantize(graph, images: ImageSource(dataset: train), settings: QuantizationSettings(observer: .minmax, powerOfTwo: false),
                                         engine: Engine(threads: 2))
        let images = ImageSource(dataset: train, indices: Array(0..<100))
        let pixels = images.pixels(0..<9)
        let reference = IntegerExecutor.run(q, input: pixels, batch: 9) { _, _ in }
        let fast = try DNNLExecutor(q).run(pixels, batch: 9) { _, _ in }
        #expect(fast == reference, "\(label)")
        // Edge costs: the peak the executor holds at batch 1 and the int8 file's payload.
        var peak = 0
        _ = IntegerExecutor.run(q, input: Array(pixels.prefix(model.space.inputChannels * model.space.inputSize * model.space.inputSize)),
                                batch: 1, held: { peak = max(peak, $0) })
        let edge = model.space.edgeCost(arch)
        #expect(edge.peakActivationBytes == peak, "\(label): predicted \(edge.peakActivationBytes), held \(peak)")
        #expect(edge.flashBytes == Int8ModelFile.tensors(q).reduce(0) { $0 + $1.bytes.count }, "\(label)")
        let a = try QuantizedEvaluation.accuracy(q, images: images, engine: Engine(threads: 2))
        #expect(a.agreement >= 0.85, "\(label): \(a)")
    }

    /// The normalized map of uint8 pixels NCHW.
    func normalized(_ bytes: [UInt8], n: Int, space: SearchSpace, norm: Normalization) -> OwnedMap {
        let c = space.inputChannels, s = space.inputSize
        let map = OwnedMap(channels: c, height: s, width: s, batch: n)
        for i in 0..<n { for ch in 0..<c { for p in 0..<(s * s) {
            map.map.pointer[(ch * s * s + p) * n + i] = (Float(bytes[(i * c + ch) * s * s + p]) / 255 - norm.mean[ch]) / norm.std[ch]
        } } }
        return map
    }

    /// MACs per image and parameters of the layers a description lists (convolutions at
    /// their output resolution, BN scale and shift, the classifier), counted independently
    /// of the cost model.
    func counted(_ d: NetworkDescription, inputSize: Int) -> Cost {
        var macs = 0, params = 0
        func layer(_ l: NetworkDescription.Layer, _ size: Int) -> Int {
            let out = (size + 2 * l.padding - l.kernel) / l.stride + 1
            let weights = l.kernel * l.kernel * (l.inputChannels / l.groups) * l.outputChannels
            macs += weights * out * out
            params += weights + 2 * l.outputChannels
            return out
        }
        var size = layer(d.stem, inputSize)
        for block in d.blocks {
            var s = block.inputSize
            for l in block.main { s = layer(l, s) }
            _ = (block.projection ?? []).reduce(block.inputSize) { layer($1, $0) }
            size = s
        }
        if let head = d.head { size = layer(head, size) }
        macs += d.classifier.inputFeatures * d.classifier.outputFeatures
        params += d.classifier.inputFeatures * d.classifier.outputFeatures + d.classifier.outputFeatures
        return Cost(macs: macs, parameters: params)
    }
}

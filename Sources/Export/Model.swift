import Datasets
import Foundation
import Runs
import Spaces
import Networks
import TensorCore

/// `model.json` of an exported model: what the network is (space, architecture, every
/// tensor's exact shape), how to feed it (input shape, normalization) and where it came from.
public struct ModelDescription: Codable, Equatable, Sendable {
    public var format = "pare-model"
    /// 2 added `network` and `files`; version 1 files are still read.
    public var version = ModelDescription.currentVersion
    public static let currentVersion = 2
    /// Text form of the architecture (`pare export --arch` takes it back).
    public var architecture: String
    public var space: SearchSpace
    /// [channels, height, width] of one input image; pixels scaled to [0, 1] before `normalization`.
    public var inputShape: [Int]
    public var classes: Int
    public var normalization: Normalization
    public var macs: Int
    public var parameters: Int
    /// Every tensor of the weight file, in the network's order.
    public var tensors: [TensorEntry]
    /// Every layer of the network spelled out (version 2): enough to rebuild it from this
    /// file and the weights alone; see docs/formats.md.
    public var network: NetworkDescription?
    /// Which weights each file of the directory holds (version 2).
    public var files: [FileEntry]?
    public var weights = ModelDirectory.weightsFile
    /// BN folded into each convolution (NAME.weight, NAME.bias per conv; no BN tensors).
    public var foldedWeights: String?
    public var onnx: String?
    public var provenance: Provenance
    /// How the model was pruned from another, when it was (`pare prune`).
    public var pruning: PruningRecord?

    public struct TensorEntry: Codable, Equatable, Sendable {
        public var name: String
        public var shape: [Int]
    }

    /// One file of the model directory and the weights it holds.
    public struct FileEntry: Codable, Equatable, Sendable {
        public enum Content: String, Codable, Sendable {
            /// Every tensor of `tensors` (safetensors, F32).
            case weights
            /// BN folded into each convolution: NAME.weight and NAME.bias per conv, fc.* (safetensors).
            case foldedWeights = "folded_weights"
            /// The folded inference graph, ONNX opset 13.
            case onnx
            /// int8 weights, scales and activation grids (`pare quantize`).
            case int8Weights = "int8_weights"
            /// The int8 model as QDQ ONNX.
            case int8ONNX = "int8_onnx"
        }
        public var file: String
        public var content: Content
        /// exported (inherited from the supernet), finetuned, scratch, or the weight file it was made from.
        public var weights: String
        public init(file: String, content: Content, weights: String) {
            self.file = file; self.content = content; self.weights = weights
        }
    }

    /// Records `entry`, replacing an earlier entry for the same file.
    public mutating func record(_ entry: FileEntry) {
        var list = (files ?? []).filter { $0.file != entry.file }
        list.append(entry)
        files = list
    }

    /// What `pare prune` did: the source model, the criterion, the target and every width
    /// before and after.
    public struct PruningRecord: Codable, Equatable, Sendable {
        public struct Width: Codable, Equatable, Sendable {
            /// stem, stage S, block B middle, head (joined by "+" when shortcuts couple them).
            public var width: String
            public var before: Int
            public var after: Int
            public init(width: String, before: Int, after: Int) { self.width = width; self.before = before; self.after = after }
        }
        /// The model directory pruned (the original, for every round) and its weights.
        public var source: String
        public var sourceWeights: String
        public var method: String
        /// FPGM's weak-layer factor and denominator offset (fpgm, fpgm-weak).
        public var nu: Double?
        public var theta: Double?
        public var minimumWidthFraction: Double
        /// e.g. "50% of MACs (15.511 M)".
        public var target: String
        /// The same target as a cost and its value (what a resumed prune is checked against;
        /// absent in models pruned before it was recorded).
        public var goal: Goal?
        public struct Goal: Codable, Equatable, Sendable {
            public enum Metric: String, Codable, Sendable { case macs, parameters }
            public var metric: Metric
            public var value: Int
            public init(metric: Metric, value: Int) { self.metric = metric; self.value = value }
        }
        public var sourceMacs: Int
        public var sourceParameters: Int
        public var widths: [Width]
        /// Round k of `rounds` (iterative prune and finetune); 1 of 1 for one shot.
        public var round: Int
        public var rounds: Int
        /// Validation accuracy of the source, and of the pruned model after BN recalibration
        /// (before any finetuning).
        public var sourceValidationAccuracy: Double
        public var prunedValidationAccuracy: Double
        public var calibrationImages: Int
        public init(source: String, sourceWeights: String, method: String, nu: Double?, theta: Double?, minimumWidthFraction: Double,
                    target: String, sourceMacs: Int, sourceParameters: Int, widths: [Width], round: Int, rounds: Int,
                    sourceValidationAccuracy: Double, prunedValidationAccuracy: Double, calibrationImages: Int) {
            self.source = source; self.sourceWeights = sourceWeights; self.method = method; self.nu = nu; self.theta = theta
            self.minimumWidthFraction = minimumWidthFraction; self.target = target; self.sourceMacs = sourceMacs
            self.sourceParameters = sourceParameters; self.widths = widths; self.round = round; self.rounds = rounds
            self.sourceValidationAccuracy = sourceValidationAccuracy; self.prunedValidationAccuracy = prunedValidationAccuracy
            self.calibrationImages = calibrationImages
        }
    }

    public struct Provenance: Codable, Equatable, Sendable {
        public var run: String
        public var spaceFile: String
        public var data: String
        /// Training images held out at the end of the training file as the validation split,
        /// and the training-file limit: how `--split val` and finetuning rebuild the splits.
        public var validation: Int
        public var trainLimit: Int
        public var supernetCheckpoint: String
        /// The search result the architecture came from, when it came from one.
        public var search: String?
        /// Inherited-weight validation score (as the search saw it) at export.
        public var inheritedScore: Double?
        public var calibrationImages: Int
        public var exportedAt: String
        /// How an image folder was read (nil: not a folder, or the defaults).
        public var images: ImageOptions?
        /// The classes' names, when the data has them (an image folder's class folders).
        public var classNames: [String]?
        public init(run: String, spaceFile: String, data: String, validation: Int, trainLimit: Int, supernetCheckpoint: String,
                    search: String?, inheritedScore: Double?, calibrationImages: Int, exportedAt: String) {
            self.run = run; self.spaceFile = spaceFile; self.data = data; self.supernetCheckpoint = supernetCheckpoint
            self.validation = validation; self.trainLimit = trainLimit
            self.search = search; self.inheritedScore = inheritedScore; self.calibrationImages = calibrationImages
            self.exportedAt = exportedAt
        }
    }
}

/// An exported model directory: model.json, model.safetensors, optional
/// model.folded.safetensors and model.onnx; finetuning adds model.finetuned.safetensors
/// (model.scratch.safetensors when trained from scratch).
public struct ModelDirectory {
    public static let descriptionFile = "model.json"
    public static let weightsFile = "model.safetensors"
    public static let foldedFile = "model.folded.safetensors"
    public static let finetunedFile = "model.finetuned.safetensors"
    public static let scratchFile = "model.scratch.safetensors"
    /// Weights after quantization-aware finetuning (`pare finetune --qat`).
    public static let qatFile = "model.qat.safetensors"
    public static let onnxFile = "model.onnx"
    public static let int8ONNXFile = "model.int8.onnx"
    /// Weights-file metadata set to "true" when the validation split was trained on
    /// (`pare finetune --include-validation`): their validation accuracy is not held out.
    public static let validationTrainedKey = "validation_in_training"

    public let path: String
    public init(path: String) { self.path = path }
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes the subnet `model` (from `Supernet.extract`) with everything model.json
    /// describes; `folded` and `onnx` add the inference-only variants.
    @discardableResult
    public func write(model: Subnet, normalization: Normalization, provenance: ModelDescription.Provenance,
                      pruning: ModelDescription.PruningRecord? = nil, folded: Bool, onnx: Bool) throws -> ModelDescription {
        let arch = model.architecture
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let state = model.stateTensors
        let cost = model.space.cost(arch)
        var description = ModelDescription(
            architecture: arch.description, space: model.space,
            inputShape: [model.space.inputChannels, model.space.inputSize, model.space.inputSize],
            classes: model.space.classes, normalization: normalization, macs: cost.macs, parameters: cost.parameters,
            tensors: state.map { .init(name: $0.name, shape: $0.shape) }, provenance: provenance)
        description.network = try model.describe(arch)
        description.pruning = pruning
        try writeWeights(model, to: ModelDirectory.weightsFile, metadata: ["architecture": arch.description])
        description.record(.init(file: ModelDirectory.weightsFile, content: .weights, weights: "exported"))
        try writeInferenceFiles(model, weights: "exported", into: &description, folded: folded, onnx: onnx)
        try AtomicFile.writeJSON(encodable: description, to: file(ModelDirectory.descriptionFile))
        return description
    }

    /// File names of the inference files made from the weights labelled `weights`:
    /// model.folded.safetensors / model.onnx for the exported weights, model.LABEL.folded.safetensors /
    /// model.LABEL.onnx for the others.
    public static func inferenceFiles(weights: String) -> (folded: String, onnx: String) {
        weights == "exported" ? (foldedFile, onnxFile) : ("model.\(weights).folded.safetensors", "model.\(weights).onnx")
    }

    /// Writes the BN-folded weights and/or ONNX graph of `model` (holding the weights labelled
    /// `weights`) and records them in `description` (the caller writes model.json).
    public func writeInferenceFiles(_ model: Subnet, weights: String, into description: inout ModelDescription,
                                    folded: Bool, onnx: Bool) throws {
        guard folded || onnx else { return }
        let arch = model.architecture
        let graph = try model.inferenceGraph(arch, mean: description.normalization.mean, std: description.normalization.std)
        let names = Self.inferenceFiles(weights: weights)
        if folded {
            let tensors = graph.foldedTensors.map { Safetensors.Tensor(name: $0.name, shape: $0.shape, values: $0.values) }
            try Safetensors.write(tensors, metadata: ["architecture": arch.description, "folded": "true", "weights": weights], to: file(names.folded))
            if weights == "exported" { description.foldedWeights = names.folded }
            description.record(.init(file: names.folded, content: .foldedWeights, weights: weights))
        }
        if onnx {
            try AtomicFile.write(ONNXExport.encode(graph.foldingInputNormalization(), producerVersion: "1"), to: file(names.onnx))
            if weights == "exported" { description.onnx = names.onnx }
            description.record(.init(file: names.onnx, content: .onnx, weights: weights))
        }
    }

    /// Records in model.json that `file` holds the weights labelled `weights`.
    public func recordWeights(_ file: String, weights: String) throws {
        var d = try readDescription()
        d.record(.init(file: file, content: .weights, weights: weights))
        try AtomicFile.writeJSON(encodable: d, to: self.file(ModelDirectory.descriptionFile))
    }

    /// Writes the network's state tensors (all of them, at their exact shapes).
    public func writeWeights(_ model: any Network, to name: String, metadata: [String: String]) throws {
        let tensors = model.stateTensors.map {
            Safetensors.Tensor(name: $0.name, shape: $0.shape, values: Array(UnsafeBufferPointer(start: $0.pointer, count: $0.count)))
        }
        try Safetensors.write(tensors, metadata: metadata, to: file(name))
    }

    /// model.json, validated.
    public func readDescription() throws -> ModelDescription {
        let p = file(ModelDirectory.descriptionFile)
        guard FileManager.default.fileExists(atPath: p) else {
            throw ModelFileError.unreadable(path: p, reason: "no such file; is \(path) a directory written by `pare export`?")
        }
        let d: ModelDescription
        do { d = try JSONDecoder().decode(ModelDescription.self, from: try Data(contentsOf: URL(fileURLWithPath: p))) } catch let e as DecodingError {
            let (field, reason) = decodingFailure(e)
            throw ModelFileError.badModel(path: p, field: field.isEmpty ? "(top level)" : field, reason: reason)
        }
        guard d.format == "pare-model" else { throw ModelFileError.badModel(path: p, field: "format", reason: "'\(d.format)', expected 'pare-model'") }
        guard (1...ModelDescription.currentVersion).contains(d.version) else {
            throw ModelFileError.badModel(path: p, field: "version", reason: "\(d.version), this Pare reads versions 1 to \(ModelDescription.currentVersion)")
        }
        do { _ = try Architecture(parsing: d.architecture, space: d.space) } catch {
            throw ModelFileError.badModel(path: p, field: "architecture", reason: "\(error)")
        }
        // The space itself was validated when it was decoded; the fields beside it must agree.
        guard d.classes == d.space.classes else {
            throw ModelFileError.badModel(path: p, field: "classes", reason: "\(d.classes), the space has \(d.space.classes)")
        }
        guard d.inputShape == [d.space.inputChannels, d.space.inputSize, d.space.inputSize] else {
            throw ModelFileError.badModel(path: p, field: "inputShape", reason: "\(quoted(d.inputShape)), the space takes \([d.space.inputChannels, d.space.inputSize, d.space.inputSize])")
        }
        guard d.normalization.mean.count == d.space.inputChannels, d.normalization.std.count == d.space.inputChannels,
              d.normalization.mean.allSatisfy(\.isFinite), d.normalization.std.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw ModelFileError.badModel(path: p, field: "normalization", reason: "expected \(d.space.inputChannels) means and positive stds")
        }
        if let names = d.provenance.classNames, names.count != d.classes {
            throw ModelFileError.badModel(path: p, field: "provenance.classNames", reason: "expected \(d.classes) names, found \(names.count)")
        }
        return d
    }

    /// The subnet with the weights of `weightsName` (a file of the directory or an
    /// absolute path; default: the exported weights).
    /// Every tensor model.json lists must be in the file at that shape, and nothing else.
    public func load(weights weightsName: String? = nil, engine: Engine = Engine()) throws -> (ModelDescription, Subnet) {
        let d = try readDescription()
        let arch = try Architecture(parsing: d.architecture, space: d.space)
        let model = Subnet(space: d.space, architecture: arch, rng: RNG(seed: 0), engine: engine)
        let state = model.stateTensors
        let jsonPath = file(ModelDirectory.descriptionFile)
        guard state.map(\.name) == d.tensors.map(\.name) else {
            let missing = state.map(\.name).first { n in !d.tensors.contains { $0.name == n } } ?? d.tensors.map(\.name).first { n in !state.contains { $0.name == n } } ?? "?"
            throw ModelFileError.badModel(path: jsonPath, field: "tensors", reason: "does not list the architecture's tensors (first difference: '\(missing)')")
        }
        for (t, e) in zip(state, d.tensors) where t.shape != e.shape {
            throw ModelFileError.badModel(path: jsonPath, field: "tensors.\(e.name).shape", reason: "\(e.shape), the architecture has \(t.shape)")
        }
        let weightsPath = weightsFile(weightsName, d)
        let (tensors, _) = try Safetensors.read(weightsPath)
        for t in state {
            guard let w = tensors[t.name] else { throw ModelFileError.missingTensor(path: weightsPath, tensor: t.name) }
            guard w.shape == t.shape else { throw ModelFileError.shapeMismatch(path: weightsPath, tensor: t.name, expected: t.shape, found: w.shape) }
        }
        if let extra = tensors.keys.sorted().first(where: { n in !state.contains { $0.name == n } }) {
            throw ModelFileError.unexpectedTensor(path: weightsPath, tensor: extra)
        }
        for t in state { tensors[t.name]!.values.withUnsafeBufferPointer { t.pointer.update(from: $0.baseAddress!, count: t.count) } }
        return (d, model)
    }

    /// The path of `weightsName` (a file of the directory or an absolute path; default: the
    /// weights model.json names).
    func weightsFile(_ weightsName: String?, _ d: ModelDescription) -> String {
        let name = weightsName ?? d.weights
        return name.hasPrefix("/") ? name : file(name)
    }

    /// Whether the weights were trained on the validation split (their metadata says so).
    public func weightsTrainedOnValidation(_ weightsName: String?) throws -> Bool {
        let (_, metadata) = try Safetensors.readRaw(weightsFile(weightsName, try readDescription()))
        return metadata[ModelDirectory.validationTrainedKey] == "true"
    }
}

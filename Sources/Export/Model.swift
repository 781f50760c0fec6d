import Data
import Foundation
import Runs
import SearchSpace
import Supernet
import TensorCore

/// `model.json` of an exported model: what the network is (space, architecture, every
/// tensor's exact shape), how to feed it (input shape, normalization) and where it came from.
public struct ModelDescription: Codable, Equatable, Sendable {
    public var format = "pare-model"
    public var version = 1
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
    public var weights = ModelDirectory.weightsFile
    /// BN folded into each convolution (NAME.weight, NAME.bias per conv; no BN tensors).
    public var foldedWeights: String?
    public var onnx: String?
    public var provenance: Provenance

    public struct TensorEntry: Codable, Equatable, Sendable {
        public var name: String
        public var shape: [Int]
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
    public static let onnxFile = "model.onnx"

    public let path: String
    public init(path: String) { self.path = path }
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes the standalone model `model` (from `Supernet.extract`) with everything
    /// model.json describes; `folded` and `onnx` add the inference-only variants.
    @discardableResult
    public func write(model: Supernet, normalization: Normalization, provenance: ModelDescription.Provenance,
                      folded: Bool, onnx: Bool) throws -> ModelDescription {
        guard let arch = model.fixedArchitecture else { throw StandaloneError.notStandalone }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let state = model.stateTensors
        let cost = model.space.cost(arch)
        var description = ModelDescription(
            architecture: arch.description, space: model.space,
            inputShape: [model.space.inputChannels, model.space.inputSize, model.space.inputSize],
            classes: model.space.classes, normalization: normalization, macs: cost.macs, parameters: cost.parameters,
            tensors: state.map { .init(name: $0.name, shape: $0.shape) }, provenance: provenance)
        try writeWeights(model, to: ModelDirectory.weightsFile, metadata: ["architecture": arch.description])
        if folded || onnx {
            let graph = try model.inferenceGraph(arch, mean: normalization.mean, std: normalization.std)
            if folded {
                let tensors = graph.foldedTensors.map { Safetensors.Tensor(name: $0.name, shape: $0.shape, values: $0.values) }
                try Safetensors.write(tensors, metadata: ["architecture": arch.description, "folded": "true"], to: file(ModelDirectory.foldedFile))
                description.foldedWeights = ModelDirectory.foldedFile
            }
            if onnx {
                try AtomicFile.write(ONNXExport.encode(graph, producerVersion: "1"), to: file(ModelDirectory.onnxFile))
                description.onnx = ModelDirectory.onnxFile
            }
        }
        try AtomicFile.writeJSON(encodable: description, to: file(ModelDirectory.descriptionFile))
        return description
    }

    /// Writes the network's state tensors (all of them, at their exact shapes).
    public func writeWeights(_ model: Supernet, to name: String, metadata: [String: String]) throws {
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
            throw ModelFileError.badModel(path: p, field: Self.fieldPath(e), reason: Self.reason(e))
        }
        guard d.format == "pare-model" else { throw ModelFileError.badModel(path: p, field: "format", reason: "'\(d.format)', expected 'pare-model'") }
        guard d.version == 1 else { throw ModelFileError.badModel(path: p, field: "version", reason: "\(d.version), this Pare reads version 1") }
        do { _ = try Architecture(parsing: d.architecture, space: d.space) } catch {
            throw ModelFileError.badModel(path: p, field: "architecture", reason: "\(error)")
        }
        guard d.normalization.mean.count == d.space.inputChannels, d.normalization.std.count == d.space.inputChannels,
              d.normalization.std.allSatisfy({ $0 > 0 }) else {
            throw ModelFileError.badModel(path: p, field: "normalization", reason: "expected \(d.space.inputChannels) means and positive stds")
        }
        return d
    }

    /// The standalone network with the weights of `weightsName` (a file of the directory or an
    /// absolute path; default: the exported weights).
    /// Every tensor model.json lists must be in the file at that shape, and nothing else.
    public func load(weights weightsName: String? = nil) throws -> (ModelDescription, Supernet) {
        let d = try readDescription()
        let arch = try Architecture(parsing: d.architecture, space: d.space)
        let model = Supernet(space: d.space, rng: RNG(seed: 0), fixedTo: arch)
        let state = model.stateTensors
        let jsonPath = file(ModelDirectory.descriptionFile)
        guard state.map(\.name) == d.tensors.map(\.name) else {
            let missing = state.map(\.name).first { n in !d.tensors.contains { $0.name == n } } ?? d.tensors.map(\.name).first { n in !state.contains { $0.name == n } } ?? "?"
            throw ModelFileError.badModel(path: jsonPath, field: "tensors", reason: "does not list the architecture's tensors (first difference: '\(missing)')")
        }
        for (t, e) in zip(state, d.tensors) where t.shape != e.shape {
            throw ModelFileError.badModel(path: jsonPath, field: "tensors.\(e.name).shape", reason: "\(e.shape), the architecture has \(t.shape)")
        }
        let name = weightsName ?? d.weights
        let weightsPath = name.hasPrefix("/") ? name : file(name)
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

    static func fieldPath(_ e: DecodingError) -> String {
        let path: [CodingKey]
        switch e {
        case let .keyNotFound(k, c): path = c.codingPath + [k]
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c): path = c.codingPath
        @unknown default: path = []
        }
        return path.isEmpty ? "(top level)" : path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    static func reason(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound: return "missing"
        case let .typeMismatch(t, _): return "expected \(t)"
        case .valueNotFound: return "is null"
        case let .dataCorrupted(c): return c.debugDescription
        @unknown default: return "\(e)"
        }
    }
}

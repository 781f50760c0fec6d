import Datasets
import Export
import Foundation
import Runs
import Scoring
import Search
import Spaces
import Networks
import TensorCore

/// `pare export --run`: one architecture of a trained supernet as a standalone model
/// directory (sliced weights, model.json, optional folded weights and ONNX).
public struct ExportRequest: Sendable {
    /// The run directory with a trained supernet.
    public var run: String
    public var architecture = ArchitectureChoice.best
    /// With `.best`: the search named NAME (RUN/search-NAME).
    public var search: String?
    /// The model directory (nil: RUN/export, or RUN/export-NAME for a named search).
    public var out: String?
    public var folded = false
    public var onnx = false
    /// The images BN is recalibrated on: the search's, so that the export keeps the
    /// statistics the candidate was scored with.
    public var calibration = CalibrationSet()
    public init(run: String) { self.run = run }
}

/// What an export wrote.
public struct ExportResult: Sendable {
    public var architecture: Architecture
    public var macs: Int
    public var parameters: Int
    /// Validation accuracy with the inherited weights after BN recalibration.
    public var inheritedScore: Double
    public var out: String
    /// The files written in `out`.
    public var files: [String]
}

/// BN is recalibrated for the architecture exactly as `search` scores it, then every tensor is
/// sliced to the architecture's widths.
public func export(_ request: ExportRequest, engine: Engine, log: @escaping Log) throws -> ExportResult {
    let (dir, config) = try openTrainedRun(request.run)
    let (architecture, searchFile) = try resolveArchitecture(request.architecture, run: dir, search: request.search, space: config.space)
    let trained = try TrainedSupernet(dir, config, engine: engine, log: log)
    let norm = trained.normalization
    let scorer = InheritedWeightScorer(network: trained.network, train: trained.train, validation: trained.validation,
                                       normalization: norm, calibration: request.calibration)
    // BN recalibrated exactly as the search scores: the score, and the statistics the export keeps.
    let (score, statistics) = try scorer.scoreWithStatistics(architecture)
    let model = try trained.network.extract(architecture, statistics: statistics)
    let outPath = request.out ?? dir.file(request.search.map { "export-" + $0 } ?? "export")
    var provenance = ModelDescription.Provenance(
        run: request.run, spaceFile: config.spaceFile, data: config.data, validation: config.validation, trainLimit: config.trainLimit,
        supernetCheckpoint: trained.checkpoint, search: searchFile,
        inheritedScore: score, calibrationImages: request.calibration.images, exportedAt: ISO8601DateFormatter().string(from: Date()))
    if case .folder = try DataSource(parsing: config.data) { provenance.images = config.imageOptions ?? ImageOptions() }
    provenance.classNames = trained.train.classNames
    let d = try ModelDirectory(path: outPath).write(model: model, normalization: norm, provenance: provenance, folded: request.folded, onnx: request.onnx)
    return ExportResult(architecture: architecture, macs: d.macs, parameters: d.parameters, inheritedScore: score, out: outPath,
                        files: [ModelDirectory.descriptionFile, d.weights] + [d.foldedWeights, d.onnx].compactMap { $0 })
}

/// `pare export --model`: ONNX and/or folded weights of other weights of an exported model.
public struct InferenceFilesRequest: Sendable {
    public var model: String
    public var weights = WeightsChoice.finetuned
    public var folded = false
    public var onnx = false
    public init(model: String) { self.model = model }
}

/// The weights' label (finetuned, ...), the architecture and the files written.
public func writeInferenceFiles(_ request: InferenceFilesRequest, engine: Engine) throws -> (weights: String, architecture: String, files: [String]) {
    let dir = ModelDirectory(path: request.model)
    let name = try resolveWeights(request.weights, in: dir)
    let label = weightsLabel(of: name)
    var (description, model) = try dir.load(weights: name, engine: engine)
    try dir.writeInferenceFiles(model, weights: label, into: &description, folded: request.folded, onnx: request.onnx)
    try AtomicFile.writeJSON(encodable: description, to: dir.file(ModelDirectory.descriptionFile))
    let files = ModelDirectory.inferenceFiles(weights: label)
    return (label, description.architecture,
            [request.folded ? files.folded : nil, request.onnx ? files.onnx : nil].compactMap { $0 } + [ModelDirectory.descriptionFile])
}

/// The architecture an export takes out of a supernet: a search's best, the space's largest
/// or smallest (the largest is the natural teacher for `pare finetune --teacher`), or `given`:
/// a file (best.json, architecture JSON or its text form) or the text form itself.
public enum ArchitectureChoice: Equatable, Sendable {
    case best, largest, smallest
    case given(String)

    public init(_ text: String) {
        switch text {
        case "best": self = .best
        // A file of that name wins: it was meant.
        case "largest" where !FileManager.default.fileExists(atPath: text): self = .largest
        case "smallest" where !FileManager.default.fileExists(atPath: text): self = .smallest
        default: self = .given(text)
        }
    }
}

/// The architecture `choice` names in a run of `space`, with the file it came from, if any.
public func resolveArchitecture(_ choice: ArchitectureChoice, run: RunDirectory, search: String?, space: SearchSpace) throws -> (Architecture, String?) {
    let path: String
    switch choice {
    case .largest: return (space.largest, nil)
    case .smallest: return (space.smallest, nil)
    // A classic network's space has one candidate: nothing to search, it is the best.
    case .best where space.isSingleArchitecture && search == nil: return (space.largest, nil)
    case .best:
        let p = (SearchRun.path(runPath: run.path, name: search) as NSString).appendingPathComponent(SearchRun.bestFile)
        guard FileManager.default.fileExists(atPath: p) else {
            throw UserError("\(p): not found; run `pare search --run \(run.path)` first, or pass --arch FILE|TEXT")
        }
        path = p
    case .given(let spec) where FileManager.default.fileExists(atPath: spec):
        path = spec
    case .given(let spec):
        do { return (try Architecture(parsing: spec, space: space), nil) } catch { throw UserError("--arch: \(error)") }
    }
    guard let data = FileManager.default.contents(atPath: path) else { throw UserError("\(path): unreadable") }
    if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let text = object["architecture"] as? String {
        do { return (try Architecture(parsing: text, space: space), path) } catch { throw UserError("\(path): field 'architecture': \(error)") }
    }
    if let a = try? JSONDecoder().decode(Architecture.self, from: data) {
        do { try space.validate(a) } catch { throw UserError("\(path): \(error)") }
        return (a, path)
    }
    do { return (try Architecture(parsing: String(decoding: data, as: UTF8.self), space: space), path) } catch {
        throw UserError("\(path): \(error)")
    }
}

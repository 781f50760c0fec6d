import ArgumentParser
import Datasets
import Export
import Foundation
import Runs
import Scoring
import Search
import Spaces
import Networks
import TensorCore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Take one architecture out of a run's supernet as a standalone model (sliced weights, model.json, ONNX).",
        discussion: """
        Recalibrates BN for the architecture exactly as `pare search` scores it (same calibration images for the \
        same --seed and --calibration-images), slices every tensor to the architecture's widths and writes \
        DIR/model.json, DIR/model.safetensors (PyTorch names: blocks.3.main.pw1.weight, ...running_mean), with \
        --folded DIR/model.folded.safetensors (BN folded into each conv) and with --onnx DIR/model.onnx (opset 13; \
        input: NCHW float pixels in [0, 1]; output: logits). model.json describes every layer and records which \
        weights each file holds. `pare export --model DIR --weights finetuned --onnx --folded` writes the inference \
        files of other weights of an exported model (DIR/model.finetuned.onnx, model.finetuned.folded.safetensors).
        """)

    @Option(name: .customLong("run"), help: "Run directory with a trained supernet.") var runDirectory: String?
    @Option(name: .customLong("model"), help: "An exported model directory: write --onnx / --folded files of its --weights instead.")
    var modelDirectory: String?
    @Option(help: "With --model: exported, finetuned (default), scratch or a .safetensors file.") var weights: String?
    @Option(help: "'best' (the search's best.json), 'largest' or 'smallest' (the space's), a file (best.json, architecture JSON or text) or the text form itself.")
    var arch = "best"
    @Option(help: "With --arch best: the search named NAME (RUN/search-NAME).") var search: String?
    @Option(help: "Output directory (default RUN/export, or RUN/export-NAME with --search NAME).") var out: String?
    @Flag(help: "Also write the BN-folded inference weights.") var folded = false
    @Flag(help: "Also write model.onnx.") var onnx = false
    @Option(help: "Training images for BN recalibration (default 2560, as pare search).") var calibrationImages = CalibrationSet.defaultImages
    @Option(help: "Seed of the calibration images (default 0, as pare search).") var seed: UInt64 = 0
    @Option(help: "Engine threads (default: all cores).") var threads: Int?

    func validate() throws {
        guard (runDirectory == nil) != (modelDirectory == nil) else {
            throw ValidationError("pass either --run RUN (export from a supernet) or --model DIR (inference files of an exported model)")
        }
        if modelDirectory != nil && !(onnx || folded) { throw ValidationError("--model needs --onnx and/or --folded") }
        if modelDirectory == nil && weights != nil { throw ValidationError("--weights needs --model DIR") }
        guard calibrationImages >= 1 else { throw ValidationError("--calibration-images must be at least 1, got \(calibrationImages)") }
    }

    func run() throws {
        try reportingErrors {
            let engine = startEngine(threads: threads)
            if let modelDirectory { return try exportInferenceFiles(modelDirectory, engine: engine) }
            let runDirectory = runDirectory!
            let (dir, config) = try openTrainedRun(runDirectory)
            let (architecture, searchFile) = try resolveArchitecture(arch, run: dir, search: search, space: config.space)
            let trained = try TrainedSupernet(dir, config, engine: engine)
            let norm = trained.normalization, checkpoint = trained.checkpoint
            let scorer = InheritedWeightScorer(network: trained.network, train: trained.train, validation: trained.validation,
                                               normalization: norm, calibrationImages: calibrationImages, seed: seed)
            // BN recalibrated exactly as the search scores: the statistics the export keeps.
            let recalibrated = try scorer.recalibrated(architecture)
            let score = scorer.validationAccuracy(recalibrated, architecture)
            let model = try trained.network.extract(architecture)
            let outPath = out ?? dir.file(search.map { "export-" + $0 } ?? "export")
            let provenance = ModelDescription.Provenance(
                run: runDirectory, spaceFile: config.spaceFile, data: config.data, validation: config.validation, trainLimit: config.trainLimit,
                supernetCheckpoint: checkpoint, search: searchFile,
                inheritedScore: score, calibrationImages: calibrationImages, exportedAt: ISO8601DateFormatter().string(from: Date()))
            let d = try ModelDirectory(path: outPath).write(model: model, normalization: norm, provenance: provenance, folded: folded, onnx: onnx)
            print("exported \(architecture)")
            print(String(format: "  %.3f M MACs, %d parameters, inherited-weight validation accuracy %.4f", Double(d.macs) / 1e6, d.parameters, score))
            let files = [ModelDirectory.descriptionFile, d.weights] + [d.foldedWeights, d.onnx].compactMap { $0 }
            print("  \(outPath)/{\(files.joined(separator: ","))}")
        }
    }
}

extension ExportCommand {
    /// ONNX and/or folded weights of another weight file of an exported model.
    func exportInferenceFiles(_ path: String, engine: Engine) throws {
        let dir = ModelDirectory(path: path)
        let name = try resolveWeights(weights ?? "finetuned", in: dir)
        let label = weightsLabel(of: name)
        var (description, model) = try dir.load(weights: name, engine: engine)
        try dir.writeInferenceFiles(model, weights: label, into: &description, folded: folded, onnx: onnx)
        try AtomicFile.writeJSON(encodable: description, to: dir.file(ModelDirectory.descriptionFile))
        let files = ModelDirectory.inferenceFiles(weights: label)
        print("\(label) weights of \(description.architecture)")
        print("  \(path)/{\(([folded ? files.folded : nil, onnx ? files.onnx : nil].compactMap { $0 } + [ModelDirectory.descriptionFile]).joined(separator: ","))}")
    }
}

/// An architecture named on the command line: 'best' (a search's best.json), 'largest' or
/// 'smallest' (the space's extremes: the largest is the natural teacher for
/// `pare finetune --teacher`), a file (best.json, architecture JSON or its text form) or the
/// text form itself. Returns it with the file it came from, if any.
func resolveArchitecture(_ spec: String, run: RunDirectory, search: String?, space: SearchSpace) throws -> (Architecture, String?) {
    var path: String?
    // A classic network's space has one candidate: nothing to search, it is the best.
    if spec == "best", space.isSingleArchitecture, search == nil { return (space.largest, nil) }
    if spec == "largest" || spec == "smallest", !FileManager.default.fileExists(atPath: spec) {
        return (spec == "largest" ? space.largest : space.smallest, nil)
    }
    if spec == "best" {
        let p = SearchRun.path(runPath: run.path, name: search) + "/best.json"
        guard FileManager.default.fileExists(atPath: p) else {
            throw UserError("\(p): not found; run `pare search --run \(run.path)` first, or pass --arch FILE|TEXT")
        }
        path = p
    } else if FileManager.default.fileExists(atPath: spec) {
        path = spec
    }
    guard let path else {
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

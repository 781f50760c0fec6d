import Distributed
import Export
import Networks
import Foundation
import Runs
import Scoring
import Search
import Spaces
import TensorCore

/// The study's steps as the workflows a user would run by hand: `pare train` per seed,
/// `pare search` (RUN/search-NAME), scoring with the search's scorer, `pare export`,
/// `pare finetune` (from the export and `--from-scratch`, one recipe for every arm, seeded
/// with the study's seed) and `pare eval` on the validation and the test split.
public final class StudyPipeline: StudyBackend {
    let request: StudyRequest
    let engine: Engine
    let log: Log
    /// The scorer of the seed being scored (one supernet held at a time).
    private var scorer: (seed: UInt64, scorer: InheritedWeightScorer)?

    public init(_ request: StudyRequest, engine: Engine, log: @escaping Log) {
        self.request = request; self.engine = engine; self.log = log
    }

    func supernetRun(_ seed: UInt64) -> String { (request.directory as NSString).appendingPathComponent("supernet-seed\(seed)") }
    func modelPath(_ name: String) -> String { (request.path as NSString).appendingPathComponent(name) }

    public func trainSupernet(seed: UInt64) throws {
        let run = supernetRun(seed)
        var r = TrainRequest(run: run)
        let s = request.supernet
        r.space = s.space
        r.data = s.data
        r.validation = s.validation
        r.trainLimit = s.trainLimit
        r.recipe.epochs = s.epochs
        r.recipe.seed = seed
        // A run with a checkpoint continues (a finished one trains no more steps).
        r.recipe.resume = Self.hasCheckpoint(run)
        _ = try Workflows.trainSupernet(r, job: SingleProcess(), engine: engine, log: log)
    }

    var searchRequest: SearchRequest {
        var r = SearchRequest(run: "")
        r.budget = request.budget
        r.evolution = request.evolution
        r.validationImages = request.validationImages
        r.name = "study-" + request.name
        return r
    }

    public func evolve(seed: UInt64) throws -> (best: Candidate, evaluated: Int) {
        scorer = nil
        var r = searchRequest
        r.run = supernetRun(seed)
        r.seed = seed
        r.calibration = CalibrationSet(images: request.calibrationImages, seed: seed)
        r.resume = FileManager.default.fileExists(atPath: SearchRun.path(runPath: r.run, name: r.name) + "/" + SearchRun.stateFile)
        guard let result = try search(r, job: SingleProcess(), engine: engine, log: log) else { throw UserError("the search returned no result") }
        return (result.best, result.evaluated)
    }

    public func score(_ archs: [Architecture], seed: UInt64) throws -> [Double] {
        if scorer?.seed != seed {
            scorer = nil
            var r = searchRequest
            r.calibration = CalibrationSet(images: request.calibrationImages, seed: seed)
            let (dir, config) = try openTrainedRun(supernetRun(seed))
            scorer = (seed, try inheritedScorer(dir, config, r, engine: engine, log: log).1)
        }
        return try archs.map { try scorer!.scorer.score($0) }
    }

    public func retrain(_ arch: Architecture, seed: UInt64, start: StudyStart, name: String) throws -> Double {
        scorer = nil
        let out = modelPath(name)
        if FileManager.default.fileExists(atPath: out + "/" + ModelDirectory.descriptionFile) {
            // A continuation finds its own export; another architecture's is never trained on.
            let d = try ModelDirectory(path: out).readDescription()
            let fixed = try loadSpace(request.supernet.space).withoutSkippedBlocks(arch).architecture
            guard d.architecture == fixed.description else {
                throw UserError("\(out): holds \(d.architecture), not this study's \(fixed); remove it to train the study's model there")
            }
        } else {
            var e = ExportRequest(run: supernetRun(seed))
            e.architecture = .given(arch.description)
            e.out = out
            e.calibration = CalibrationSet(images: request.calibrationImages, seed: seed)
            _ = try export(e, engine: engine, log: log)
        }
        var f = FinetuneRequest(model: out)
        f.fromScratch = start == .scratch
        f.recipe.epochs = request.retrainEpochs
        f.recipe.learningRate = request.retrainLearningRate
        f.recipe.seed = seed
        f.recipe.resume = Self.hasCheckpoint(out + "/" + (start == .scratch ? "scratch" : "finetune"))
        _ = try finetune(f, engine: engine, log: log)
        return try evaluated(out, start: start, split: .val).accuracy
    }

    public func test(_ arch: Architecture, seed: UInt64, start: StudyStart, name: String) throws -> (accuracy: Double, latencyMs: Double) {
        let r = try evaluated(modelPath(name), start: start, split: .test)
        return (r.accuracy, r.onednnMs.single)
    }

    /// Whether the run directory holds a valid-looking checkpoint (not merely run.json, nor
    /// a temporary file a kill left).
    static func hasCheckpoint(_ path: String) -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        return !((try? RunDirectory(path: path, create: false))?.checkpoints().isEmpty ?? true)
    }

    func evaluated(_ model: String, start: StudyStart, split: EvalSplit) throws -> EvaluateResult {
        var e = EvaluateRequest(model: model)
        e.split = split
        e.weights = start == .scratch ? .scratch : .finetuned
        e.repeats = 20
        return try evaluateModel(e, engine: engine, log: log)
    }
}

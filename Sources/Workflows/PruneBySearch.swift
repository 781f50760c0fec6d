import Datasets
import Distributed
import Export
import Foundation
import Networks
import Pruning
import Runs
import Search
import Spaces
import TensorCore
import Training

/// `pare prune --method search`: AutoSlim / MetaPruning's per-layer widths for a trained
/// network. Its channels are reordered by importance, it becomes the largest candidate of a
/// width-only supernet (OUT/supernet) trained briefly with sandwich sampling, the search
/// workflow finds the best candidate under the goal, and the export workflow writes it to
/// OUT. Every stage resumes: the supernet run from its checkpoints, the search from its state.
func pruneBySearch(_ r: PruneRequest, source d: ModelDescription, original: Subnet, weightsLabel label: String,
                   goal: ModelDescription.PruningRecord.Goal, sourceAccuracy: Double, engine: Engine, log: @escaping Log,
                   finetune: (String) throws -> Void) throws -> PruneResult.SearchStages {
    var stages = PruneResult.SearchStages()
    let runPath = (r.out as NSString).appendingPathComponent("supernet")
    stages.widthSupernet = try trainWidthSupernet(r, source: d, original: original, runPath: runPath, engine: engine, log: log)
    let searchPath = SearchRun.path(runPath: runPath, name: nil)
    if !FileManager.default.fileExists(atPath: (searchPath as NSString).appendingPathComponent(SearchRun.bestFile)) {
        var s = SearchRequest(run: runPath)
        s.budget = goal.metric == .macs ? Budget(maxMACs: goal.value) : Budget(maxParameters: goal.value)
        s.evolution.population = r.population
        s.evolution.generations = r.generations
        // Each generation breeds about one population of new candidates.
        s.evolution.parents = max(2, r.population / 3)
        s.evolution.mutations = r.population / 2
        s.evolution.crossovers = r.population / 2
        s.calibration = CalibrationSet(images: r.calibrationImages)
        s.validationImages = r.validationImages
        s.resume = FileManager.default.fileExists(atPath: (searchPath as NSString).appendingPathComponent(SearchRun.stateFile))
        stages.search = try search(s, job: SingleProcess(), engine: engine, log: log)
    }
    var e = ExportRequest(run: runPath)
    e.out = r.out
    e.onnx = r.onnx
    e.folded = r.folded
    e.calibration = CalibrationSet(images: r.calibrationImages)
    stages.export = try export(e, engine: engine, log: log)

    let model = ModelDirectory(path: r.out)
    var description = try model.readDescription()
    let before = Pruner(model: original).counts
    let (_, pruned) = try model.load(engine: engine)
    let after = Pruner(model: pruned).counts
    let full = goal.metric == .macs ? d.macs : d.parameters
    var record = ModelDescription.PruningRecord(
        source: r.model, sourceWeights: label, method: "search (\(r.importance.rawValue) order)", nu: r.importance == .fpgmWeak ? r.nu : nil,
        theta: nil, minimumWidthFraction: Double(WidthSpace.defaultFractions[0]) / 10, target: targetText(goal.value, r.metric, full),
        sourceMacs: d.macs, sourceParameters: d.parameters,
        widths: before.keys.sorted().map { .init(width: $0.description, before: before[$0]!, after: after[$0] ?? before[$0]!) },
        round: 1, rounds: 1, sourceValidationAccuracy: sourceAccuracy, prunedValidationAccuracy: description.provenance.inheritedScore ?? 0,
        calibrationImages: r.calibrationImages)
    record.goal = goal
    description.pruning = record
    try AtomicFile.writeJSON(encodable: description, to: model.file(ModelDirectory.descriptionFile))
    if r.finetuneEpochs > 0 && !FileManager.default.fileExists(atPath: model.file(ModelDirectory.finetunedFile)) {
        try finetune(r.out)
    }
    return stages
}

/// The width supernet of OUT/supernet: created from the reordered model, or resumed (nil:
/// it had finished before).
private func trainWidthSupernet(_ r: PruneRequest, source d: ModelDescription, original: Subnet, runPath: String,
                                engine: Engine, log: @escaping Log) throws -> TrainingSummary? {
    let dir = try RunDirectory(path: runPath)
    let fresh = !FileManager.default.fileExists(atPath: dir.configPath)
    if !fresh && !r.recipe.resume {
        throw UserError("\(runPath): a prune by search is under way here; pass --resume to continue it, or choose another --out")
    }
    try dir.lock()
    defer { dir.unlock() }
    let config: TrainConfig
    if fresh {
        let groups = original.channelGroups
        let criterion = r.importance.make(nu: r.nu)
        ChannelOrder.sort(groups, scores: criterion.scores(groups, TensorStore(original)), in: TensorStore(original))
        var c = TrainConfig(space: try WidthSpace.make(from: original), spaceFile: "width space of \(r.model)",
                            data: r.data ?? d.provenance.data)
        c.validation = d.provenance.validation
        c.trainLimit = d.provenance.trainLimit
        c.epochs = r.searchEpochs
        c.sampling = .sandwich
        c.probes = 1
        c.recipe.learningRate = 0.05
        var o = r.recipe
        o.epochs = nil
        var changes = ConfigChanges(resume: false)
        try o.apply(to: &c, changes: &changes, dir: dir)
        config = c
    } else {
        config = try loadTrainConfig(dir, hint: "remove \(r.out) and start again")
    }
    let (train, val, _) = try loadSplits(config)
    let training = try TrainingRun(config: config, train: train, validation: val, normalization: d.normalization, engine: engine)
    if fresh {
        try WidthSpace.inherit(original, into: training.supernet!)
        try AtomicFile.writeJSON(encodable: config, to: dir.configPath)
        log(String(format: "width supernet: %@ (10^%.1f candidates), the reordered model as its largest; %d epochs of sandwich sampling",
                   config.space.name, config.space.log10Candidates, config.epochs))
    } else {
        let path = try training.resumeFromNewest(dir, warn: log)
        log("resumed the width supernet from \(path) at step \(training.step) of \(training.totalSteps)")
    }
    guard !training.finished else { return nil }
    return try runTrainingLoop(training, dir, resume: "pare prune \(r.model) --method search --out \(r.out) --resume", log: log)
}

import Datasets
import Export
import Foundation
import Runs
import Spaces
import Networks
import Pruning
import TensorCore

/// Trains the model of an exported directory from its exported weights (or from scratch),
/// with progress, metrics and checkpoints in `runDirectory` (default DIR/finetune or
/// DIR/scratch), and writes DIR/model.finetuned.safetensors (model.scratch.safetensors).
/// What `pare finetune` runs, and `pare prune --finetune-epochs` after each round.
/// With `softPrune`, the globally least important channels are masked at every epoch start
/// and removed at the end: the physically smaller model goes to `prunedOut`.
func finetuneModel(_ modelDirectory: String, options: TrainingOptions, data: String?, fromScratch: Bool, runDirectory: String?,
                   softPrune: SoftPruning? = nil, prunedOut: String? = nil, engine: Engine) throws {
    let model = ModelDirectory(path: modelDirectory)
    let description = try model.readDescription()
    let arch = try Architecture(parsing: description.architecture, space: description.space)
    let dir = try RunDirectory(path: runDirectory ?? model.file(fromScratch ? "scratch" : "finetune"))
    try dir.lock()
    var config: TrainConfig
    if options.resume {
        config = try loadTrainConfig(dir, hint: "start finetuning without --resume")
    } else {
        if !dir.checkpoints().isEmpty {
            throw UserError("\(dir.path): already has checkpoints; pass --resume to continue, or remove it to start over")
        }
        config = TrainConfig(space: description.space, spaceFile: description.provenance.spaceFile, data: description.provenance.data)
        config.validation = description.provenance.validation
        config.trainLimit = description.provenance.trainLimit
        config.fixedArchitecture = arch
        config.probes = 0
    }
    var changes = ConfigChanges(resume: options.resume)
    changes.set("--data", data, \.data, in: &config)
    changes.set("--soft-prune", softPrune, \.softPrune, in: &config)
    try options.apply(to: &config, changes: &changes, dir: dir)
    guard config.fixedArchitecture == arch, config.space == description.space else {
        throw UserError("\(dir.configPath): finetunes another model than \(model.file(ModelDirectory.descriptionFile))")
    }
    let (train, val, source) = try loadSplits(config)
    let training = try TrainingRun(config: config, train: train, validation: val, normalization: description.normalization, engine: engine)
    guard training.totalSteps > 0 else { throw UserError("\(train.count) training images make no batch of \(config.recipe.batchSize)") }
    let start: String
    if options.resume {
        let path = try training.resumeFromNewest(dir, warn: logLine)
        logLine("resumed from \(path) at step \(training.step) of \(training.totalSteps)")
        start = "resumed"
    } else {
        if !fromScratch {
            // The inherited weights replace the fresh initialisation before step 1.
            let (_, inherited) = try model.load(engine: engine)
            try withExtendedLifetime(inherited) {
                let targets = training.network.stateTensors, sources = inherited.stateTensors
                guard targets.map(\.name) == sources.map(\.name), targets.map(\.shape) == sources.map(\.shape) else {
                    throw UserError("\(model.file(ModelDirectory.weightsFile)): tensors differ from the network model.json describes")
                }
                for (t, s) in zip(targets, sources) { t.pointer.update(from: s.pointer, count: t.count) }
            }
        }
        try AtomicFile.writeJSON(encodable: config, to: dir.configPath)
        start = fromScratch ? "from scratch" : "from the exported weights"
    }
    let criterion = try config.softPrune.map { try softPruning($0, training) }
    logLine("pare finetune: \(arch) (\(String(format: "%.3f", Double(description.macs) / 1e6)) M MACs, \(description.parameters) params) on \(source), \(train.count) train / \(val.count) validation, \(config.epochs) epochs, \(start)")
    try runTrainingLoop(training, dir, command: "pare finetune \(modelDirectory) --resume" + (fromScratch ? " --from-scratch" : "") + (runDirectory.map { " --run \($0)" } ?? ""))
    let weights = fromScratch ? ModelDirectory.scratchFile : ModelDirectory.finetunedFile
    try model.writeWeights(training.network, to: weights, metadata: ["architecture": arch.description, "trained": fromScratch ? "from scratch" : "from the exported weights", "epochs": "\(config.epochs)"])
    try model.recordWeights(weights, weights: fromScratch ? "scratch" : "finetuned")
    print("weights: \(model.file(weights)) (evaluate with: pare eval \(modelDirectory) --weights \(fromScratch ? "scratch" : "finetuned"))")
    if let soft = config.softPrune, let criterion {
        try removeSoftMasked(training, soft, criterion, description: description, source: modelDirectory, train: train, validation: val,
                             out: prunedOut ?? model.file("soft-pruned"))
    }
}

/// Soft pruning's epoch-start mask on `training` (a standalone model), and its criterion.
func softPruning(_ soft: SoftPruning, _ training: TrainingRun) throws -> any ChannelImportance {
    guard let model = training.network as? Subnet else { throw UserError("--soft-prune needs a standalone model (pare finetune)") }
    guard var criterion = channelImportance(named: soft.method, nu: soft.nu) else {
        throw UserError("--soft-prune: '\(quoted(soft.method))', expected l1, l2, slimming, fpgm or fpgm-weak")
    }
    if var g = criterion as? GeometricMedian { g.theta = soft.theta; criterion = g }
    // Fails here, before training, when nothing can be masked (a ShuffleNet stage alone).
    let pruner = Pruner(model: model, minimumFraction: soft.minimumWidth)
    _ = try pruner.plan(scores: criterion.scores(pruner.groups, TensorStore(model)), removing: soft.rate)
    let c = criterion
    training.onEpochStart = { run in
        let n = try SoftMask.step(model, criterion: c, rate: soft.rate, minimumFraction: soft.minimumWidth)
        logLine("epoch \(run.epoch + 1): soft mask zeroes \(n) channels (\(soft.method), rate \(soft.rate))")
    }
    return criterion
}

/// The end of soft pruning: the last mask's channels removed physically, BN recalibrated,
/// written as a model directory with its pruning record.
func removeSoftMasked(_ training: TrainingRun, _ soft: SoftPruning, _ criterion: any ChannelImportance, description d: ModelDescription,
                      source: String, train: Dataset, validation: Dataset, out: String) throws {
    let model = training.network as! Subnet
    let evaluation = Evaluation(train: train, validation: validation, normalization: d.normalization, calibrationImages: 2560)
    let before = evaluation.accuracy(model)
    let pruner = Pruner(model: model, minimumFraction: soft.minimumWidth)
    let scores = criterion.scores(pruner.groups, TensorStore(model))
    let plan = try pruner.plan(scores: scores, removing: soft.rate)
    let pruned = try pruner.apply(plan, scores: scores)
    evaluation.recalibrate(pruned)
    let after = evaluation.accuracy(pruned)
    let widths = widthChanges(pruner, plan, pruner.counts)
    let record = ModelDescription.PruningRecord(
        source: source, sourceWeights: "finetuned (soft pruning)", method: "soft-" + soft.method,
        nu: soft.method == "fpgm-weak" ? soft.nu : soft.method == "fpgm" ? 1 : nil, theta: soft.method.hasPrefix("fpgm") ? soft.theta : nil,
        minimumWidthFraction: soft.minimumWidth, target: String(format: "%.0f%% of the prunable channels", soft.rate * 100),
        sourceMacs: d.macs, sourceParameters: d.parameters, widths: widths, round: 1, rounds: 1,
        sourceValidationAccuracy: before, prunedValidationAccuracy: after, calibrationImages: evaluation.indices.count)
    var provenance = d.provenance
    provenance.exportedAt = ISO8601DateFormatter().string(from: Date())
    provenance.inheritedScore = after
    try ModelDirectory(path: out).write(model: pruned, normalization: d.normalization, provenance: provenance, pruning: record,
                                        folded: false, onnx: false)
    print(String(format: "soft-pruned model: %@ M -> %@ M MACs, %d -> %d params, validation %.4f (masked network) -> %.4f (removed, BN recalibrated)",
                 millions(d.macs), millions(plan.cost.macs), d.parameters, plan.cost.parameters, before, after))
    print("  \(out)/model.json; finetune further with: pare finetune \(out)")
}

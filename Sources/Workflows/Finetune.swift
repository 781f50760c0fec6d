import Datasets
import Export
import Foundation
import Layers
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
/// and removed at the end: the physically smaller model goes to `prunedOut`. With `teacher`,
/// every step also learns from that model's outputs (knowledge distillation). With `average`,
/// a moving average of the weights with that decay is validated and written. With
/// `includeValidation`, the validation split is trained on too.
func finetuneModel(_ modelDirectory: String, options: TrainingOptions, data: String?, fromScratch: Bool, runDirectory: String?,
                   softPrune: SoftPruning? = nil, prunedOut: String? = nil, qat: Bool = false, teacher: TeacherDistillation? = nil,
                   average: Float? = nil, includeValidation: Bool = false, engine: Engine) throws {
    let model = ModelDirectory(path: modelDirectory)
    let description = try model.readDescription()
    let arch = try Architecture(parsing: description.architecture, space: description.space)
    let dir = try RunDirectory(path: runDirectory ?? model.file(fromScratch ? "scratch" : qat ? "qat" : "finetune"))
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
    changes.set("--qat", qat ? true : nil, \.qat, in: &config)
    changes.set("--ema", average, \.recipe.averageDecay, in: &config)
    changes.set("--include-validation", includeValidation ? true : nil, \.includeValidation, in: &config)
    // Only when given: a resume without --teacher keeps the stored one.
    if let teacher { changes.set("--teacher", Optional(teacher), \.teacher, in: &config) }
    try options.apply(to: &config, changes: &changes, dir: dir)
    guard config.fixedArchitecture == arch, config.space == description.space else {
        throw UserError("\(dir.configPath): finetunes another model than \(model.file(ModelDirectory.descriptionFile))")
    }
    let (train, val, source) = try loadSplits(config)
    let training = try TrainingRun(config: config, train: train, validation: val, normalization: description.normalization, engine: engine)
    guard training.totalSteps > 0 else { throw UserError("\(train.count) training images make no batch of \(config.recipe.batchSize)") }
    if let t = config.teacher { try attachTeacher(t, to: training, student: description, engine: engine) }
    let start: String
    if options.resume {
        let path = try training.resumeFromNewest(dir, warn: logLine)
        logLine("resumed from \(path) at step \(training.step) of \(training.totalSteps)")
        start = "resumed"
    } else {
        if !fromScratch {
            // The inherited weights replace the fresh initialisation before step 1.
            // Quantization-aware finetuning starts from the finetuned weights when there are some.
            let source = qat ? try resolveWeights(nil, in: model) : nil
            let (_, inherited) = try model.load(weights: source, engine: engine)
            try withExtendedLifetime(inherited) {
                let targets = training.network.stateTensors, sources = inherited.stateTensors
                guard targets.map(\.name) == sources.map(\.name), targets.map(\.shape) == sources.map(\.shape) else {
                    throw UserError("\(model.file(ModelDirectory.weightsFile)): tensors differ from the network model.json describes")
                }
                for (t, s) in zip(targets, sources) { t.pointer.update(from: s.pointer, count: t.count) }
            }
        }
        training.average?.reset()
        try AtomicFile.writeJSON(encodable: config, to: dir.configPath)
        start = fromScratch ? "from scratch" : qat && FileManager.default.fileExists(atPath: model.file(ModelDirectory.finetunedFile)) ? "from the finetuned weights" : "from the exported weights"
    }
    let criterion = try config.softPrune.map { try softPruning($0, training) }
    if config.qat == true { try prepareQAT(training, dir, train: train, normalization: description.normalization, resumed: options.resume) }
    logLine("pare finetune: \(arch) (\(String(format: "%.3f", Double(description.macs) / 1e6)) M MACs, \(description.parameters) params) on \(source), \(train.count) train / \(val.count) validation"
            + (config.includeValidation == true ? " (trained on too)" : "") + ", \(config.epochs) epochs, \(start)"
            + (training.average.map { ", validating and writing the weights' moving average (decay \($0.decay))" } ?? ""))
    let isQAT = config.qat == true
    try runTrainingLoop(training, dir, command: "pare finetune \(modelDirectory) --resume" + (fromScratch ? " --from-scratch" : "") + (isQAT ? " --qat" : "")
                        + (runDirectory.map { " --run \($0)" } ?? ""))
    // The average is the model (validated at every epoch end, now written).
    training.average?.swap()
    let weights = fromScratch ? ModelDirectory.scratchFile : isQAT ? ModelDirectory.qatFile : ModelDirectory.finetunedFile
    let label = fromScratch ? "scratch" : isQAT ? "qat" : "finetuned"
    var metadata = ["architecture": arch.description, "trained": fromScratch ? "from scratch" : "from the exported weights", "epochs": "\(config.epochs)"]
    if isQAT { metadata["trained"] = "quantization-aware finetuning" }
    if let a = training.average { metadata["weight_average_decay"] = "\(a.decay)" }
    if config.includeValidation == true { metadata[ModelDirectory.validationTrainedKey] = "true" }
    try model.writeWeights(training.network, to: weights, metadata: metadata)
    try model.recordWeights(weights, weights: label)
    print("weights: \(model.file(weights)) (" + (isQAT ? "quantize with: pare quantize \(modelDirectory) --weights qat" : "evaluate with: pare eval \(modelDirectory) --weights \(label)") + ")")
    if let soft = config.softPrune, let criterion {
        try removeSoftMasked(training, soft, criterion, description: description, source: modelDirectory, train: train, validation: val,
                             out: prunedOut ?? model.file("soft-pruned"))
    }
}

/// Soft pruning's epoch-start mask on `training` (a standalone model), and its criterion.
func softPruning(_ soft: SoftPruning, _ training: TrainingRun) throws -> any ChannelImportance {
    guard let model = training.network as? Subnet else { throw UserError("--soft-prune needs a standalone model (pare finetune)") }
    guard let criterion = channelImportance(named: soft.method, nu: soft.nu, theta: soft.theta) else {
        throw UserError("--soft-prune: '\(quoted(soft.method))', expected \(ImportanceCriterion.names)")
    }
    // Fails here, before training, when nothing can be masked (a ShuffleNet stage alone).
    let pruner = Pruner(model: model, minimumFraction: soft.minimumWidth)
    // A target below every width's minimum is refused here, before training.
    _ = try pruner.plan(scores: criterion.scores(pruner.groups, TensorStore(model)), amount: soft.amount)
    let c = criterion
    training.onEpochStart = { run in
        let n = try SoftMask.step(model, criterion: c, amount: soft.amount, minimumFraction: soft.minimumWidth)
        logLine("epoch \(run.epoch + 1): soft mask zeroes \(n) channels (\(soft.method), \(soft.amountText))")
    }
    return criterion
}

extension SoftPruning {
    var amount: SoftMask.Amount {
        guard let target else { return .fraction(rate) }
        return .target(PruneTarget(metric: target.metric == .macs ? .macs : .parameters, value: target.value))
    }

    var amountText: String {
        guard let target else { return String(format: "%.0f%% of the prunable channels", rate * 100) }
        return "at most " + (target.metric == .macs ? "\(millions(target.value)) M MACs" : "\(target.value) parameters")
    }
}

/// The end of soft pruning: a final mask on the trained weights (soft filter pruning masks at
/// every epoch end), its channels removed physically, BN recalibrated,
/// written as a model directory with its pruning record.
func removeSoftMasked(_ training: TrainingRun, _ soft: SoftPruning, _ criterion: any ChannelImportance, description d: ModelDescription,
                      source: String, train: Dataset, validation: Dataset, out: String) throws {
    let model = training.network as! Subnet
    let evaluation = Evaluation(train: train, validation: validation, normalization: d.normalization, calibrationImages: CalibrationSet.defaultImages)
    let before = evaluation.accuracy(model)
    let pruner = Pruner(model: model, minimumFraction: soft.minimumWidth)
    let scores = criterion.scores(pruner.groups, TensorStore(model))
    let plan = try pruner.plan(scores: scores, amount: soft.amount)
    let pruned = try pruner.apply(plan, scores: scores)
    evaluation.recalibrate(pruned)
    let after = evaluation.accuracy(pruned)
    let widths = widthChanges(pruner, plan, pruner.counts)
    let record = ModelDescription.PruningRecord(
        source: source, sourceWeights: "finetuned (soft pruning)", method: "soft-" + soft.method,
        nu: soft.method == "fpgm-weak" ? soft.nu : soft.method == "fpgm" ? 1 : nil, theta: soft.method.hasPrefix("fpgm") ? soft.theta : nil,
        minimumWidthFraction: soft.minimumWidth, target: soft.amountText,
        sourceMacs: d.macs, sourceParameters: d.parameters, widths: widths, round: 1, rounds: 1,
        sourceValidationAccuracy: before, prunedValidationAccuracy: after, calibrationImages: evaluation.indices.count)
    var provenance = d.provenance
    provenance.exportedAt = ISO8601DateFormatter().string(from: Date())
    provenance.inheritedScore = after
    try ModelDirectory(path: out).write(model: pruned, normalization: d.normalization, provenance: provenance, pruning: record,
                                        folded: false, onnx: false)
    print(String(format: "soft-pruned model: %@ M -> %@ M MACs, %d -> %d params, validation %.4f (trained, masked channels regrown) -> %.4f (final mask removed, BN recalibrated; finetune it)",
                 millions(d.macs), millions(plan.cost.macs), d.parameters, plan.cost.parameters, before, after))
    print("  \(out)/model.json; finetune further with: pare finetune \(out)")
}

/// Quantization-aware finetuning's set-up: every BatchNorm frozen and fake-quantizing its
/// output on the grid calibrated here (the min/max of its output over 10 batches of 100
/// training images, as `pare quantize` would choose it), stored in RUN/qat-ranges.json so a
/// resumed run uses the same grids; every convolution and classifier weight fake-quantized.
func prepareQAT(_ training: TrainingRun, _ dir: RunDirectory, train: Dataset, normalization: Normalization, resumed: Bool) throws {
    guard let arch = training.config.fixedArchitecture else { throw UserError("--qat needs a standalone model (pare finetune)") }
    let network = training.network
    let norms = network.norms
    let path = (dir.path as NSString).appendingPathComponent("qat-ranges.json")
    var grids: [String: FakeQuantization]
    if resumed {
        // The grids were calibrated on the weights the run started from: recalibrating on the
        // resumed weights would not continue the same training.
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UserError("\(path): missing, so the run cannot continue with its fake-quantization grids; remove \(dir.path) to start over")
        }
        do { grids = try JSONDecoder().decode([String: FakeQuantization].self, from: data) } catch {
            throw UserError("\(path): unreadable fake-quantization grids (\(decodingProblem(error))); remove \(dir.path) to start over")
        }
    } else {
        for bn in norms { bn.frozen = true; bn.observedRange = (.infinity, -.infinity) }
        let loader = BatchLoader(dataset: train, batchSize: 100, normalization: normalization, shuffle: false, dropLast: false)
        for start in stride(from: 0, to: min(train.count, 1000), by: 100) {
            _ = network.forward(loader.fill(indices: Array(start..<min(train.count, start + 100)), rng: nil), arch: arch, mode: .training)
        }
        grids = [:]
        for bn in norms {
            let r = bn.observedRange!
            grids[bn.gamma.name] = FakeQuantization(minimum: r.minimum.isFinite ? r.minimum : 0, maximum: r.maximum.isFinite ? r.maximum : 0)
            bn.observedRange = nil
        }
        try AtomicFile.writeJSON(encodable: grids, to: path)
    }
    for bn in norms {
        guard let grid = grids[bn.gamma.name] else { throw UserError("\(path): no grid for \(bn.gamma.name)") }
        bn.frozen = true
        bn.fakeQuantization = grid
    }
    training.trainer.fakeQuantizedWeights = network.parameters.filter { $0.decays && $0.shape.count >= 2 }
    logLine("quantization-aware: \(norms.count) BatchNorms frozen with fake-quantized outputs, \(training.trainer.fakeQuantizedWeights.count) weights fake-quantized (int8 per channel)")
}

import Datasets
import Export
import Foundation
import Layers
import Runs
import Spaces
import Networks
import Pruning
import TensorCore
import Training

/// What `pare finetune` runs, and `pare prune --finetune-epochs` after each round: the model
/// of an exported directory trained from its exported weights (or from scratch).
public struct FinetuneRequest: Sendable {
    /// The model directory (pare export, pare prune).
    public var model: String
    public var recipe = RecipeOverrides()
    /// Data source (default: the model's, from model.json).
    public var data: String?
    public var fromScratch = false
    /// Checkpoints and logs (default DIR/finetune, DIR/scratch or DIR/qat).
    public var runDirectory: String?
    /// The globally least important channels are masked at every epoch start and removed at
    /// the end: the physically smaller model goes to `prunedOut` (default DIR/soft-pruned).
    public var softPrune: SoftPruning?
    /// Soft pruning to a cost target instead of its rate: a share of the model's cost or a count.
    public var softPruneTarget: (metric: SoftPruning.Target.Metric, amount: CostAmount)?
    public var prunedOut: String?
    /// Quantization-aware finetuning.
    public var qat = false
    /// Every step also learns from this model's outputs (knowledge distillation).
    public var teacher: TeacherDistillation?
    /// A moving average of the weights with this decay is validated and written.
    public var average: Float?
    /// The validation split is trained on too.
    public var includeValidation = false
    public init(model: String) { self.model = model }
}

/// A finished finetune: the training, the weights written and, with soft pruning, the pruned model.
public struct FinetuneResult: Sendable {
    /// The model directory finetuned.
    public var model: String
    public var training: TrainingSummary
    /// The file written, and its `--weights` name (finetuned, scratch or qat).
    public var weightsPath: String
    public var weights: String
    public var softPruned: SoftPruneResult?
}

/// Progress, metrics and checkpoints go to the run directory; the weights to
/// DIR/model.finetuned.safetensors (model.scratch, model.qat).
public func finetune(_ request: FinetuneRequest, engine: Engine, log: @escaping Log) throws -> FinetuneResult {
    let modelDirectory = request.model, options = request.recipe, data = request.data, fromScratch = request.fromScratch
    let runDirectory = request.runDirectory, qat = request.qat, teacher = request.teacher
    let average = request.average, includeValidation = request.includeValidation
    let model = ModelDirectory(path: modelDirectory)
    let description = try model.readDescription()
    var softPrune = request.softPrune
    if let t = request.softPruneTarget {
        softPrune?.target = .init(metric: t.metric, value: t.amount.value(of: t.metric == .macs ? description.macs : description.parameters))
    }
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
        config = modelDataConfig(description, data: nil)
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
    if let t = config.teacher { try attachTeacher(t, to: training, student: description, engine: engine, log: log) }
    let start: String
    if options.resume {
        let path = try training.resumeFromNewest(dir, warn: log)
        log("resumed from \(path) at step \(training.step) of \(training.totalSteps)")
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
    let criterion = try config.softPrune.map { try softPruning($0, training, log: log) }
    if config.qat == true { try prepareQAT(training, dir, train: train, normalization: description.normalization, resumed: options.resume, log: log) }
    log("pare finetune: \(arch) (\(String(format: "%.3f", Double(description.macs) / 1e6)) M MACs, \(description.parameters) params) on \(source), \(train.count) train / \(val.count) validation"
            + (config.includeValidation == true ? " (trained on too)" : "") + ", \(config.epochs) epochs, \(start)"
            + (training.average.map { ", validating and writing the weights' moving average (decay \($0.decay))" } ?? ""))
    let isQAT = config.qat == true
    let summary = try runTrainingLoop(training, dir, resume: "pare finetune \(modelDirectory) --resume" + (fromScratch ? " --from-scratch" : "") + (isQAT ? " --qat" : "")
                        + (runDirectory.map { " --run \($0)" } ?? ""), log: log)!
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
    var result = FinetuneResult(model: modelDirectory, training: summary, weightsPath: model.file(weights), weights: label)
    if let soft = config.softPrune, let criterion {
        result.softPruned = try removeSoftMasked(training, soft, criterion, description: description, source: modelDirectory, train: train,
                                                 validation: val, out: request.prunedOut ?? model.file("soft-pruned"))
    }
    return result
}

/// Soft pruning's epoch-start mask on `training` (a standalone model), and its criterion.
func softPruning(_ soft: SoftPruning, _ training: TrainingRun, log: @escaping Log) throws -> any ChannelImportance {
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
        log("epoch \(run.epoch + 1): soft mask zeroes \(n) channels (\(soft.method), \(soft.amountText))")
    }
    return criterion
}

extension SoftPruning {
    public var amount: SoftMask.Amount {
        guard let target else { return .fraction(rate) }
        return .target(PruneTarget(metric: target.metric == .macs ? .macs : .parameters, value: target.value))
    }

    public var amountText: String {
        guard let target else { return String(format: "%.0f%% of the prunable channels", rate * 100) }
        return "at most " + (target.metric == .macs ? "\(millions(target.value)) M MACs" : "\(target.value) parameters")
    }
}

/// The smaller model soft pruning wrote, and what its removal cost.
public struct SoftPruneResult: Sendable {
    public var out: String
    public var macs: (before: Int, after: Int)
    public var parameters: (before: Int, after: Int)
    /// Validation accuracy as trained (masked channels regrown), then with the final mask
    /// removed and BN recalibrated.
    public var accuracy: (before: Double, after: Double)
}

/// The end of soft pruning: a final mask on the trained weights (soft filter pruning masks at
/// every epoch end), its channels removed physically, BN recalibrated,
/// written as a model directory with its pruning record.
func removeSoftMasked(_ training: TrainingRun, _ soft: SoftPruning, _ criterion: any ChannelImportance, description d: ModelDescription,
                      source: String, train: Dataset, validation: Dataset, out: String) throws -> SoftPruneResult {
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
    return SoftPruneResult(out: out, macs: (d.macs, plan.cost.macs), parameters: (d.parameters, plan.cost.parameters), accuracy: (before, after))
}

/// Quantization-aware finetuning's set-up: every BatchNorm frozen and fake-quantizing its
/// output on the grid calibrated here (the min/max of its output over 10 batches of 100
/// training images, as `pare quantize` would choose it), stored in RUN/qat-ranges.json so a
/// resumed run uses the same grids; every convolution and classifier weight fake-quantized.
func prepareQAT(_ training: TrainingRun, _ dir: RunDirectory, train: Dataset, normalization: Normalization, resumed: Bool, log: Log) throws {
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
    log("quantization-aware: \(norms.count) BatchNorms frozen with fake-quantized outputs, \(training.trainer.fakeQuantizedWeights.count) weights fake-quantized (int8 per channel)")
}

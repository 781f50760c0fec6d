import Foundation
import Runs
import Networks
import TensorCore
import Training

/// The recipe and bookkeeping settings a caller gives a training workflow (`pare train`,
/// `pare finetune`, the finetuning of `pare prune`); nil keeps the run's (or the default) value.
public struct RecipeOverrides: Sendable {
    public var epochs: Int?
    public var seed: UInt64?
    public var learningRate: Float?
    public var warmupEpochs: Double?
    public var batchSize: Int?
    public var labelSmoothing: Float?
    public var weightDecay: Float?
    public var slimming: Float?
    public var cropPadding: Int?
    public var flip: Bool?
    public var erase: Double?
    public var checkpointEvery: Int?
    public var keep: Int?
    /// Continue the run from its newest valid checkpoint.
    public var resume = false
    /// On resume, accept settings that differ from the run's stored configuration.
    public var overrideConfig = false
    public init() {}

    /// Sets the recipe options on `config`, refuses a resume that changes the result
    /// (unless --override-config), validates, and rewrites run.json when a resume changed it.
    public func apply(to config: inout TrainConfig, changes: inout ConfigChanges, dir: RunDirectory) throws {
        changes.set("--epochs", epochs, \.epochs, in: &config)
        changes.set("--seed", seed, \.seed, in: &config)
        changes.set("--lr", learningRate, \.recipe.learningRate, in: &config)
        changes.set("--warmup-epochs", warmupEpochs, \.recipe.warmupEpochs, in: &config)
        changes.set("--batch-size", batchSize, \.recipe.batchSize, in: &config)
        changes.set("--label-smoothing", labelSmoothing, \.recipe.labelSmoothing, in: &config)
        changes.set("--weight-decay", weightDecay, \.recipe.optimizer.weightDecay, in: &config)
        changes.set("--slimming", slimming, \.recipe.slimming, in: &config)
        changes.set("--crop-padding", cropPadding, \.augmentation.cropPadding, in: &config)
        changes.set("--flip", flip, \.augmentation.horizontalFlip, in: &config)
        changes.set("--erase", erase, \.augmentation.erasing, in: &config)
        changes.set("--checkpoint-every", checkpointEvery, \.checkpointEvery, in: &config)
        changes.set("--keep", keep, \.keepCheckpoints, in: &config)
        // Bookkeeping options may change on resume without affecting the result.
        let harmless: Set<String> = ["--probes", "--checkpoint-every", "--keep"]
        if let (field, stored, requested) = changes.list.first(where: { !harmless.contains($0.0) }), !overrideConfig {
            throw RunError.configMismatch(path: dir.configPath, field: field, stored: stored, requested: requested)
        }
        guard config.epochs >= 1 else { throw UserError("--epochs must be at least 1, got \(config.epochs)") }
        guard config.recipe.batchSize >= 1 else { throw UserError("--batch-size must be at least 1") }
        guard config.recipe.slimming >= 0 && config.recipe.slimming.isFinite else { throw UserError("--slimming must be a finite number >= 0, got \(config.recipe.slimming)") }
        guard config.recipe.learningRate > 0 && config.recipe.learningRate.isFinite else { throw UserError("--lr must be a positive finite number") }
        guard config.recipe.warmupEpochs >= 0 && config.recipe.warmupEpochs <= Double(config.epochs) else {
            throw UserError("--warmup-epochs must be between 0 and --epochs (\(config.epochs)), got \(config.recipe.warmupEpochs)")
        }
        // More padding than the image is wide would crop pure padding (and size a huge buffer).
        guard (0...config.space.inputSize).contains(config.augmentation.cropPadding) else {
            throw UserError("--crop-padding must be between 0 and the input size (\(config.space.inputSize) pixels), got \(config.augmentation.cropPadding)")
        }
        guard (0...1).contains(config.augmentation.erasing) else { throw UserError("--erase must be a probability in [0, 1], got \(config.augmentation.erasing)") }
        guard (0..<1).contains(config.recipe.labelSmoothing) else { throw UserError("--label-smoothing must be in [0, 1)") }
        guard config.recipe.optimizer.weightDecay >= 0 && config.recipe.optimizer.weightDecay.isFinite else {
            throw UserError("--weight-decay must be a finite number >= 0")
        }
        guard config.recipe.batchSize <= 65_536, config.epochs <= 100_000 else { throw UserError("--batch-size must be at most 65536 and --epochs at most 100000") }
        if resume && !changes.list.isEmpty { try AtomicFile.writeJSON(encodable: config, to: dir.configPath) }
    }
}

/// Options given on a resume that differ from the stored configuration.
public struct ConfigChanges {
    public let resume: Bool
    public var list: [(String, String, String)] = []
    public init(resume: Bool) { self.resume = resume }

    public mutating func set<T: Equatable>(_ name: String, _ value: T?, _ keyPath: WritableKeyPath<TrainConfig, T>, in config: inout TrainConfig) {
        guard let value else { return }
        if resume && config[keyPath: keyPath] != value { list.append((name, "\(config[keyPath: keyPath])", "\(value)")) }
        config[keyPath: keyPath] = value
    }
}

/// What a finished training loop did (this process's share of a resumed run).
public struct TrainingSummary: Sendable {
    public var steps: Int
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Time of the epoch-end probes, and the rate without them.
    public var probeSeconds: Double
    public var trainingImagesPerSecond: Double
    public var peakMemoryMiB: Double
    /// The last epoch's probes, scored on `scoreLabel` images.
    public var probes: [ProbeResult]
    public var scoreLabel: String
    public var runPath: String
}

/// Trains to the end: progress, JSON-lines metrics, epoch-end probes, checkpoints, Ctrl-C
/// (checkpoint, then `Interrupted` with `resume` as the way to continue), summary.json.
/// In a data-parallel job only the writer (rank 0) reports, probes and writes files; the
/// others return nil.
@discardableResult
public func runTrainingLoop(_ training: TrainingRun, _ dir: RunDirectory, resume command: String, writer: Bool = true, log: @escaping Log) throws -> TrainingSummary? {
    let config = training.config
    let metrics = writer ? try MetricsLog(directory: dir.path, file: "train.jsonl") : nil
    let progress = Progress(total: training.totalSteps, log: writer ? log : { _ in })
    let diverged = "the newest checkpoint in \(dir.checkpointDirectory) is the last finite state; lower --lr and resume with --override-config"
    func saveCheckpoint() throws {
        guard writer, let metrics else { return }
        let data: Data
        do { data = try training.checkpoint() } catch let e as TrainingError {
            throw UserError("\(e) (lr \(training.trainer.schedule.rate(at: max(training.step - 1, 0)))); \(diverged)")
        }
        let path = try dir.writeCheckpoint(data, step: training.step, keep: config.keepCheckpoints)
        try metrics.append(["kind": "checkpoint", "step": training.step, "path": path])
    }
    Interrupt.install()
    defer { Interrupt.uninstall() }
    let start = Date(), firstStep = training.step
    var recent: [Double] = []
    var lastProbes: [ProbeResult] = []
    var probeSeconds = 0.0
    let scoreLabel = config.includeValidation == true ? "val acc (trained on)" : "val acc"
    while !training.finished {
        let info = try training.trainStep()
        guard info.loss.isFinite else {
            throw UserError("training diverged: loss is \(info.loss) at step \(info.step) (lr \(info.learningRate)); \(diverged)")
        }
        recent.append(info.loss)
        if recent.count > 50 { recent.removeFirst() }
        let rate = Double((info.step - firstStep) * config.recipe.batchSize) / max(Date().timeIntervalSince(start), 1e-9)
        progress.update(step: info.step, epoch: info.epoch, epochs: config.epochs, loss: recent.reduce(0, +) / Double(recent.count), imagesPerSecond: rate)
        try metrics?.append(["kind": "step", "step": info.step, "epoch": info.epoch, "loss": info.loss,
                            "accuracy": Double(info.correct) / Double(info.batch), "lr": Double(info.learningRate),
                            "arch": info.architecture.description])
        if info.endedEpoch {
            progress.finish()
            let probeStart = Date()
            lastProbes = writer ? training.evaluateProbes() : []
            probeSeconds += Date().timeIntervalSince(probeStart)
            for p in lastProbes {
                log(String(format: "epoch %d %-9@ %6.3f M MACs  %@ %.4f  loss %.4f", info.epoch, p.name, Double(p.macs) / 1e6, scoreLabel, p.accuracy, p.loss))
            }
            try metrics?.append(["kind": "epoch", "epoch": info.epoch, "step": info.step, "seconds": Date().timeIntervalSince(start),
                                "probes": lastProbes.map { ["name": $0.name, "arch": $0.architecture, "macs": $0.macs, "val_accuracy": $0.accuracy, "val_loss": $0.loss] }])
            try saveCheckpoint()
        } else if config.checkpointEvery > 0 && info.step % config.checkpointEvery == 0 {
            try saveCheckpoint()
        }
        // Data parallel: every process stops after the same step (the flag travels with the gradients).
        if training.isDataParallel ? training.jobInterrupted : Interrupt.requested {
            progress.finish()
            try saveCheckpoint()
            throw Interrupted(writer ? "interrupted at step \(training.step) of \(training.totalSteps); checkpoint written. Continue with: \(command)" : nil)
        }
    }
    guard writer else { return nil }
    let seconds = Date().timeIntervalSince(start)
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let summary: [String: Any] = [
        "space": config.space.name, "data": config.data, "epochs": config.epochs, "steps": training.totalSteps,
        "steps_this_process": training.step - firstStep, "seconds_this_process": seconds,
        "images_per_second": Double((training.step - firstStep) * config.recipe.batchSize) / max(seconds, 1e-9),
        "probe_seconds": probeSeconds,
        "training_images_per_second": Double((training.step - firstStep) * config.recipe.batchSize) / max(seconds - probeSeconds, 1e-9),
        "peak_rss_mib": Double(usage.ru_maxrss) / 1024, "blas_core": BLAS.coreName, "threads": training.network.engine.threads,
        "final_probes": lastProbes.map { ["name": $0.name, "arch": $0.architecture, "macs": $0.macs, "params": $0.parameters, "val_accuracy": $0.accuracy] },
    ]
    try AtomicFile.writeJSON(summary, to: dir.file("summary.json"))
    return TrainingSummary(steps: training.step - firstStep, seconds: seconds, imagesPerSecond: summary["images_per_second"] as! Double,
                           probeSeconds: probeSeconds, trainingImagesPerSecond: summary["training_images_per_second"] as! Double,
                           peakMemoryMiB: summary["peak_rss_mib"] as! Double, probes: lastProbes, scoreLabel: scoreLabel, runPath: dir.path)
}

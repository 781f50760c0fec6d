import ArgumentParser
import Foundation
import Runs
import Networks
import TensorCore

/// Recipe and bookkeeping options shared by `pare train` and `pare finetune`.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Epochs (default 10; 3 for pare train with distill sampling, whose steps train 4 paths).") var epochs: Int?
    @Option(help: "Random seed (default 0).") var seed: UInt64?
    @Option(name: .customLong("lr"), help: "Base learning rate of the cosine schedule (default: 0.4 for pare train, 0.1 for pare finetune).") var learningRate: Float?
    @Option(help: "Epochs of linear learning-rate warm-up before the cosine schedule (default: a tenth of the epochs, at most 1, for pare train; 0 for pare finetune; fractions allowed).") var warmupEpochs: Double?
    @Option(help: "Batch size (default 128).") var batchSize: Int?
    @Option(help: "Label smoothing (default 0.1).") var labelSmoothing: Float?
    @Option(help: "Weight decay on conv/linear weights (default 4e-5).") var weightDecay: Float?
    @Option(help: "Network slimming: L1 penalty of this weight on every BatchNorm scale (typically 1e-5 to 1e-4; default 0: off), so that `pare prune --method slimming` finds channels to remove.")
    var slimming: Float?
    @Option(help: "Random-crop padding (default 0: off).") var cropPadding: Int?
    @Option(help: "Random horizontal flips: true or false (default false).") var flip: Bool?
    @Option(help: "Random erasing: the probability that an image gets one rectangle of random pixels (default 0: off; 0.5 is the paper's).")
    var erase: Double?
    @Option(help: "Checkpoint every N steps as well as at epoch ends (default 200; 0: epoch ends only).") var checkpointEvery: Int?
    @Option(help: "Checkpoints kept (default 3).") var keep: Int?
    @Flag(help: "Continue the run from its newest valid checkpoint.") var resume = false
    @Flag(help: "On --resume, accept options that differ from the run's stored configuration.") var overrideConfig = false
    @Option(help: "Engine threads (default: all cores).") var threads: Int?

    /// Sets the recipe options on `config`, refuses a resume that changes the result
    /// (unless --override-config), validates, and rewrites run.json when a resume changed it.
    func apply(to config: inout TrainConfig, changes: inout ConfigChanges, dir: RunDirectory) throws {
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
struct ConfigChanges {
    let resume: Bool
    var list: [(String, String, String)] = []
    init(resume: Bool) { self.resume = resume }

    mutating func set<T: Equatable>(_ name: String, _ value: T?, _ keyPath: WritableKeyPath<TrainConfig, T>, in config: inout TrainConfig) {
        guard let value else { return }
        if resume && config[keyPath: keyPath] != value { list.append((name, "\(config[keyPath: keyPath])", "\(value)")) }
        config[keyPath: keyPath] = value
    }
}

/// Trains to the end: progress, JSON-lines metrics, epoch-end probes, checkpoints, Ctrl-C
/// (checkpoint, then exit 130 with `command` as the way to continue), summary.json.
@discardableResult
/// In a data-parallel job only the writer (rank 0) reports, probes and writes files.
func runTrainingLoop(_ training: TrainingRun, _ dir: RunDirectory, command: String, writer: Bool = true) throws -> [ProbeResult] {
    let config = training.config
    let metrics = writer ? try MetricsLog(directory: dir.path, file: "train.jsonl") : nil
    let progress = Progress(total: training.totalSteps, log: writer ? logLine : { _ in })
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
                logLine(String(format: "epoch %d %-9@ %6.3f M MACs  %@ %.4f  loss %.4f", info.epoch, p.name, Double(p.macs) / 1e6, scoreLabel, p.accuracy, p.loss))
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
            if writer { logLine("interrupted at step \(training.step) of \(training.totalSteps); checkpoint written. Continue with: \(command)") }
            throw ExitCode(130)
        }
    }
    guard writer else { return [] }
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
    print(String(format: "trained %d steps in %.1f s (%.0f img/s; %.0f img/s without the %.1f s of epoch-end probes), peak memory %.0f MiB",
                 training.step - firstStep, seconds, summary["images_per_second"] as! Double,
                 summary["training_images_per_second"] as! Double, probeSeconds, summary["peak_rss_mib"] as! Double))
    for p in lastProbes {
        print(String(format: "%-9@ %6.3f M MACs %7d params  %@ %.4f  | %@", p.name, Double(p.macs) / 1e6, p.parameters, scoreLabel, p.accuracy, p.architecture))
    }
    print("run: \(dir.path) (run.json, train.jsonl, checkpoints/, summary.json)")
    return lastProbes
}

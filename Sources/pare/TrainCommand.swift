import ArgumentParser
import Data
import Foundation
import Runs
import SearchSpace
import Supernet
import TensorCore

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a weight-sharing supernet, one sampled path per step (Single Path One-Shot).",
        discussion: """
        Holds out the last --validation images of the training file; at each epoch end scores the smallest, \
        largest and --probes random architectures on it after BN recalibration. Writes RUN/run.json, \
        RUN/train.jsonl (per step and per epoch), RUN/checkpoints/ckpt-STEP.bin and RUN/summary.json. \
        Ctrl-C writes a checkpoint and stops; `pare train --run RUN --resume` continues bit-exactly.
        """)

    @Option(name: .customLong("run"), help: "Run directory (e.g. runs/fm1).") var runDirectory: String
    @Option(help: "Search-space file, or 'reference' (required for a new run).") var space: String?
    @Option(help: "fashion-mnist[:DIR], mnist:DIR, cifar10:DIR or synthetic (default fashion-mnist).") var data: String?
    @Option(help: "Epochs (default 10).") var epochs: Int?
    @Option(help: "Random seed (default 0).") var seed: UInt64?
    @Option(help: "Path sampling: uniform, fair, sandwich or flops-band:MIN-MAX (e.g. flops-band:1.5M-3M).") var sampling: String?
    @Option(name: .customLong("lr"), help: "Base learning rate of the cosine schedule (default 0.1).") var learningRate: Float?
    @Option(help: "Batch size (default 128).") var batchSize: Int?
    @Option(help: "Label smoothing (default 0.1).") var labelSmoothing: Float?
    @Option(help: "Weight decay on conv/linear weights (default 4e-5).") var weightDecay: Float?
    @Option(help: "Random-crop padding (default 0: off).") var cropPadding: Int?
    @Option(help: "Random horizontal flips: true or false (default false).") var flip: Bool?
    @Option(help: "Validation images held out from the end of the training file (default 10000).") var validation: Int?
    @Option(help: "Use only the first N training images (default 0: all).") var trainLimit: Int?
    @Option(help: "Random probe architectures scored at each epoch end (default 3).") var probes: Int?
    @Option(help: "Checkpoint every N steps as well as at epoch ends (default 200; 0: epoch ends only).") var checkpointEvery: Int?
    @Option(help: "Checkpoints kept (default 3).") var keep: Int?
    @Flag(help: "Continue the run from its newest valid checkpoint.") var resume = false
    @Flag(help: "On --resume, accept options that differ from the run's stored configuration.") var overrideConfig = false
    @Option(help: "Engine threads (default: all cores).") var threads: Int?

    func run() throws {
        try reportingErrors {
            startEngine(threads: threads)
            let dir = try RunDirectory(path: runDirectory)
            try dir.lock()
            let config = try resolveConfig(dir)
            let (train, val, source) = try loadSplits(config)
            let sp = config.space
            let training = try SupernetTraining(config: config, train: train, validation: val, normalization: Normalization.fit(train))
            guard training.totalSteps > 0 else { throw UserError("\(train.count) training images make no batch of \(config.recipe.batchSize)") }
            if resume {
                let path = try training.resumeFromNewest(dir, warn: logLine)
                logLine("resumed from \(path) at step \(training.step) of \(training.totalSteps)")
            } else {
                try AtomicFile.writeJSON(encodable: config, to: dir.configPath)
            }
            logLine("pare train: \(sp.name) on \(source) (\(train.count) train, \(val.count) validation), \(config.epochs) epochs of \(training.loader.batchesPerEpoch) steps, sampling \(config.sampling), OpenBLAS \(BLAS.coreName), \(Parallel.threads) threads")
            try loop(training, dir)
        }
    }

    /// The configuration of a new run from the options, or of a resumed one from run.json
    /// (options given on resume must agree with it unless --override-config).
    func resolveConfig(_ dir: RunDirectory) throws -> TrainConfig {
        var config: TrainConfig
        var changes: [(String, String, String)] = []
        if resume {
            config = try loadTrainConfig(dir, hint: "start the run without --resume (and with --space)")
        } else {
            guard let space else { throw UserError("--space is required to start a run (or pass --resume to continue \(dir.path))") }
            if !dir.checkpoints().isEmpty {
                throw UserError("\(dir.path): already has checkpoints; pass --resume to continue it, or choose another --run")
            }
            config = TrainConfig(space: try loadSpace(space), spaceFile: space, data: data ?? "fashion-mnist")
        }
        func set<T: Equatable>(_ name: String, _ value: T?, _ keyPath: WritableKeyPath<TrainConfig, T>) {
            guard let value else { return }
            if resume && config[keyPath: keyPath] != value { changes.append((name, "\(config[keyPath: keyPath])", "\(value)")) }
            config[keyPath: keyPath] = value
        }
        if resume, let space { set("--space", try loadSpace(space), \.space) }
        if resume { set("--data", data, \.data) }
        set("--epochs", epochs, \.epochs)
        set("--seed", seed, \.seed)
        if let sampling { set("--sampling", try parseSampling(sampling), \.sampling) }
        set("--lr", learningRate, \.recipe.learningRate)
        set("--batch-size", batchSize, \.recipe.batchSize)
        set("--label-smoothing", labelSmoothing, \.recipe.labelSmoothing)
        set("--weight-decay", weightDecay, \.recipe.optimizer.weightDecay)
        set("--crop-padding", cropPadding, \.augmentation.cropPadding)
        set("--flip", flip, \.augmentation.horizontalFlip)
        set("--validation", validation, \.validation)
        set("--train-limit", trainLimit, \.trainLimit)
        set("--probes", probes, \.probes)
        set("--checkpoint-every", checkpointEvery, \.checkpointEvery)
        set("--keep", keep, \.keepCheckpoints)
        // Bookkeeping options may change on resume without affecting the result.
        let harmless: Set<String> = ["--probes", "--checkpoint-every", "--keep"]
        if let (field, stored, requested) = changes.first(where: { !harmless.contains($0.0) }), !overrideConfig {
            throw RunError.configMismatch(path: dir.configPath, field: field, stored: stored, requested: requested)
        }
        guard config.epochs >= 1 else { throw UserError("--epochs must be at least 1, got \(config.epochs)") }
        guard config.recipe.batchSize >= 1 else { throw UserError("--batch-size must be at least 1") }
        guard config.recipe.learningRate > 0 && config.recipe.learningRate.isFinite else { throw UserError("--lr must be positive") }
        guard (0..<1).contains(config.recipe.labelSmoothing) else { throw UserError("--label-smoothing must be in [0, 1)") }
        if resume && !changes.isEmpty { try AtomicFile.writeJSON(encodable: config, to: dir.configPath) }
        return config
    }

    func parseSampling(_ text: String) throws -> SamplingStrategy {
        switch text {
        case "uniform": return .uniform
        case "fair": return .fair
        case "sandwich": return .sandwich
        default:
            if text.hasPrefix("flops-band:") {
                let parts = text.dropFirst(11).split(separator: "-").map(String.init)
                if parts.count == 2, let lo = parseCount(parts[0]), let hi = parseCount(parts[1]) {
                    return .flopsBand(minMACs: lo, maxMACs: hi)
                }
            }
            throw UserError("--sampling: '\(text)' is not uniform, fair, sandwich or flops-band:MIN-MAX (e.g. flops-band:1.5M-3M)")
        }
    }

    func loop(_ training: SupernetTraining, _ dir: RunDirectory) throws {
        let config = training.config
        let metrics = try MetricsLog(directory: dir.path, file: "train.jsonl")
        let progress = Progress(total: training.totalSteps, log: logLine)
        func saveCheckpoint() throws {
            let path = try dir.writeCheckpoint(try training.checkpoint(), step: training.step, keep: config.keepCheckpoints)
            try metrics.append(["kind": "checkpoint", "step": training.step, "path": path])
        }
        Interrupt.install()
        defer { Interrupt.uninstall() }
        let start = Date(), firstStep = training.step
        var recent: [Double] = []
        var lastProbes: [ProbeResult] = []
        var probeSeconds = 0.0
        while !training.finished {
            let info = try training.trainStep()
            guard info.loss.isFinite else {
                throw UserError("training diverged: loss is \(info.loss) at step \(info.step) (lr \(info.learningRate)); the last checkpoint in \(dir.checkpointDirectory) is from before; lower --lr and resume with --override-config")
            }
            recent.append(info.loss)
            if recent.count > 50 { recent.removeFirst() }
            let rate = Double((info.step - firstStep) * config.recipe.batchSize) / max(Date().timeIntervalSince(start), 1e-9)
            progress.update(step: info.step, epoch: info.epoch, epochs: config.epochs, loss: recent.reduce(0, +) / Double(recent.count), imagesPerSecond: rate)
            try metrics.append(["kind": "step", "step": info.step, "epoch": info.epoch, "loss": info.loss,
                                "accuracy": Double(info.correct) / Double(info.batch), "lr": Double(info.learningRate),
                                "arch": info.architecture.description])
            if info.endedEpoch {
                progress.finish()
                let probeStart = Date()
                lastProbes = training.evaluateProbes()
                probeSeconds += Date().timeIntervalSince(probeStart)
                for p in lastProbes {
                    logLine(String(format: "epoch %d %-9@ %6.3f M MACs  val acc %.4f  loss %.4f", info.epoch, p.name, Double(p.macs) / 1e6, p.accuracy, p.loss))
                }
                try metrics.append(["kind": "epoch", "epoch": info.epoch, "step": info.step, "seconds": Date().timeIntervalSince(start),
                                    "probes": lastProbes.map { ["name": $0.name, "arch": $0.architecture, "macs": $0.macs, "val_accuracy": $0.accuracy, "val_loss": $0.loss] }])
                try saveCheckpoint()
            } else if config.checkpointEvery > 0 && info.step % config.checkpointEvery == 0 {
                try saveCheckpoint()
            }
            if Interrupt.requested {
                progress.finish()
                try saveCheckpoint()
                logLine("interrupted at step \(training.step) of \(training.totalSteps); checkpoint written. Continue with: pare train --run \(dir.path) --resume")
                throw ExitCode(130)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let summary: [String: Any] = [
            "space": config.space.name, "data": config.data, "epochs": config.epochs, "steps": training.totalSteps,
            "steps_this_process": training.step - firstStep, "seconds_this_process": seconds,
            "images_per_second": Double((training.step - firstStep) * config.recipe.batchSize) / max(seconds, 1e-9),
            "probe_seconds": probeSeconds,
            "training_images_per_second": Double((training.step - firstStep) * config.recipe.batchSize) / max(seconds - probeSeconds, 1e-9),
            "peak_rss_mib": Double(usage.ru_maxrss) / 1024, "blas_core": BLAS.coreName, "threads": Parallel.threads,
            "final_probes": lastProbes.map { ["name": $0.name, "arch": $0.architecture, "macs": $0.macs, "params": $0.parameters, "val_accuracy": $0.accuracy] },
        ]
        try AtomicFile.writeJSON(summary, to: dir.file("summary.json"))
        print(String(format: "trained %d steps in %.1f s (%.0f img/s; %.0f img/s without the %.1f s of epoch-end probes), peak memory %.0f MiB",
                     training.step - firstStep, seconds, summary["images_per_second"] as! Double,
                     summary["training_images_per_second"] as! Double, probeSeconds, summary["peak_rss_mib"] as! Double))
        for p in lastProbes {
            print(String(format: "%-9@ %6.3f M MACs %7d params  val acc %.4f  | %@", p.name, Double(p.macs) / 1e6, p.parameters, p.accuracy, p.architecture))
        }
        print("run: \(dir.path) (run.json, train.jsonl, checkpoints/, summary.json)")
    }
}

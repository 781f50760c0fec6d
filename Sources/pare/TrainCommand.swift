import ArgumentParser
import Datasets
import Distributed
import Foundation
import Runs
import Search
import Spaces
import Networks
import Pruning
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
    @Option(help: "Path sampling: distill (the default: every step trains the largest path on the labels and the smallest and 2 random paths on its outputs, about 4x a single path's compute; distill:N for N random), uniform (SPOS: one random path per step), fair, sandwich (largest, smallest, random in turn) or flops-band:MIN-MAX (e.g. flops-band:1.5M-3M).",
            transform: { try TrainCommand.parseSampling($0) })
    var sampling: SamplingStrategy?
    @Option(help: "Validation images held out from the end of the training file (default 10000).") var validation: Int?
    @Option(help: "Use only the first N training images (default 0: all).") var trainLimit: Int?
    @Option(help: "Random probe architectures scored at each epoch end (default 3).") var probes: Int?
    @Option(help: "Weight sharing between a block's kernel sizes: none (each operator its own weights), crop (one operator per family, smaller kernels the centre of the largest) or transform (crop times a learned matrix). Default: the space file's kernel_sharing.",
            transform: { text in
                guard let s = KernelSharing(rawValue: text) else { throw ValidationError("'\(quoted(text))' is not \(KernelSharing.nameHelp)") }
                return s
            })
    var kernelSharing: KernelSharing?
    @Option(help: "Progressive shrinking (Once-for-All): K,W,O = the epochs (from 0) at which kernel sizes, then widths and ratios, then all operators open; before K only the largest network trains (e.g. 1,2,3).",
            transform: { text in
                let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard parts.count == 3, let k = parts[0], let w = parts[1], let o = parts[2], 0 <= k, k <= w, w <= o else {
                    throw ValidationError("'\(quoted(text))' is not K,W,O: three epochs with 0 <= K <= W <= O (e.g. 1,2,3)")
                }
                return ProgressiveShrinking(kernelEpoch: k, widthEpoch: w, operatorEpoch: o)
            })
    var progressive: ProgressiveShrinking?
    @Option(help: "Sort every channel set of the supernet by importance once, at the start of an epoch (Once-for-All before elastic widths), so narrower candidates inherit the most important channels: CRITERION[@EPOCH] with CRITERION l1, l2, slimming, fpgm or fpgm-weak, EPOCH from 0 (default: the width epoch of --progressive).")
    var sortChannels: String?
    @Option(help: "PruningNet (MetaPruning): true generates every block layer's weights from the architecture's encoding with a small fully connected network per layer (default: the space file's pruning_net).")
    var pruningNet: Bool?
    @Flag(help: "Initialise MPI even when no MPI launcher started this process (mpirun does it anyway).") var mpi = false
    @Flag(help: "Under MPI: synchronized BatchNorm (statistics of the whole global batch, as one process would compute them) instead of each rank's own shard.")
    var syncBn = false
    @OptionGroup var options: TrainingOptions

    func run() throws {
        try reportingErrors {
            let job = try Job.communicator(force: mpi)
            var engine = startEngine(threads: options.threads ?? jobThreads(job))
            let dir = try RunDirectory(path: runDirectory)
            // Rank 0 writes the run; the other ranks of a data-parallel job only compute.
            let writer = job.isWriter
            if writer { try dir.lock() }
            let config = try resolveConfig(dir, writer: writer)
            let (train, val, source) = try loadSplits(config)
            let sp = config.space
            var parallel: DataParallel?
            var collectives: JobSum?
            if job.size > 1 {
                guard config.recipe.batchSize % job.size == 0 else {
                    throw UserError("--batch-size \(config.recipe.batchSize) does not divide among \(job.size) ranks (the global batch is split evenly)")
                }
                let sum = JobSum(job)
                collectives = sum
                parallel = DataParallel(rank: job.rank, size: job.size, job: sum)
                if syncBn { engine.batchStatistics = sum }
            }
            let training = try TrainingRun(config: config, train: train, validation: val, normalization: Normalization.fit(train), engine: engine,
                                           dataParallel: parallel, localInterrupt: { Interrupt.requested })
            guard training.totalSteps > 0 else { throw UserError("\(train.count) training images make no batch of \(config.recipe.batchSize)") }
            func say(_ line: String) { if writer { logLine(line) } }
            if let sorting = config.channelSorting, let supernet = training.supernet {
                // Every rank sorts its identical copy the same way.
                guard let criterion = channelImportance(named: sorting.method, nu: 0.9) else {
                    throw UserError("\(dir.configPath): channelSorting.method '\(quoted(sorting.method))', expected \(ImportanceCriterion.names)")
                }
                let groups = supernet.channelGroups
                training.onEpochStart = { run in
                    guard run.epoch == sorting.epoch else { return }
                    let moved = ChannelOrder.sort(groups, by: criterion, in: supernet)
                    say("epoch \(run.epoch + 1): channels sorted by \(sorting.method) importance (\(moved) of \(groups.filter(\.prunable).reduce(0) { $0 + $1.channels }) moved)")
                }
            }
            if options.resume {
                let path = try training.resumeFromNewest(dir, warn: say)
                say("resumed from \(path) at step \(training.step) of \(training.totalSteps)")
            } else if writer {
                try AtomicFile.writeJSON(encodable: config, to: dir.configPath)
            }
            say("pare train: \(sp.name) on \(source) (\(train.count) train, \(val.count) validation), \(config.epochs) epochs of \(training.loader.batchesPerEpoch) steps, sampling \(config.sampling), OpenBLAS \(BLAS.coreName), \(engine.threads) threads")
            if job.size > 1 {
                say("MPI: \(job.size) ranks x \(engine.threads) threads, global batch \(config.recipe.batchSize) (\(config.recipe.batchSize / job.size) per rank), one gradient allreduce per step, BatchNorm statistics \(syncBn ? "synchronized over the ranks" : "per rank")")
            }
            let start = Date(), firstStep = training.step
            try runTrainingLoop(training, dir, command: "pare train --run \(dir.path) --resume", writer: writer)
            if let collectives {
                let steps = max(training.step - firstStep, 1), seconds = Date().timeIntervalSince(start)
                say(String(format: "MPI rank 0: %d allreduce calls (%.1f per step, %.2f MB per step) took %.2f s of %.2f s (%.1f%%)",
                           collectives.calls, Double(collectives.calls) / Double(steps), Double(collectives.bytes) / Double(steps) / 1e6,
                           collectives.seconds, seconds, 100 * collectives.seconds / max(seconds, 1e-9)))
            }
        }
    }

    /// The configuration of a new run from the options, or of a resumed one from run.json
    /// (options given on resume must agree with it unless --override-config).
    /// `writer`: false for the other ranks of a data-parallel job (rank 0 checks the directory).
    func resolveConfig(_ dir: RunDirectory, writer: Bool = true) throws -> TrainConfig {
        var config: TrainConfig
        if options.resume {
            config = try loadTrainConfig(dir, hint: "start the run without --resume (and with --space)")
        } else {
            guard let space else { throw UserError("--space is required to start a run (or pass --resume to continue \(dir.path))") }
            if writer && !dir.checkpoints().isEmpty {
                throw UserError("\(dir.path): already has checkpoints; pass --resume to continue it, or choose another --run")
            }
            config = TrainConfig(space: try loadSpace(space), spaceFile: space, data: data ?? "fashion-mnist")
            // A space with one candidate (resnet20.yaml, mobilenetv1.yaml) is an ordinary network:
            // the stand-alone recipe (one path per step, lr 0.1, 10 epochs) applies as it is.
            if config.space.isSingleArchitecture { return try finish(config, dir) }
            // In-place distillation ranks candidates best at equal compute (docs/supernet-quality.md);
            // its steps cost about 4 single-path steps, so it defaults to 3 epochs instead of 10.
            config.sampling = Self.defaultSampling
            if case .distill = sampling ?? config.sampling { config.epochs = 3 }
            // A supernet learns best at 4x a stand-alone network's learning rate, after a short
            // warm-up (same document): many paths share each weight, each step moves few of them.
            config.recipe.learningRate = Self.supernetLearningRate
            config.recipe.warmupEpochs = min(1, Double(options.epochs ?? config.epochs) / 10)
        }
        return try finish(config, dir)
    }

    /// The options given on the command line applied to `config` (checked against run.json on resume).
    private func finish(_ config: TrainConfig, _ dir: RunDirectory) throws -> TrainConfig {
        var config = config
        var changes = ConfigChanges(resume: options.resume)
        if options.resume, let space { changes.set("--space", try loadSpace(space), \.space, in: &config) }
        if options.resume { changes.set("--data", data, \.data, in: &config) }
        changes.set("--sampling", sampling, \.sampling, in: &config)
        changes.set("--validation", validation, \.validation, in: &config)
        changes.set("--train-limit", trainLimit, \.trainLimit, in: &config)
        changes.set("--probes", probes, \.probes, in: &config)
        changes.set("--kernel-sharing", kernelSharing, \.space.kernelSharing, in: &config)
        changes.set("--pruning-net", pruningNet, \.space.pruningNet, in: &config)
        if let progressive { changes.set("--progressive", progressive, \.progressive, in: &config) }
        try options.apply(to: &config, changes: &changes, dir: dir)
        if let p = config.progressive, p.operatorEpoch >= config.epochs {
            throw UserError("--progressive \(p): every stage must open before the last epoch (--epochs \(config.epochs))")
        }
        if let sortChannels { changes.set("--sort-channels", try Self.parseSorting(sortChannels, config), \.channelSorting, in: &config) }
        if config.channelSorting != nil && config.space.pruningNet {
            throw UserError("--sort-channels: a PruningNet supernet generates its weights; there are no stored channels to sort")
        }
        return config
    }

    /// The default learning rate of a new supernet run (`pare finetune` keeps the recipe's 0.1).
    static let supernetLearningRate: Float = 0.4
    /// The default path sampling of a new supernet run.
    static let defaultSampling = SamplingStrategy.distill(random: 2)

    /// CRITERION[@EPOCH]; the epoch defaults to the width epoch of `config`'s progressive shrinking.
    static func parseSorting(_ text: String, _ config: TrainConfig) throws -> ChannelSorting {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, channelImportance(named: parts[0], nu: 0.9) != nil else {
            throw UserError("--sort-channels: '\(quoted(text))' is not CRITERION[@EPOCH] with CRITERION l1, l2, slimming, fpgm or fpgm-weak")
        }
        guard let epoch = parts.count == 2 ? Int(parts[1]) : config.progressive?.widthEpoch else {
            throw UserError(parts.count == 2 ? "--sort-channels: '\(quoted(parts[1]))' is not an epoch number"
                                             : "--sort-channels \(text): name the epoch (\(text)@2) or give --progressive (its width epoch)")
        }
        guard epoch >= 1 && epoch < config.epochs else {
            throw UserError("--sort-channels: epoch \(epoch) is not in 1...\(config.epochs - 1) (epochs count from 0; sorting untrained weights does nothing)")
        }
        return ChannelSorting(method: parts[0], epoch: epoch)
    }

    /// Parsed with the command line, before anything loads.
    static func parseSampling(_ text: String) throws -> SamplingStrategy {
        switch text {
        case "uniform": return .uniform
        case "fair": return .fair
        case "sandwich": return .sandwich
        case "distill": return .distill(random: 2)
        default:
            if text.hasPrefix("distill:"), let r = Int(text.dropFirst(8)), (0...8).contains(r) { return .distill(random: r) }
            if text.hasPrefix("flops-band:") {
                let parts = text.dropFirst(11).split(separator: "-").map(String.init)
                if parts.count == 2, let lo = parseCount(parts[0]), let hi = parseCount(parts[1]) {
                    return .flopsBand(minMACs: lo, maxMACs: hi)
                }
            }
            throw ValidationError("'\(quoted(text))' is not uniform, fair, sandwich, distill[:RANDOM 0-8] or flops-band:MIN-MAX (e.g. flops-band:1.5M-3M)")
        }
    }
}

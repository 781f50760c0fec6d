import Datasets
import Distributed
import Foundation
import Networks
import Pruning
import Runs
import Spaces
import TensorCore
import Training

/// `pare train`: a weight-sharing supernet (or a classic network: a space of one candidate)
/// trained in a run directory; a new run, or a resumed one.
public struct TrainRequest: Sendable {
    public var run: String
    /// Search-space file or built-in name (required for a new run).
    public var space: String?
    /// Data source (default fashion-mnist).
    public var data: String?
    /// nil: the run's, or for a new run the defaults below.
    public var sampling: SamplingStrategy?
    public var validation: Int?
    public var trainLimit: Int?
    public var probes: Int?
    public var kernelSharing: KernelSharing?
    /// Middle widths rounded to multiples of this (`SearchSpace.channelMultiple`).
    public var channelMultiple: Int?
    public var progressive: ProgressiveShrinking?
    public var sortChannels: ChannelSortingChoice?
    public var pruningNet: Bool?
    /// Under MPI: BatchNorm statistics of the whole global batch.
    public var synchronizedBatchNorm = false
    /// Image folders: the fit and bad-file handling (nil: the run's, or the defaults).
    public var imageOptions: ImageOptions?
    public var recipe = RecipeOverrides()
    public init(run: String) { self.run = run }

    /// The default learning rate of a new supernet run (`pare finetune` keeps the recipe's 0.1).
    public static let supernetLearningRate: Float = 0.4
    /// The default path sampling of a new supernet run.
    public static let defaultSampling = SamplingStrategy.distill(random: 2)
}

/// `--sort-channels CRITERION[@EPOCH]`: the epoch defaults to --progressive's width epoch.
public struct ChannelSortingChoice: Equatable, Sendable {
    public var criterion: ImportanceCriterion
    public var epoch: Int?

    public init?(_ text: String) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, let c = ImportanceCriterion(rawValue: parts[0]) else { return nil }
        criterion = c
        if parts.count == 2 {
            guard let e = Int(parts[1]) else { return nil }
            epoch = e
        }
    }
}

/// A finished `trainSupernet` on the writing rank; with MPI, the collectives' share.
public struct TrainResult: Sendable {
    public var training: TrainingSummary
    public var collectives: (calls: Int, bytes: Int, seconds: Double)?
}

/// Rank 0 writes the run; the other ranks of a data-parallel job only compute (and get nil).
public func trainSupernet(_ request: TrainRequest, job: Communicator, engine: Engine, log: @escaping Log) throws -> TrainResult? {
    var engine = engine
    let dir = try RunDirectory(path: request.run)
    let writer = job.isWriter
    let say: Log = { if writer { log($0) } }
    if writer { try dir.lock() }
    defer { if writer { dir.unlock() } }
    var config = try resolveTrainConfig(request, dir, writer: writer)
    let (train, val, source) = try loadSplits(config)
    if config.normalization == nil && !request.recipe.resume { config.normalization = Normalization.fit(train) }
    var parallel: DataParallel?
    var collectives: JobSum?
    if job.size > 1 {
        guard config.recipe.batchSize % job.size == 0 else {
            throw UserError("--batch-size \(config.recipe.batchSize) does not divide among \(job.size) ranks (the global batch is split evenly)")
        }
        let sum = JobSum(job)
        collectives = sum
        parallel = DataParallel(rank: job.rank, size: job.size, job: sum)
        if request.synchronizedBatchNorm { engine.batchStatistics = sum }
    }
    let training = try TrainingRun(config: config, train: train, validation: val, normalization: config.normalization ?? Normalization.fit(train), engine: engine,
                                   dataParallel: parallel, localInterrupt: { Interrupt.requested })
    guard training.totalSteps > 0 else { throw UserError("\(train.count) training images make no batch of \(config.recipe.batchSize)") }
    if let sorting = config.channelSorting, let supernet = training.supernet {
        // Every rank sorts its identical copy the same way.
        guard let criterion = ImportanceCriterion(rawValue: sorting.method)?.make(nu: 0.9) else {
            throw UserError("\(dir.configPath): channelSorting.method '\(quoted(sorting.method))', expected \(ImportanceCriterion.names)")
        }
        let groups = supernet.channelGroups
        training.onEpochStart = { run in
            guard run.epoch == sorting.epoch else { return }
            let moved = ChannelOrder.sort(groups, by: criterion, in: supernet)
            say("epoch \(run.epoch + 1): channels sorted by \(sorting.method) importance (\(moved) of \(groups.filter(\.prunable).reduce(0) { $0 + $1.channels }) moved)")
        }
    }
    if request.recipe.resume {
        let path = try training.resumeFromNewest(dir, warn: say)
        say("resumed from \(path) at step \(training.step) of \(training.totalSteps)")
    } else if writer {
        try AtomicFile.writeJSON(encodable: config, to: dir.configPath)
    }
    say("pare train: \(config.space.name) on \(source) (\(train.count) train, \(val.count) validation), \(config.epochs) epochs of \(training.loader.batchesPerEpoch) steps, sampling \(config.sampling), OpenBLAS \(BLAS.coreName), \(engine.threads) threads")
    if job.size > 1 {
        say("MPI: \(job.size) ranks x \(engine.threads) threads, global batch \(config.recipe.batchSize) (\(config.recipe.batchSize / job.size) per rank), one gradient allreduce per step, BatchNorm statistics \(request.synchronizedBatchNorm ? "synchronized over the ranks" : "per rank")")
    }
    guard let summary = try runTrainingLoop(training, dir, resume: "pare train --run \(dir.path) --resume", writer: writer, log: log) else { return nil }
    return TrainResult(training: summary, collectives: collectives.map { ($0.calls, $0.bytes, $0.seconds) })
}

/// The configuration of a new run from the request, or of a resumed one from run.json
/// (settings given on resume must agree with it unless `overrideConfig`).
/// `writer`: false for the other ranks of a data-parallel job (rank 0 checks the directory).
public func resolveTrainConfig(_ r: TrainRequest, _ dir: RunDirectory, writer: Bool = true) throws -> TrainConfig {
    var config: TrainConfig
    if r.recipe.resume {
        config = try loadTrainConfig(dir, hint: "start the run without --resume (and with --space)")
    } else {
        guard let space = r.space else { throw UserError("--space is required to start a run (or pass --resume to continue \(dir.path))") }
        if writer && !dir.checkpoints().isEmpty {
            throw UserError("\(dir.path): already has checkpoints; pass --resume to continue it, or choose another --run")
        }
        config = TrainConfig(space: try loadSpace(space), spaceFile: space, data: r.data ?? "fashion-mnist")
        // A space with one candidate (resnet20.yaml, mobilenetv1.yaml) is an ordinary network:
        // the stand-alone recipe (one path per step, lr 0.1, 10 epochs) applies as it is.
        if !config.space.isSingleArchitecture {
            // In-place distillation ranks candidates best at equal compute (docs/supernet-quality.md);
            // its steps cost about 4 single-path steps, so it defaults to 3 epochs instead of 10.
            config.sampling = TrainRequest.defaultSampling
            if case .distill = r.sampling ?? config.sampling { config.epochs = 3 }
            // A supernet learns best at 4x a stand-alone network's learning rate, after a short
            // warm-up (same document): many paths share each weight, each step moves few of them.
            config.recipe.learningRate = TrainRequest.supernetLearningRate
            config.recipe.warmupEpochs = min(1, Double(r.recipe.epochs ?? config.epochs) / 10)
        }
    }
    var changes = ConfigChanges(resume: r.recipe.resume)
    if r.recipe.resume, let space = r.space { changes.set("--space", try loadSpace(space), \.space, in: &config) }
    if r.recipe.resume { changes.set("--data", r.data, \.data, in: &config) }
    if let options = r.imageOptions {
        if r.recipe.resume && options != (config.imageOptions ?? ImageOptions()) {
            throw UserError("--fit / --skip-bad-images: the run reads its images as \(config.imageOptions ?? ImageOptions()); a resumed run keeps that")
        }
        config.imageOptions = options
    }
    changes.set("--sampling", r.sampling, \.sampling, in: &config)
    changes.set("--validation", r.validation, \.validation, in: &config)
    changes.set("--train-limit", r.trainLimit, \.trainLimit, in: &config)
    changes.set("--probes", r.probes, \.probes, in: &config)
    changes.set("--kernel-sharing", r.kernelSharing, \.space.kernelSharing, in: &config)
    changes.set("--pruning-net", r.pruningNet, \.space.pruningNet, in: &config)
    if let k = r.channelMultiple {
        // 1 is no rounding, stored as no field (a space file without channel_multiple).
        let multiple: Int? = k == 1 ? nil : k
        changes.set("--channel-multiple", .some(multiple), \.space.channelMultiple, in: &config)
        do { try config.space.validate(file: "--channel-multiple \(k)") } catch { throw UserError("\(error)") }
    }
    if let progressive = r.progressive { changes.set("--progressive", progressive, \.progressive, in: &config) }
    try r.recipe.apply(to: &config, changes: &changes, dir: dir)
    if let p = config.progressive, p.operatorEpoch >= config.epochs {
        throw UserError("--progressive \(p): every stage must open before the last epoch (--epochs \(config.epochs))")
    }
    if let choice = r.sortChannels {
        guard let epoch = choice.epoch ?? config.progressive?.widthEpoch else {
            throw UserError("--sort-channels \(choice.criterion.rawValue): name the epoch (\(choice.criterion.rawValue)@2) or give --progressive (its width epoch)")
        }
        guard epoch >= 1 && epoch < config.epochs else {
            throw UserError("--sort-channels: epoch \(epoch) is not in 1...\(config.epochs - 1) (epochs count from 0; sorting untrained weights does nothing)")
        }
        changes.set("--sort-channels", ChannelSorting(method: choice.criterion.rawValue, epoch: epoch), \.channelSorting, in: &config)
    }
    if config.channelSorting != nil && config.space.pruningNet {
        throw UserError("--sort-channels: a PruningNet supernet generates its weights; there are no stored channels to sort")
    }
    return config
}

import Datasets
import Foundation
import Layers
import Networks
import Runs
import Spaces
import TensorCore

/// Everything that defines a supernet training run (stored in `run.json`; a resume must
/// match it unless overridden).
public struct TrainConfig: Codable, Equatable, Sendable {
    public var space: SearchSpace
    public var spaceFile: String
    public var data: String
    public var validation = 10_000
    public var trainLimit = 0
    public var epochs = 10
    public var seed: UInt64 = 0
    public var recipe = Recipe()
    public var sampling = SamplingStrategy.uniform
    public var augmentation = Augmentation.none
    /// Random probe architectures scored at each epoch end (besides smallest and largest).
    public var probes = 3
    public var calibrationBatches = 20
    /// Also checkpoint every this many steps (0: only at epoch ends and on interrupt).
    public var checkpointEvery = 200
    public var keepCheckpoints = 3
    /// Set when training a standalone model (`pare finetune`): the network holds this
    /// architecture only, every step trains it, and the epoch-end probe is it, evaluated
    /// with its running statistics (no recalibration).
    public var fixedArchitecture: Architecture?
    /// Progressive shrinking (nil: every choice open from the start).
    public var progressive: ProgressiveShrinking?
    /// Soft pruning with a global mask at every epoch start (standalone models only).
    public var softPrune: SoftPruning?
    /// Channels sorted by importance once, at an epoch start (supernets).
    public var channelSorting: ChannelSorting?
    /// Quantization-aware training (standalone models): BN frozen, weights and BN outputs
    /// fake-quantized to int8 / uint8 (nil or false: off).
    public var qat: Bool?
    /// Knowledge distillation from a trained teacher model (standalone models; nil: off).
    public var teacher: TeacherDistillation?
    /// Train on the validation split too (standalone models, nil or false: off): the final
    /// model, once its settings are chosen, learns from every training image; the epoch-end
    /// scores then measure images it trains on.
    public var includeValidation: Bool?
    /// How an image folder (`--data folder:DIR`) is fitted and read (nil: the defaults).
    public var imageOptions: ImageOptions?
    /// The input normalization, fit on the training split when the run started (absent in
    /// runs from before it was stored: fit again, which gives the same values).
    public var normalization: Normalization?

    public init(space: SearchSpace, spaceFile: String, data: String) {
        self.space = space
        self.spaceFile = spaceFile
        self.data = data
    }
}

/// Once-for-All's channel sorting before elastic widths: at the start of `epoch` (from 0)
/// every channel set of the supernet is permuted by `method`'s importance, most important
/// first, so that a narrower candidate runs on the best channels rather than the first.
public struct ChannelSorting: Codable, Equatable, Sendable {
    /// l1, l2, slimming, fpgm or fpgm-weak.
    public var method: String
    public var epoch: Int
    public init(method: String, epoch: Int) { self.method = method; self.epoch = epoch }
}

/// Soft pruning's settings (stored in run.json): at every epoch start the globally least
/// important channels by `method` are zeroed and keep training — `rate` of the prunable
/// channels, or as many as it takes for the network without them to meet `target` — and at
/// the end they are removed.
public struct SoftPruning: Codable, Equatable, Sendable {
    /// A cost the pruned network must not exceed.
    public struct Target: Codable, Equatable, Sendable {
        public enum Metric: String, Codable, Sendable { case macs, parameters }
        public var metric: Metric
        public var value: Int
        public init(metric: Metric, value: Int) { self.metric = metric; self.value = value }
    }
    /// l1, l2, slimming, fpgm or fpgm-weak.
    public var method: String
    public var rate: Double
    public var nu: Double
    public var theta: Double
    public var minimumWidth: Double
    /// When set, it decides how many channels are masked, not `rate` (absent in run.json
    /// files of runs that used a rate).
    public var target: Target?
    public init(method: String, rate: Double, nu: Double, theta: Double, minimumWidth: Double, target: Target? = nil) {
        self.method = method; self.rate = rate; self.nu = nu; self.theta = theta; self.minimumWidth = minimumWidth; self.target = target
    }
}

/// One probe's validation result at an epoch end.
public struct ProbeResult: Codable, Equatable, Sendable {
    public var name: String
    public var architecture: String
    public var macs: Int
    public var parameters: Int
    public var accuracy: Double
    public var loss: Double
}

/// A resumable supernet training run: network, optimizer state, sampler, data order and
/// RNG advance together one step at a time, and all of it goes into a checkpoint, so a
/// run stopped after N steps and resumed gives bit-identical weights to one that never
/// stopped.
public final class TrainingRun {
    public let config: TrainConfig
    /// The supernet, or the subnet of `config.fixedArchitecture` (finetuning an export).
    public let network: any Network
    public let trainer: Trainer
    /// The network as a supernet (nil when training a subnet).
    public var supernet: Supernet? { network as? Supernet }
    public let sampler: ArchitectureSampler
    public let loader: BatchLoader
    public let rng: RNG
    public let totalSteps: Int
    public private(set) var epoch = 0
    private var epochOpen = false
    private let validationLoader: BatchLoader
    private let calibrationLoader: BatchLoader
    private let calibrationIndices: [Int]
    public let probeArchitectures: [(String, Architecture)]
    /// Runs before each epoch's first step (soft pruning's mask). It must be a function of
    /// the network's state alone, so that a resumed run calls it exactly where an
    /// uninterrupted one did.
    public var onEpochStart: ((TrainingRun) throws -> Void)?
    /// The moving average of the weights that validation uses (`config.recipe.averageDecay` > 0).
    public let average: WeightAverage?

    /// Data parallelism over a job's processes (nil: this process alone).
    let parallel: DataParallelStep?
    /// Whether some process of a data-parallel job was interrupted by the last step.
    public var jobInterrupted: Bool { parallel?.interrupted ?? false }
    public var isDataParallel: Bool { parallel != nil }

    /// `dataParallel`: this process's part of a data-parallel job; the global batch
    /// (`config.recipe.batchSize`) must divide among its processes.
    public init(config: TrainConfig, train: Dataset, validation: Dataset, normalization: Normalization, engine: Engine = Engine(),
                dataParallel: DataParallel? = nil, localInterrupt: @escaping () -> Bool = { false }) throws {
        self.config = config
        parallel = dataParallel.map(DataParallelStep.init)
        parallel?.localInterrupt = localInterrupt
        rng = RNG(seed: config.seed)
        if let arch = config.fixedArchitecture {
            network = Subnet(space: config.space, architecture: arch, rng: rng, engine: engine)
        } else {
            network = Supernet(space: config.space, rng: rng, engine: engine)
        }
        sampler = try ArchitectureSampler(space: config.space, strategy: config.sampling)
        loader = BatchLoader(dataset: train, batchSize: config.recipe.batchSize, normalization: normalization,
                             augmentation: config.augmentation, shuffle: true, dropLast: true)
        totalSteps = loader.batchesPerEpoch * config.epochs
        trainer = Trainer(network: network, recipe: config.recipe, totalSteps: max(totalSteps, 1), stepsPerEpoch: loader.batchesPerEpoch)
        average = config.recipe.averageDecay > 0 ? WeightAverage(network: network, decay: config.recipe.averageDecay) : nil
        if let parallel {
            precondition(config.recipe.batchSize % parallel.plan.size == 0, "batch \(config.recipe.batchSize) over \(parallel.plan.size) processes")
            trainer.synchronizeGradients = { parallel.reduce($0) }
        }
        validationLoader = CalibrationSet.validationLoader(validation, normalization: normalization)
        calibrationLoader = BatchLoader(dataset: train, batchSize: 128, normalization: normalization, shuffle: false, dropLast: false)
        // Fixed for the whole run: the same calibration images and probes at every epoch.
        let side = RNG(seed: config.seed &+ 0x9E37_79B9)
        calibrationIndices = Array(side.permutation(train.count).prefix(config.calibrationBatches * 128))
        var probes = [("smallest", config.space.smallest), ("largest", config.space.largest)]
        for i in 0..<config.probes { probes.append(("random\(i)", config.space.randomArchitecture(side))) }
        // A classic network (one candidate) is probed once, as the model it is.
        let single = config.space.isSingleArchitecture ? config.space.largest : nil
        probeArchitectures = (config.fixedArchitecture ?? single).map { [("model", $0)] } ?? probes
    }

    public var step: Int { trainer.step }
    public var finished: Bool { step >= totalSteps }

    public struct StepInfo: Sendable {
        public var step: Int
        public var epoch: Int
        public var loss: Double
        public var correct: Int
        public var batch: Int
        public var learningRate: Float
        public var architecture: Architecture
        /// The step completed an epoch.
        public var endedEpoch: Bool
    }

    /// One training step (starting a new epoch's data order when needed).
    public func trainStep() throws -> StepInfo {
        precondition(!finished, "training already finished")
        precondition(config.teacher == nil || trainer.teacher != nil, "the run distills from a teacher: attach it before training")
        if !epochOpen {
            try onEpochStart?(self)
            loader.startEpoch(rng: rng)
            epochOpen = true
        }
        guard let batch = loader.next(rng: rng) else { preconditionFailure("epoch ran out of batches early") }
        var paths = try config.fixedArchitecture.map { [$0] } ?? sampler.nextPaths(rng: rng)
        if let p = config.progressive, config.fixedArchitecture == nil {
            paths = paths.map { p.restrict($0, epoch: epoch, space: config.space, rng: rng) }
        }
        let arch = paths[0]
        let (images, labels) = parallel?.shard(batch.images, batch.labels) ?? (batch.images, batch.labels)
        let r = paths.count == 1 ? trainer.train(images: images, labels: labels, arch: arch)
            : trainer.train(images: images, labels: labels, distilling: paths)
        average?.update(afterStep: trainer.step)
        let ended = loader.position + loader.batchSize > loader.dataset.count
        let info = StepInfo(step: trainer.step, epoch: epoch + 1, loss: r.loss, correct: r.correct, batch: labels.count,
                            learningRate: r.learningRate, architecture: arch, endedEpoch: ended)
        if ended {
            epoch += 1
            epochOpen = false
        }
        return info
    }

    /// Validation accuracy of the probe architectures after BN recalibration. The
    /// supernet's running statistics are restored afterwards, so probing never changes
    /// the training state. With a weight average, the average is what gets evaluated.
    public func evaluateProbes() -> [ProbeResult] {
        average?.swap()
        defer { average?.swap() }
        let norms = network.norms
        let saved = NormStatistics(norms)
        defer { saved.restore(into: norms) }
        let evaluator = ArchitectureEvaluator(network: network)
        return probeArchitectures.map { name, arch in
            if config.fixedArchitecture == nil {
                evaluator.recalibrate(arch: arch, loader: calibrationLoader, indices: calibrationIndices)
            }
            let r = evaluator.evaluate(arch: arch, loader: validationLoader)
            let cost = config.space.cost(arch)
            return ProbeResult(name: name, architecture: arch.description, macs: cost.macs, parameters: cost.parameters,
                               accuracy: r.accuracy, loss: r.loss)
        }
    }

    // MARK: checkpoints

    /// Restores the newest checkpoint of `dir` that loads; a corrupt or truncated newer one
    /// (say, from a crash mid-write) is reported through `warn` and skipped. Returns its path.
    @discardableResult
    public func resumeFromNewest(_ dir: RunDirectory, warn: (String) -> Void) throws -> String {
        for (_, path) in dir.checkpoints() {
            do {
                try restore(from: try Data(contentsOf: URL(fileURLWithPath: path)), path: path)
                return path
            } catch {
                warn("warning: \(error); trying an older checkpoint")
            }
        }
        throw RunError.noCheckpoint(directory: dir.checkpointDirectory)
    }

    /// Whether every weight, momentum buffer and BN statistic is finite. A state that is
    /// not is never written: the newest checkpoint stays the last finite state.
    public var stateIsFinite: Bool {
        for p in network.parameters {
            for i in 0..<p.count where !p.value[i].isFinite || !p.velocity[i].isFinite { return false }
        }
        for bn in network.norms {
            for c in 0..<bn.maxChannels where !bn.runningMean[c].isFinite || !bn.runningVariance[c].isFinite { return false }
        }
        return average?.isFinite ?? true
    }

    /// The complete training state as a checkpoint file's bytes; `TrainingError.nonFinite`
    /// for a diverged state.
    public func checkpoint() throws -> Data {
        guard stateIsFinite else { throw TrainingError.nonFinite(step: step) }
        var w = PayloadWriter()
        let params = network.parameters
        for p in params {
            w.append("value:" + p.name, floats: p.value, count: p.count)
            w.append("velocity:" + p.name, floats: p.velocity, count: p.count)
        }
        for bn in network.norms {
            w.append("running_mean:" + bn.gamma.name, floats: bn.runningMean, count: bn.maxChannels)
            w.append("running_var:" + bn.gamma.name, floats: bn.runningVariance, count: bn.maxChannels)
        }
        average?.write(into: &w)
        w.append("rng", bytes: rng.state)
        w.append("loader.order", int32s: loader.order.map { Int32($0) })
        let header = CheckpointHeader(space: config.space, step: step, epoch: epoch, epochOpen: epochOpen,
                            loaderPosition: loader.position, sampler: sampler.state,
                            hasVelocity: params.map(\.hasVelocity), sections: w.sections)
        // Sorted keys: the same state gives the same bytes in every process (key order of
        // JSONEncoder otherwise follows per-process hash seeding).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return CheckpointFile.encode(header: try encoder.encode(header), payload: w.data)
    }

    /// Restores a state written by `checkpoint()`. Everything is validated before anything
    /// is changed, so a bad file leaves the run as it was.
    public func restore(from data: Data, path: String) throws {
        let (header, reader) = try CheckpointHeader.open(data, path: path, space: config.space)
        let params = network.parameters
        guard header.hasVelocity.count == params.count, header.step <= totalSteps else {
            throw RunError.badCheckpoint(path: path, reason: "state for another network or schedule (step \(header.step) of \(totalSteps))")
        }
        // The epoch is implied by the step: a finished epoch ends at a multiple of the epoch's
        // batches, an open one lies strictly inside. Otherwise a resume would train nothing
        // (epoch past the end) or the wrong schedule, silently.
        let perEpoch = loader.batchesPerEpoch
        let epochFits = header.epoch >= 0 && header.epoch <= config.epochs && (header.epochOpen
            ? header.epoch * perEpoch < header.step && header.step < (header.epoch + 1) * perEpoch
            : header.step == header.epoch * perEpoch)
        guard epochFits else {
            throw RunError.badCheckpoint(path: path, reason: "epoch \(header.epoch)\(header.epochOpen ? " (open)" : "") disagrees with step \(header.step) at \(perEpoch) steps per epoch")
        }
        let order = try reader.int32s("loader.order").map(Int.init)
        guard order.count == loader.dataset.count, Set(order).count == order.count, order.allSatisfy({ $0 >= 0 && $0 < order.count }),
              header.loaderPosition >= 0, header.loaderPosition <= order.count else {
            throw RunError.badCheckpoint(path: path, reason: "data order for \(order.count) images, the training set has \(loader.dataset.count)")
        }
        let rngState = try reader.bytes("rng")
        // Validate every tensor's presence and size first (no partial load).
        try reader.checkWeights(of: network, path: path)
        for p in params {
            try reader.section("velocity:" + p.name, bytes: p.count * 4)
            guard try reader.allFinite("velocity:" + p.name) else {
                throw RunError.badCheckpoint(path: path, reason: "tensor velocity:\(p.name) holds non-finite values (a diverged state)")
            }
        }
        try average?.check(reader, path: path)
        let probe = RNG(seed: 0)
        do { try probe.restore(rngState) } catch {
            throw RunError.badCheckpoint(path: path, reason: "RNG state of \(rngState.count) bytes")
        }
        // Commit.
        try reader.readWeights(into: network)
        for (p, hv) in zip(params, header.hasVelocity) {
            try reader.readFloats("velocity:" + p.name, into: p.velocity, count: p.count)
            p.hasVelocity = hv
        }
        try average?.read(reader)
        try rng.restore(rngState)
        loader.restore(order: order, position: header.loaderPosition)
        sampler.restore(header.sampler)
        trainer.resume(at: header.step)
        epoch = header.epoch
        epochOpen = header.epochOpen
    }
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case nonFinite(step: Int)
    public var description: String {
        switch self {
        case let .nonFinite(step): return "training diverged: weights or statistics are not finite at step \(step)"
        }
    }
}

import Datasets
import Networks
import Search
import Spaces
import TensorCore
import Training

extension RNG: SearchRandom {}

/// Scores candidates with weights inherited from the supernet: optionally a few SGD steps
/// on the candidate alone (on a standalone copy; the supernet is never changed), then BN
/// statistics recalibrated for the candidate (cumulative average over fixed training
/// batches), then accuracy on one fixed validation subset, the same for every candidate.
/// A score depends on the architecture only, never on what was scored before it.
public final class InheritedWeightScorer: CandidateEvaluator {
    public let settings: ScoringSettings
    let network: Supernet
    let recipe: Recipe
    let calibrationLoader: BatchLoader
    let calibrationIndices: [Int]
    let validationLoader: BatchLoader
    let finetuneLoader: BatchLoader
    let finetuneSeed: UInt64

    public var scoring: ScoringSettings? { settings }

    public init(network: Supernet, train: Dataset, validation: Dataset, normalization: Normalization,
                calibration: CalibrationSet,
                finetuneSteps: Int = 0, finetuneLearningRate: Float = 0.01,
                recipe: Recipe = Recipe(), augmentation: Augmentation = .none) {
        precondition(finetuneSteps >= 0 && finetuneLearningRate > 0, "finetune steps \(finetuneSteps), lr \(finetuneLearningRate)")
        self.network = network
        var r = recipe
        r.learningRate = finetuneLearningRate
        self.recipe = r
        settings = ScoringSettings(calibrationImages: min(calibration.images, train.count), validationImages: validation.count,
                                   finetuneSteps: finetuneSteps, finetuneLearningRate: finetuneLearningRate)
        calibrationLoader = CalibrationSet.loader(train, normalization: normalization)
        calibrationIndices = calibration.indices(count: train.count)
        validationLoader = CalibrationSet.validationLoader(validation, normalization: normalization)
        finetuneLoader = BatchLoader(dataset: train, batchSize: recipe.batchSize, normalization: normalization,
                                     augmentation: augmentation, shuffle: true, dropLast: true)
        finetuneSeed = calibration.seed &+ 0xF1E7
    }

    public func score(_ arch: Architecture) throws -> Double {
        validationAccuracy(try recalibrated(arch), arch)
    }

    /// The score of `arch` and the BN statistics it was scored with, by the scored network's
    /// tensor names (the supernet's unless `finetuneSteps`): what an export extracts with.
    public func scoreWithStatistics(_ arch: Architecture) throws -> (score: Double, statistics: NormStatistics) {
        let model = try recalibrated(arch)
        return (validationAccuracy(model, arch), NormStatistics(model.norms))
    }

    /// The network whose accuracy is the score, with BN recalibrated for `arch` (the
    /// statistics `pare export` keeps): the supernet itself, or a subnet copy of the
    /// candidate's weights after `finetuneSteps` steps on the same batches as every other
    /// candidate.
    public func recalibrated(_ arch: Architecture) throws -> any Network {
        let model = try scoredNetwork(arch)
        ArchitectureEvaluator(network: model).recalibrate(arch: arch, loader: calibrationLoader, indices: calibrationIndices)
        return model
    }

    /// Accuracy of `arch` on the scoring validation images, BN statistics as they are.
    public func validationAccuracy(_ model: any Network, _ arch: Architecture) -> Double {
        ArchitectureEvaluator(network: model).evaluate(arch: arch, loader: validationLoader).accuracy
    }

    /// The network scored before BN recalibration (see `recalibrated`).
    public func scoredNetwork(_ arch: Architecture) throws -> any Network {
        guard settings.finetuneSteps > 0 else { return network }
        guard finetuneLoader.batchesPerEpoch > 0 else { throw ScoringError.tooFewImages(finetuneLoader.dataset.count, batch: recipe.batchSize) }
        let model = try network.extract(arch)
        let trainer = Trainer(network: model, recipe: recipe, totalSteps: settings.finetuneSteps)
        if let step = trainer.train(steps: settings.finetuneSteps, arch: arch, loader: finetuneLoader, rng: RNG(seed: finetuneSeed)) {
            throw ScoringError.diverged(arch: arch.description, step: step)
        }
        return model
    }
}

public enum ScoringError: Error, CustomStringConvertible {
    case diverged(arch: String, step: Int)
    case tooFewImages(Int, batch: Int)
    public var description: String {
        switch self {
        case let .diverged(arch, step): return "finetuning \(arch) before scoring diverged at step \(step) (non-finite loss); lower --finetune-lr"
        case let .tooFewImages(n, batch): return "finetuning before scoring needs at least one batch of \(batch) training images; the split has \(n)"
        }
    }
}

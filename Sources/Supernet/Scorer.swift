import Data
import Search
import SearchSpace
import TensorCore

extension RNG: SearchRandom {}

/// Scores candidates with weights inherited from the supernet: BN statistics recalibrated
/// for the candidate (cumulative average over fixed training batches), then accuracy on
/// one fixed validation subset, the same for every candidate.
public final class InheritedWeightScorer: CandidateEvaluator {
    let evaluator: ArchitectureEvaluator
    let calibrationLoader: BatchLoader
    let calibrationIndices: [Int]
    let validationLoader: BatchLoader

    public init(network: Supernet, train: Dataset, validation: Dataset, normalization: Normalization,
                calibrationImages: Int, seed: UInt64) {
        evaluator = ArchitectureEvaluator(network: network)
        calibrationLoader = BatchLoader(dataset: train, batchSize: 128, normalization: normalization, shuffle: false, dropLast: false)
        calibrationIndices = Array(RNG(seed: seed &+ 0x5EA4C4).permutation(train.count).prefix(calibrationImages))
        validationLoader = BatchLoader(dataset: validation, batchSize: 500, normalization: normalization, shuffle: false, dropLast: false)
    }

    public func score(_ arch: Architecture) throws -> Double {
        evaluator.recalibrate(arch: arch, loader: calibrationLoader, indices: calibrationIndices)
        return evaluator.evaluate(arch: arch, loader: validationLoader).accuracy
    }
}

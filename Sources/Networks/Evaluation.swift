import Datasets
import Layers
import Spaces
import TensorCore

/// Accuracy and loss of one candidate on a dataset, and BN recalibration from training data.
public struct ArchitectureEvaluator {
    public let network: any Network
    public init(network: any Network) { self.network = network }

    public struct Result: Sendable, Equatable {
        public var accuracy: Double
        public var loss: Double
        public var count: Int
    }

    /// Inference over every record of `loader` (in order, last partial batch included).
    public func evaluate(arch: Architecture, loader: BatchLoader) -> Result {
        let ce = SoftmaxCrossEntropy(labelSmoothing: 0)
        let n = loader.dataset.count
        var correct = 0, lossSum = 0.0
        var start = 0
        while start < n {
            let idx = Array(start..<min(n, start + loader.batchSize))
            let x = loader.fill(indices: idx, rng: nil)
            let logits = network.forward(x, arch: arch, mode: .inference)
            let r = loader.labels.withUnsafeBufferPointer { ce.evaluate(logits: logits, labels: $0, gradient: false) }
            correct += r.correct
            lossSum += r.loss * Double(idx.count)
            start += idx.count
        }
        return Result(accuracy: Double(correct) / Double(max(n, 1)), loss: lossSum / Double(max(n, 1)), count: n)
    }

    /// BN recalibration for `arch`: cumulative batch statistics over the records `indices`
    /// of `loader`'s dataset (no augmentation), in batches of the loader's size; the same
    /// records for every candidate.
    public func recalibrate(arch: Architecture, loader: BatchLoader, indices: [Int]) {
        for bn in network.norms { bn.resetRunningStatistics() }
        var start = 0
        while start < indices.count {
            let chunk = Array(indices[start..<min(indices.count, start + loader.batchSize)])
            let x = loader.fill(indices: chunk, rng: nil)
            _ = network.forward(x, arch: arch, mode: .calibrating)
            start += chunk.count
        }
    }
}

/// The training images BN recalibration reads: the same records, in the same batches, for
/// every candidate of a search, the exported winner and a pruned network, so that
/// "exported accuracy == search score" holds by construction rather than by repeated literals.
public struct CalibrationSet: Sendable, Equatable {
    /// 20 batches of 128: what every command recalibrates with unless told otherwise.
    public static let defaultImages = 2560
    public static let batchSize = 128
    /// Batch of validation passes (inference only: larger batches, fewer calls).
    public static let validationBatchSize = 500

    public var images: Int
    public var seed: UInt64
    public init(images: Int = CalibrationSet.defaultImages, seed: UInt64 = 0) {
        self.images = images
        self.seed = seed
    }

    /// The records of a training set of `count` images that are read: a seeded permutation's
    /// first `images` (all of them when fewer).
    public func indices(count: Int) -> [Int] {
        Array(RNG(seed: seed &+ 0x5EA4C4).permutation(count).prefix(images))
    }

    /// The loader the calibration passes read `train` through (no augmentation, in order).
    public static func loader(_ train: Dataset, normalization: Normalization) -> BatchLoader {
        BatchLoader(dataset: train, batchSize: batchSize, normalization: normalization, shuffle: false, dropLast: false)
    }

    /// The loader of validation passes over `validation` (in order, last partial batch included).
    public static func validationLoader(_ validation: Dataset, normalization: Normalization) -> BatchLoader {
        BatchLoader(dataset: validation, batchSize: validationBatchSize, normalization: normalization, shuffle: false, dropLast: false)
    }
}

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

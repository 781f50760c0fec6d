import Data
import Layers
import TensorCore

/// Accuracy and loss of one path on a dataset, and BN recalibration from training data.
public struct PathEvaluator {
    public let network: ReferenceSupernet
    public init(network: ReferenceSupernet) { self.network = network }

    public struct Result: Sendable, Equatable {
        public var accuracy: Double
        public var loss: Double
        public var count: Int
    }

    /// Inference over every record of `loader` (in order, last partial batch included).
    public func evaluate(path: Path, loader: BatchLoader) -> Result {
        let ce = SoftmaxCrossEntropy(labelSmoothing: 0)
        let n = loader.dataset.count
        var correct = 0, lossSum = 0.0
        var start = 0
        while start < n {
            let idx = Array(start..<min(n, start + loader.batchSize))
            let x = loader.fill(indices: idx, rng: nil)
            let logits = network.forward(x, path: path, mode: .inference)
            let r = loader.labels.withUnsafeBufferPointer { ce.evaluate(logits: logits, labels: $0, gradient: false) }
            correct += r.correct
            lossSum += r.loss * Double(idx.count)
            start += idx.count
        }
        return Result(accuracy: Double(correct) / Double(max(n, 1)), loss: lossSum / Double(max(n, 1)), count: n)
    }

    /// BN recalibration for `path` on `batches` fixed training batches of `loader`'s size,
    /// drawn without augmentation from the records `indices` (the same for every path).
    public func recalibrate(path: Path, loader: BatchLoader, indices: [Int]) {
        for bn in network.norms { bn.resetRunningStatistics() }
        var start = 0
        while start < indices.count {
            let chunk = Array(indices[start..<min(indices.count, start + loader.batchSize)])
            let x = loader.fill(indices: chunk, rng: nil)
            _ = network.forward(x, path: path, mode: .calibrating)
            start += chunk.count
        }
    }
}

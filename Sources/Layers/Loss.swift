import Foundation
import TensorCore

/// Softmax cross-entropy with label smoothing on logits [K, 1, 1, N]:
/// target q = (1 - eps) * onehot + eps / K, loss = mean_n (-sum_k q_k log softmax_k).
/// Computed in Double per sample (log-sum-exp with the max subtracted).
public final class SoftmaxCrossEntropy {
    public let labelSmoothing: Float
    private let gradBuffer = ScratchBuffer()

    public init(labelSmoothing: Float = 0) {
        precondition(labelSmoothing >= 0 && labelSmoothing < 1, "label smoothing \(labelSmoothing) outside [0, 1)")
        self.labelSmoothing = labelSmoothing
    }

    public struct Result {
        /// Mean loss over the batch.
        public var loss: Double
        /// Samples whose arg-max logit is the label.
        public var correct: Int
        /// d(loss)/d(logits), [K, 1, 1, N]; nil unless requested. It lives in this loss
        /// object's buffer: valid while the object lives and until its next `evaluate`.
        public var gradient: FeatureMap?

        public init(loss: Double, correct: Int, gradient: FeatureMap?) {
            self.loss = loss
            self.correct = correct
            self.gradient = gradient
        }
    }

    public func evaluate(logits z: FeatureMap, labels: UnsafeBufferPointer<Int32>, gradient: Bool) -> Result {
        let k = z.channels, n = z.batch
        precondition(z.height == 1 && z.width == 1 && labels.count == n,
                     "cross-entropy: logits \(z.shapeDescription), \(labels.count) labels")
        let g = gradient ? gradBuffer.featureMap(channels: k, height: 1, width: 1, batch: n) : nil
        let eps = Double(labelSmoothing)
        var total = 0.0
        var correct = 0
        for j in 0..<n {
            let label = Int(labels[j])
            precondition(label >= 0 && label < k, "label \(label) outside 0..<\(k)")
            let (loss, arg) = sample(z, j, gradient: g) { c in (c == label ? 1 - eps : 0) + eps / Double(k) }
            if arg == label { correct += 1 }
            total += loss
        }
        return Result(loss: total / Double(n), correct: correct, gradient: g)
    }

    /// Cross-entropy against soft targets `t` [K, 1, 1, N] (each column a distribution, e.g. a
    /// teacher's softmax): loss = mean_n (-sum_k t_k log softmax_k), gradient (softmax - t) / N.
    /// No label smoothing (the targets are already soft). `correct` counts samples whose
    /// arg-max agrees with the target's.
    public func evaluate(logits z: FeatureMap, targets t: UnsafePointer<Float>, gradient: Bool) -> Result {
        let k = z.channels, n = z.batch
        precondition(z.height == 1 && z.width == 1, "cross-entropy: logits \(z.shapeDescription)")
        let g = gradient ? gradBuffer.featureMap(channels: k, height: 1, width: 1, batch: n) : nil
        var total = 0.0
        var correct = 0
        for j in 0..<n {
            var bestT = -Float.infinity, argT = 0
            for c in 0..<k where t[c * n + j] > bestT { bestT = t[c * n + j]; argT = c }
            let (loss, arg) = sample(z, j, gradient: g) { c in Double(t[c * n + j]) }
            if arg == argT { correct += 1 }
            total += loss
        }
        return Result(loss: total / Double(n), correct: correct, gradient: g)
    }

    /// Sample j's loss -sum_c q_c log softmax_c (log-sum-exp with the max subtracted, in
    /// Double) and its arg-max logit; writes (softmax - q) / N into `g` when given.
    private func sample(_ z: FeatureMap, _ j: Int, gradient g: FeatureMap?, target q: (Int) -> Double) -> (Double, Int) {
        let k = z.channels, n = z.batch
        var best = -Float.infinity, arg = 0
        for c in 0..<k where z.pointer[c * n + j] > best { best = z.pointer[c * n + j]; arg = c }
        var sumExp = 0.0
        for c in 0..<k { sumExp += Foundation.exp(Double(z.pointer[c * n + j] - best)) }
        let logSum = Foundation.log(sumExp) + Double(best)
        var loss = 0.0
        for c in 0..<k {
            let qc = q(c), logp = Double(z.pointer[c * n + j]) - logSum
            loss -= qc * logp
            if let g { g.pointer[c * n + j] = Float((Foundation.exp(logp) - qc) / Double(n)) }
        }
        return (loss, arg)
    }

    /// Softmax of logits [K, 1, 1, N] per sample, in the same layout (soft targets).
    public static func softmax(_ z: FeatureMap) -> [Float] {
        let k = z.channels, n = z.batch
        var out = [Float](repeating: 0, count: k * n)
        for j in 0..<n {
            var best = -Float.infinity
            for c in 0..<k { best = max(best, z.pointer[c * n + j]) }
            var sum = 0.0
            for c in 0..<k { sum += Foundation.exp(Double(z.pointer[c * n + j] - best)) }
            for c in 0..<k { out[c * n + j] = Float(Foundation.exp(Double(z.pointer[c * n + j] - best)) / sum) }
        }
        return out
    }
}

import Foundation
import TensorCore

/// Knowledge distillation from a fixed teacher (Hinton et al. 2015) on logits [K, 1, 1, N]:
///   loss = (1 - alpha) * CE(q, softmax(z)) + alpha * T^2 * KL(softmax(t / T) || softmax(z / T)),
/// q the labels with label smoothing, z the student's logits, t the teacher's (no gradient).
/// KL rather than cross-entropy: the same gradient, and a loss that reads 0 when the student
/// matches the teacher instead of carrying T^2 times the teacher's entropy.
/// The T^2 keeps the soft term's gradient, alpha * T * (softmax(z/T) - softmax(t/T)) / N,
/// on the scale of the hard term's as T grows. Computed in Double per sample.
public final class DistillationLoss {
    /// Weight of the teacher's term, in [0, 1] (0: plain cross-entropy on the labels).
    public let alpha: Float
    /// Softmax temperature of both distributions in the teacher's term (> 0).
    public let temperature: Float
    public let labelSmoothing: Float
    private let gradBuffer = ScratchBuffer()

    public init(alpha: Float, temperature: Float, labelSmoothing: Float = 0) {
        precondition((0...1).contains(alpha), "distillation weight \(alpha) outside [0, 1]")
        precondition(temperature > 0 && temperature.isFinite, "temperature \(temperature) must be positive")
        precondition(labelSmoothing >= 0 && labelSmoothing < 1, "label smoothing \(labelSmoothing) outside [0, 1)")
        self.alpha = alpha
        self.temperature = temperature
        self.labelSmoothing = labelSmoothing
    }

    /// `correct` counts samples whose arg-max logit is the label. The gradient lives in this
    /// object's buffer: valid while the object lives and until its next `evaluate`.
    public func evaluate(logits z: FeatureMap, labels: UnsafeBufferPointer<Int32>, teacher t: FeatureMap,
                         gradient: Bool) -> SoftmaxCrossEntropy.Result {
        let k = z.channels, n = z.batch
        precondition(z.height == 1 && z.width == 1 && labels.count == n, "distillation: logits \(z.shapeDescription), \(labels.count) labels")
        precondition(t.channels == k && t.batch == n && t.height == 1 && t.width == 1,
                     "distillation: teacher logits \(t.shapeDescription), student \(z.shapeDescription)")
        let g = gradient ? gradBuffer.featureMap(channels: k, height: 1, width: 1, batch: n) : nil
        let a = Double(alpha), temp = Double(temperature), eps = Double(labelSmoothing)
        var total = 0.0
        var correct = 0
        var logP = [Double](repeating: 0, count: k), logPT = logP, logQT = logP
        for j in 0..<n {
            let label = Int(labels[j])
            precondition(label >= 0 && label < k, "label \(label) outside 0..<\(k)")
            var arg = 0
            for c in 1..<k where z.pointer[c * n + j] > z.pointer[arg * n + j] { arg = c }
            if arg == label { correct += 1 }
            Self.logSoftmax(z, j, scale: 1, into: &logP)
            Self.logSoftmax(z, j, scale: 1 / temp, into: &logPT)
            Self.logSoftmax(t, j, scale: 1 / temp, into: &logQT)
            var hard = 0.0, soft = 0.0
            for c in 0..<k {
                let q = (c == label ? 1 - eps : 0) + eps / Double(k), qT = Foundation.exp(logQT[c])
                hard -= q * logP[c]
                if qT > 0 { soft += qT * (logQT[c] - logPT[c]) }
                if let g {
                    let d = (1 - a) * (Foundation.exp(logP[c]) - q) + a * temp * (Foundation.exp(logPT[c]) - qT)
                    g.pointer[c * n + j] = Float(d / Double(n))
                }
            }
            total += (1 - a) * hard + a * temp * temp * soft
        }
        return SoftmaxCrossEntropy.Result(loss: total / Double(n), correct: correct, gradient: g)
    }

    /// log softmax(scale * x[:, j]) into `out` (log-sum-exp with the max subtracted, in Double).
    private static func logSoftmax(_ x: FeatureMap, _ j: Int, scale: Double, into out: inout [Double]) {
        let k = x.channels, n = x.batch
        var best = -Double.infinity
        for c in 0..<k { best = max(best, scale * Double(x.pointer[c * n + j])) }
        var sum = 0.0
        for c in 0..<k { sum += Foundation.exp(scale * Double(x.pointer[c * n + j]) - best) }
        let logSum = Foundation.log(sum) + best
        for c in 0..<k { out[c] = scale * Double(x.pointer[c * n + j]) - logSum }
    }
}

import Foundation
import TensorCore

/// SGD with momentum (optionally Nesterov) and weight decay on decaying parameters only,
/// with PyTorch's update rule:
///   g = grad + wd * w;  v = mu * v + g (v = g on the first step);  d = nesterov ? g + mu * v : v;
///   w -= lr * d.
///
/// Inactive slices: only parameters touched by this step's backward are updated (a
/// candidate operator not on the sampled path keeps its weights and momentum frozen). A
/// touched parameter is updated over its whole allocated tensor: the channels outside the
/// active slice have zero gradient but still receive momentum and weight decay, exactly as
/// PyTorch does for a sliced tensor. Gradients are zeroed after the step.
public struct SGD: Codable, Equatable, Sendable {
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float

    public init(momentum: Float = 0.9, nesterov: Bool = true, weightDecay: Float = 4e-5) {
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public func step(_ parameters: [Parameter], learningRate lr: Float, engine: Engine) {
        let work = parameters.filter(\.touched)
        let total = work.reduce(0) { $0 + $1.count }
        // Coarse split: the parameters are many and small, so hand each thread whole tensors.
        engine.chunks(work.count, work: total, minWork: 1 << 16) { range in
            for i in range { update(work[i], lr: lr) }
        }
    }

    private func update(_ p: Parameter, lr: Float) {
        let wd = p.decays ? weightDecay : 0
        let mu = momentum
        let w = p.value, g = p.grad, v = p.velocity
        let first = !p.hasVelocity
        for i in 0..<p.count {
            let gi = g[i] + wd * w[i]
            let vi = (first || mu == 0) ? gi : mu * v[i] + gi
            v[i] = vi
            let d = nesterov ? gi + mu * vi : vi
            w[i] -= lr * d
            g[i] = 0
        }
        p.hasVelocity = true
        p.touched = false
    }
}

/// Learning-rate schedule as a value: base rate, shape, optional linear warm-up.
public struct LRSchedule: Codable, Equatable, Sendable {
    public enum Shape: Codable, Equatable, Sendable {
        /// lr_t = base * 0.5 * (1 + cos(pi * t / T)) (per step, to 0 at T).
        case cosine
        /// lr_t = base * (1 - t / T).
        case linear
        /// lr_t = base * gamma ^ floor(t / every).
        case step(every: Int, gamma: Float)
        case constant
    }

    public var base: Float
    public var shape: Shape
    public var totalSteps: Int
    /// Steps of linear ramp from base/warmupSteps to base, before the shape applies.
    public var warmupSteps: Int

    public init(base: Float, shape: Shape, totalSteps: Int, warmupSteps: Int = 0) {
        precondition(totalSteps > 0 && warmupSteps >= 0, "schedule: total \(totalSteps), warm-up \(warmupSteps)")
        self.base = base
        self.shape = shape
        self.totalSteps = totalSteps
        self.warmupSteps = warmupSteps
    }

    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return base * Float(step + 1) / Float(warmupSteps) }
        let t = Double(step), total = Double(totalSteps)
        switch shape {
        case .cosine: return Float(Double(base) * 0.5 * (1 + cos(Double.pi * min(t, total) / total)))
        case .linear: return base * Float(max(0, 1 - t / total))
        case let .step(every, gamma): return base * Float(pow(Double(gamma), Double(step / max(every, 1))))
        case .constant: return base
        }
    }
}

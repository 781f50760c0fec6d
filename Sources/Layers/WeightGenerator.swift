import Foundation
import TensorCore

/// MetaPruning's PruningNet generator for one layer: a small fully connected network
/// maps the architecture's encoding around the layer (a few numbers, e.g. its block's
/// input / middle / output widths as fractions of their maxima) to the layer's whole
/// weight tensor, which the layer then runs on its leading slice as usual:
///     h = relu(W1 e + b1),   weight = W2 h + b2.
/// The layer's weight is then derived state: `backward` turns the gradient the layer
/// accumulated into gradients of W1, b1, W2, b2 and clears it, so the optimizer trains
/// the generator, not the weight.
public final class WeightGenerator: ParameterContainer {
    public let target: Parameter
    public let inputs: Int
    public let hidden: Int
    public let fc1Weight: Parameter
    public let fc1Bias: Parameter
    public let fc2Weight: Parameter
    public let fc2Bias: Parameter
    public let engine: Engine
    private var encoding: [Float] = []
    private var preActivation: [Float]
    private var activation: [Float]

    /// Starts generating the target's current values (its initialisation) through `b2`,
    /// with a small encoding-dependent part: `W2` ~ N(0, (spread * std(target))^2 / hidden).
    public init(for target: Parameter, inputs: Int, hidden: Int = 32, spread: Double = 0.1, rng: RNG, engine: Engine = Engine()) {
        precondition(inputs > 0 && hidden > 0, "generator of \(target.name): inputs \(inputs), hidden \(hidden)")
        self.target = target
        target.generated = true
        self.inputs = inputs
        self.hidden = hidden
        self.engine = engine
        let name = target.name.hasSuffix(".weight") ? String(target.name.dropLast(".weight".count)) : target.name
        fc1Weight = Parameter(name: name + ".generator.fc1.weight", shape: [hidden, inputs], decays: true)
        fc1Bias = Parameter(name: name + ".generator.fc1.bias", shape: [hidden], decays: false)
        fc2Weight = Parameter(name: name + ".generator.fc2.weight", shape: [target.count, hidden], decays: true)
        fc2Bias = Parameter(name: name + ".generator.fc2.bias", shape: [target.count], decays: false)
        preActivation = [Float](repeating: 0, count: hidden)
        activation = preActivation
        fc1Weight.initializeNormal(std: 1, rng: rng)
        // A positive bias keeps most hidden units active for every encoding at the start.
        fc1Bias.value.update(repeating: 0.5, count: hidden)
        var sum = 0.0, squares = 0.0
        for i in 0..<target.count { sum += Double(target.value[i]); squares += Double(target.value[i] * target.value[i]) }
        let std = (max(squares / Double(target.count) - (sum / Double(target.count)) * (sum / Double(target.count)), 1e-12)).squareRoot()
        fc2Weight.initializeNormal(std: spread * std / Double(hidden).squareRoot(), rng: rng)
        fc2Bias.value.update(from: target.value, count: target.count)
    }

    public var parameters: [Parameter] { [fc1Weight, fc1Bias, fc2Weight, fc2Bias] }

    /// Writes the weight for `encoding` into the target.
    public func generate(_ encoding: [Float]) {
        precondition(encoding.count == inputs, "generator of \(target.name): encoding of \(encoding.count), expected \(inputs)")
        self.encoding = encoding
        for j in 0..<hidden {
            var s = fc1Bias.value[j]
            for i in 0..<inputs { s += fc1Weight.value[j * inputs + i] * encoding[i] }
            preActivation[j] = s
            activation[j] = max(s, 0)
        }
        target.value.update(from: fc2Bias.value, count: target.count)
        activation.withUnsafeBufferPointer { h in
            GEMM.multiply(m: target.count, n: 1, k: hidden, a: fc2Weight.value, lda: hidden, b: h.baseAddress!, ldb: 1,
                          beta: 1, c: target.value, ldc: 1, engine: engine)
        }
    }

    /// Backward of the last `generate`: the target's accumulated gradient flows into the
    /// generator's parameters; the target's gradient is cleared (it is not trained itself).
    public func backward() {
        guard target.touched else { return }
        let g = target.grad, count = target.count
        for i in 0..<count { fc2Bias.grad[i] += g[i] }
        // dW2 += g h^T (a rank-1 update), dh = W2^T g
        activation.withUnsafeBufferPointer { h in
            GEMM.multiply(m: count, n: hidden, k: 1, a: g, lda: 1, b: h.baseAddress!, ldb: hidden,
                          beta: 1, c: fc2Weight.grad, ldc: hidden, engine: engine)
        }
        var dh = [Float](repeating: 0, count: hidden)
        dh.withUnsafeMutableBufferPointer { d in
            GEMM.multiply(transA: true, m: hidden, n: 1, k: count, a: fc2Weight.value, lda: hidden, b: g, ldb: 1,
                          beta: 0, c: d.baseAddress!, ldc: 1, engine: engine)
        }
        for j in 0..<hidden where preActivation[j] > 0 {
            fc1Bias.grad[j] += dh[j]
            for i in 0..<inputs { fc1Weight.grad[j * inputs + i] += dh[j] * encoding[i] }
        }
        for p in parameters { p.touched = true }
        target.zeroGradient()
    }
}

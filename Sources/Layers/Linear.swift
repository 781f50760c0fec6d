import TensorCore

/// Fully connected layer with bias on [C, 1, 1, N] maps (a C x N matrix):
/// Y[out, n] = sum_i W[out, i] X[i, n] + b[out]. W is [maxOut, maxIn]; runs on the first
/// `input.channels` inputs and the first `outputFeatures` outputs.
public final class Linear: ParameterContainer {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    public let maxInputFeatures: Int
    public let maxOutputFeatures: Int
    public let weight: Parameter
    public let bias: Parameter

    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var savedInput: FeatureMap?

    public init(name: String, inputFeatures: Int, outputFeatures: Int, engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
        gradInputBuffer = scratch.gradientBuffer()
        precondition(inputFeatures > 0 && outputFeatures > 0, "linear \(name): \(inputFeatures)->\(outputFeatures)")
        maxInputFeatures = inputFeatures
        maxOutputFeatures = outputFeatures
        weight = Parameter(name: name + ".weight", shape: [outputFeatures, inputFeatures], decays: true)
        bias = Parameter(name: name + ".bias", shape: [outputFeatures], decays: false)
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func forward(_ x: FeatureMap, outputFeatures: Int? = nil, mode: Mode) -> FeatureMap {
        let out = outputFeatures ?? maxOutputFeatures
        precondition(x.height == 1 && x.width == 1 && x.channels <= maxInputFeatures && out <= maxOutputFeatures,
                     "\(weight.name): input \(x.shapeDescription), max in \(maxInputFeatures), out \(out) of \(maxOutputFeatures)")
        let n = x.batch
        let y = output.featureMap(channels: out, height: 1, width: 1, batch: n)
        for o in 0..<out { (y.pointer + o * n).update(repeating: bias.value[o], count: n) }
        GEMM.multiply(m: out, n: n, k: x.channels, a: weight.value, lda: maxInputFeatures,
                      b: x.pointer, ldb: n, beta: 1, c: y.pointer, ldc: n, engine: engine)
        engine.countMACs(out * x.channels * n)
        savedInput = mode == .training ? x : nil
        return y
    }

    @discardableResult
    public func backward(_ dy: FeatureMap, inputGradient: Bool = true) -> FeatureMap? {
        guard let x = savedInput else { preconditionFailure("\(weight.name): backward without a training forward") }
        let n = x.batch
        GEMM.multiply(transB: true, m: dy.channels, n: x.channels, k: n, a: dy.pointer, lda: n,
                      b: x.pointer, ldb: n, beta: 1, c: weight.grad, ldc: maxInputFeatures, engine: engine)
        for o in 0..<dy.channels {
            var s: Float = 0
            let g = dy.pointer + o * n
            for j in 0..<n { s += g[j] }
            bias.grad[o] += s
        }
        weight.touched = true
        bias.touched = true
        guard inputGradient else { return nil }
        let dx = gradInputBuffer.featureMap(channels: x.channels, height: 1, width: 1, batch: n)
        GEMM.multiply(transA: true, m: x.channels, n: n, k: dy.channels, a: weight.value, lda: maxInputFeatures,
                      b: dy.pointer, ldb: n, beta: 0, c: dx.pointer, ldc: n, engine: engine)
        return dx
    }
}

import TensorCore

/// Batch normalisation over the first `input.channels` of `maxChannels`, optionally
/// followed by a fused ReLU (one pass instead of two, and the backward reads the mask
/// from the output). PyTorch conventions: eps 1e-5, momentum 0.1,
/// running = (1 - m) * running + m * batch statistic, the running variance takes the
/// unbiased batch variance, the normalisation the biased one. Running statistics are
/// updated only in the active slice.
public final class BatchNorm: ParameterContainer {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    public let maxChannels: Int
    public let epsilon: Float
    public let momentum: Float
    public let fusedReLU: Bool
    public let gamma: Parameter
    public let beta: Parameter
    public let runningMean: UnsafeMutablePointer<Float>
    public let runningVariance: UnsafeMutablePointer<Float>
    /// Batches averaged since the last reset, in `.calibrating` mode.
    public private(set) var calibrationBatches = 0

    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    // Internal, not private: BatchNormSynchronized.swift writes them too.
    let batchMean: UnsafeMutablePointer<Float>
    let batchInvStd: UnsafeMutablePointer<Float>
    private let foldScale: UnsafeMutablePointer<Float>
    private let foldShift: UnsafeMutablePointer<Float>
    private var savedInput: FeatureMap?
    private var savedOutput: FeatureMap?
    /// Values per channel in the last synchronized forward's global batch.
    var synchronizedCount: Float = 0

    /// Quantization-aware training: in `.training`, the running statistics normalize (the BN
    /// is frozen, as the folded int8 model computes it) and nothing updates them.
    public var frozen = false
    /// With `frozen`, the training output rounded onto this grid (fake quantization).
    public var fakeQuantization: FakeQuantization?
    /// With `frozen`, the smallest and largest training output seen since reset (calibrating
    /// the fake quantization's grid); nil when not observing.
    public var observedRange: (minimum: Float, maximum: Float)?
    private let quantizedOutput = ScratchBuffer()
    private var savedFrozen = false

    public init(name: String, channels: Int, relu: Bool = false, epsilon: Float = 1e-5, momentum: Float = 0.1, engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
        gradInputBuffer = scratch.gradientBuffer()
        precondition(channels > 0, "batch norm \(name): channels \(channels)")
        maxChannels = channels
        self.epsilon = epsilon
        self.momentum = momentum
        fusedReLU = relu
        gamma = Parameter(name: name + ".weight", shape: [channels], decays: false, initialValue: 1)
        beta = Parameter(name: name + ".bias", shape: [channels], decays: false, initialValue: 0)
        runningMean = .allocate(capacity: channels); runningMean.initialize(repeating: 0, count: channels)
        runningVariance = .allocate(capacity: channels); runningVariance.initialize(repeating: 1, count: channels)
        batchMean = .allocate(capacity: channels); batchMean.initialize(repeating: 0, count: channels)
        batchInvStd = .allocate(capacity: channels); batchInvStd.initialize(repeating: 0, count: channels)
        foldScale = .allocate(capacity: channels); foldScale.initialize(repeating: 1, count: channels)
        foldShift = .allocate(capacity: channels); foldShift.initialize(repeating: 0, count: channels)
    }

    deinit {
        runningMean.deallocate(); runningVariance.deallocate(); batchMean.deallocate(); batchInvStd.deallocate()
        foldScale.deallocate(); foldShift.deallocate()
    }

    public var parameters: [Parameter] { [gamma, beta] }

    /// This layer in inference mode as the epilogue of the convolution before it:
    /// scale = gamma / sqrt(running var + eps), shift = beta - running mean * scale, and the
    /// fused ReLU. Saves the separate read-and-write pass over the activations.
    public func inferenceEpilogue(channels: Int) -> Epilogue {
        precondition(channels <= maxChannels, "\(gamma.name): \(channels) channels, max \(maxChannels)")
        for c in 0..<channels {
            let scale = gamma.value[c] / (runningVariance[c] + epsilon).squareRoot()
            foldScale[c] = scale
            foldShift[c] = beta.value[c] - runningMean[c] * scale
        }
        return Epilogue(scale: foldScale, shift: foldShift, relu: fusedReLU)
    }

    /// Calibration step on the output of the layer before it, in place: batch statistics
    /// (from `statistics`, sum and sum of squares per channel, when the producer computed
    /// them; otherwise one pass here), cumulative running average, normalisation (+ ReLU)
    /// written over `x`. Same result as `forward(x, mode: .calibrating)` without a second buffer.
    public func calibrateInPlace(_ x: FeatureMap, statistics: UnsafePointer<Double>?) -> FeatureMap {
        precondition(x.channels <= maxChannels, "\(gamma.name): input has \(x.channels) channels, max \(maxChannels)")
        return engine.measure(.batchNorm) {
            calibrationBatches += 1
            let factor = 1 / Float(calibrationBatches)
            let m = x.plane
            let relu = fusedReLU
            engine.chunks(x.channels, work: x.count, minWork: 1 << 15) { channels in
                for c in channels {
                    let p = x.pointer + c * m
                    let (s, q) = statistics.map { ($0[2 * c], $0[2 * c + 1]) } ?? Vector.sumAndSquares(p, count: m)
                    let mu = s / Double(m)
                    let variance = max(q / Double(m) - mu * mu, 0)
                    let mean = Float(mu), invStd = 1 / (Float(variance) + epsilon).squareRoot()
                    let unbiased = m > 1 ? Float(variance * Double(m) / Double(m - 1)) : Float(variance)
                    runningMean[c] = (1 - factor) * runningMean[c] + factor * mean
                    runningVariance[c] = (1 - factor) * runningVariance[c] + factor * unbiased
                    let scale = gamma.value[c] * invStd
                    Vector.affine(p, count: m, scale: scale, shift: beta.value[c] - mean * scale, relu: relu)
                }
            }
            savedInput = nil
            savedOutput = nil
            return x
        }
    }

    /// Running mean 0, variance 1, calibration count 0 (start of BN recalibration).
    public func resetRunningStatistics() {
        runningMean.update(repeating: 0, count: maxChannels)
        runningVariance.update(repeating: 1, count: maxChannels)
        calibrationBatches = 0
    }

    public func forward(_ x: FeatureMap, mode: Mode) -> FeatureMap {
        engine.measure(.batchNorm) { forwardBody(x, mode: mode) }
    }

    private func forwardBody(_ x: FeatureMap, mode: Mode) -> FeatureMap {
        precondition(x.channels <= maxChannels, "\(gamma.name): input has \(x.channels) channels, max \(maxChannels)")
        let y = output.featureMap(channels: x.channels, height: x.height, width: x.width, batch: x.batch,
                                   reserveChannels: maxChannels)
        let m = x.plane
        if mode == .training && frozen { return frozenForward(x, y) }
        savedFrozen = false
        let useBatch = mode != .inference
        if mode == .calibrating { calibrationBatches += 1 }
        let factor: Float = mode == .calibrating ? 1 / Float(calibrationBatches) : momentum
        let relu = fusedReLU
        if mode == .training, let sync = engine.batchStatistics {
            forwardSynchronized(x, y, sync: sync, factor: factor)
            savedInput = x
            savedOutput = y
            return y
        }
        engine.chunks(x.channels, work: x.count * 2) { channels in
            for c in channels {
                let src = x.pointer + c * m, dst = y.pointer + c * m
                var mean: Float, invStd: Float
                if useBatch {
                    let (s, q) = Vector.sumAndSquares(src, count: m)
                    let mu = s / Double(m)
                    let variance = max(q / Double(m) - mu * mu, 0)
                    mean = Float(mu)
                    invStd = 1 / (Float(variance) + epsilon).squareRoot()
                    batchMean[c] = mean
                    batchInvStd[c] = invStd
                    let unbiased = m > 1 ? Float(variance * Double(m) / Double(m - 1)) : Float(variance)
                    runningMean[c] = (1 - factor) * runningMean[c] + factor * mean
                    runningVariance[c] = (1 - factor) * runningVariance[c] + factor * unbiased
                } else {
                    mean = runningMean[c]
                    invStd = 1 / (runningVariance[c] + epsilon).squareRoot()
                }
                let scale = gamma.value[c] * invStd
                let shift = beta.value[c] - mean * scale
                BatchNorm.affine(src, dst, count: m, scale: scale, shift: shift, relu: relu)
            }
        }
        if mode == .training {
            savedInput = x
            savedOutput = y
        } else {
            savedInput = nil
            savedOutput = nil
        }
        return y
    }

    @inline(__always)
    static func affine(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count m: Int,
                       scale: Float, shift: Float, relu: Bool) {
        let vs = SIMD8<Float>(repeating: scale), vb = SIMD8<Float>(repeating: shift), zero = SIMD8<Float>()
        var j = 0
        if relu {
            while j + 8 <= m {
                var v = vb; v.addProduct(vs, UnsafeRawPointer(src + j).loadUnaligned(as: SIMD8<Float>.self))
                UnsafeMutableRawPointer(dst + j).storeBytes(of: v.replacing(with: zero, where: v .< zero), as: SIMD8<Float>.self)
                j += 8
            }
            while j < m { dst[j] = max(src[j] * scale + shift, 0); j += 1 }
        } else {
            while j + 8 <= m {
                var v = vb; v.addProduct(vs, UnsafeRawPointer(src + j).loadUnaligned(as: SIMD8<Float>.self))
                UnsafeMutableRawPointer(dst + j).storeBytes(of: v, as: SIMD8<Float>.self)
                j += 8
            }
            while j < m { dst[j] = src[j] * scale + shift; j += 1 }
        }
    }

    /// Backward of a `.training` forward: accumulates gamma/beta gradients, returns dX.
    /// With g = dY (masked by the ReLU), xhat = (x - mean) * invStd:
    /// dX = gamma * invStd / M * (M * g - sum(g) - xhat * sum(g * xhat)).
    public func backward(_ dy: FeatureMap) -> FeatureMap {
        engine.measure(.batchNorm) { backwardBody(dy) }
    }

    private func backwardBody(_ dy: FeatureMap) -> FeatureMap {
        guard let x = savedInput, let y = savedOutput else {
            preconditionFailure("\(gamma.name): backward without a training forward")
        }
        precondition(dy.sameShape(x), "\(gamma.name): gradient \(dy.shapeDescription), input \(x.shapeDescription)")
        let dx = gradInputBuffer.featureMap(channels: x.channels, height: x.height, width: x.width, batch: x.batch,
                                   reserveChannels: maxChannels)
        if savedFrozen {
            frozenBackward(x, y, dy, dx)
            return dx
        }
        let m = x.plane
        let relu = fusedReLU
        if let sync = engine.batchStatistics {
            backwardSynchronized(x, y, dy, dx, sync: sync)
        } else {
            engine.chunks(x.channels, work: x.count * 3) { channels in
                for c in channels {
                    let xs = x.pointer + c * m, ys = y.pointer + c * m, gs = dy.pointer + c * m
                    let (sumG, sumGXhat) = Self.gradientSums(xs, ys, gs, count: m, relu: relu, mean: batchMean[c], invStd: batchInvStd[c])
                    gamma.grad[c] += sumGXhat
                    beta.grad[c] += sumG
                    writeInputGradient(c, xs, ys, gs, dx.pointer + c * m, count: m, total: Float(m), sumG: sumG, sumGXhat: sumGXhat)
                }
            }
        }
        gamma.touched = true
        beta.touched = true
        return dx
    }

    /// Frozen forward: y = gamma (x − running mean) / sqrt(running var + eps) + beta (+ ReLU),
    /// then the fake quantization, if any, into a second buffer (y is kept for the masks).
    private func frozenForward(_ x: FeatureMap, _ y: FeatureMap) -> FeatureMap {
        let m = x.plane, relu = fusedReLU
        for c in 0..<x.channels {
            let invStd = 1 / (runningVariance[c] + epsilon).squareRoot()
            let scale = gamma.value[c] * invStd
            BatchNorm.affine(x.pointer + c * m, y.pointer + c * m, count: m, scale: scale, shift: beta.value[c] - runningMean[c] * scale, relu: relu)
        }
        if observedRange != nil {
            var lo = observedRange!.minimum, hi = observedRange!.maximum
            for i in 0..<y.count { lo = min(lo, y.pointer[i]); hi = max(hi, y.pointer[i]) }
            observedRange = (lo, hi)
        }
        savedInput = x
        savedOutput = y
        savedFrozen = true
        guard let fq = fakeQuantization else { return y }
        let q = quantizedOutput.featureMap(channels: x.channels, height: x.height, width: x.width, batch: x.batch, reserveChannels: maxChannels)
        for i in 0..<y.count { q.pointer[i] = fq.apply(y.pointer[i]) }
        return q
    }

    /// Frozen backward: g = dY masked by the ReLU and by the fake quantization's range (the
    /// straight-through estimator with clipping); dX = g · gamma / sigma, dgamma += Σ g · xhat,
    /// dbeta += Σ g.
    private func frozenBackward(_ x: FeatureMap, _ y: FeatureMap, _ dy: FeatureMap, _ dx: FeatureMap) {
        let m = x.plane, relu = fusedReLU
        let lower = fakeQuantization?.lower ?? -.infinity, upper = fakeQuantization?.upper ?? .infinity
        for c in 0..<x.channels {
            let invStd = 1 / (runningVariance[c] + epsilon).squareRoot(), mean = runningMean[c]
            let a = gamma.value[c] * invStd
            var sumG = 0.0, sumGXhat = 0.0
            for j in 0..<m {
                let k = c * m + j, v = y.pointer[k]
                let pass = (!relu || v > 0) && v >= lower && v <= upper
                let g = pass ? dy.pointer[k] : 0
                sumG += Double(g)
                sumGXhat += Double(g) * Double((x.pointer[k] - mean) * invStd)
                dx.pointer[k] = a * g
            }
            gamma.grad[c] += Float(sumGXhat)
            beta.grad[c] += Float(sumG)
        }
        gamma.touched = true
        beta.touched = true
    }

    /// sum(g) and sum(g * xhat) of one channel, g masked where the ReLU output is 0.
    static func gradientSums(_ xs: UnsafePointer<Float>, _ ys: UnsafePointer<Float>, _ gs: UnsafePointer<Float>, count m: Int,
                             relu: Bool, mean: Float, invStd: Float) -> (Float, Float) {
        var sg = SIMD8<Float>(), sgx = SIMD8<Float>()
        var sgd = 0.0, sgxd = 0.0
        var j = 0
        let zero = SIMD8<Float>()
        while j < m {
            let end = min(m, j + 4096)
            while j + 8 <= end {
                var g = UnsafeRawPointer(gs + j).loadUnaligned(as: SIMD8<Float>.self)
                if relu {
                    let yv = UnsafeRawPointer(ys + j).loadUnaligned(as: SIMD8<Float>.self)
                    g = zero.replacing(with: g, where: yv .> zero)
                }
                sg += g
                sgx.addProduct(g, UnsafeRawPointer(xs + j).loadUnaligned(as: SIMD8<Float>.self))
                j += 8
            }
            while j < end {
                let g = (!relu || ys[j] > 0) ? gs[j] : 0
                sg[0] += g; sgx[0] += g * xs[j]
                j += 1
            }
            sgd += Double(sg.sum()); sgxd += Double(sgx.sum())
            sg = SIMD8<Float>(); sgx = SIMD8<Float>()
        }
        return (Float(sgd), Float((sgxd - Double(mean) * sgd) * Double(invStd)))
    }

    /// dx = a * g + b * x + d for one channel, from the sums over `total` values (the
    /// process's batch, or the whole job's with synchronized statistics).
    func writeInputGradient(_ c: Int, _ xs: UnsafePointer<Float>, _ ys: UnsafePointer<Float>, _ gs: UnsafePointer<Float>,
                                    _ out: UnsafeMutablePointer<Float>, count m: Int, total: Float, sumG: Float, sumGXhat: Float) {
        let mean = batchMean[c], invStd = batchInvStd[c]
        let scale = gamma.value[c] * invStd
        let a = scale
        let b = -scale * invStd * sumGXhat / total
        let d = -scale * sumG / total - b * mean
        let va = SIMD8<Float>(repeating: a), vb = SIMD8<Float>(repeating: b), vd = SIMD8<Float>(repeating: d), zero = SIMD8<Float>()
        var j = 0
        while j + 8 <= m {
            var g = UnsafeRawPointer(gs + j).loadUnaligned(as: SIMD8<Float>.self)
            if fusedReLU {
                let yv = UnsafeRawPointer(ys + j).loadUnaligned(as: SIMD8<Float>.self)
                g = zero.replacing(with: g, where: yv .> zero)
            }
            var v = vd
            v.addProduct(va, g)
            v.addProduct(vb, UnsafeRawPointer(xs + j).loadUnaligned(as: SIMD8<Float>.self))
            UnsafeMutableRawPointer(out + j).storeBytes(of: v, as: SIMD8<Float>.self)
            j += 8
        }
        while j < m {
            let g = (!fusedReLU || ys[j] > 0) ? gs[j] : 0
            out[j] = a * g + b * xs[j] + d
            j += 1
        }
    }
}

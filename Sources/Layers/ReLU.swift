import TensorCore

/// Standalone ReLU (BatchNorm can fuse one; this is for the places that need it alone).
public final class ReLU {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var savedOutput: FeatureMap?

    public init(engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
        gradInputBuffer = scratch.gradientBuffer()
    }

    public func forward(_ x: FeatureMap, mode: Mode) -> FeatureMap {
        let y = output.featureMap(channels: x.channels, height: x.height, width: x.width, batch: x.batch)
        Elementwise.relu(x.pointer, y.pointer, count: x.count, engine: engine)
        savedOutput = mode == .training ? y : nil
        return y
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap {
        guard let y = savedOutput else { preconditionFailure("ReLU: backward without a training forward") }
        precondition(dy.sameShape(y), "ReLU: gradient \(dy.shapeDescription), output \(y.shapeDescription)")
        let dx = gradInputBuffer.featureMap(channels: y.channels, height: y.height, width: y.width, batch: y.batch)
        Elementwise.reluBackward(output: y.pointer, gradOutput: dy.pointer, gradInput: dx.pointer, count: y.count, engine: engine)
        return dx
    }
}

/// Global average pooling: [C, H, W, N] -> [C, 1, 1, N].
public final class GlobalAveragePool {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var inputShape: (channels: Int, height: Int, width: Int, batch: Int)?

    public init(engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
        gradInputBuffer = scratch.gradientBuffer()
    }

    public func forward(_ x: FeatureMap, mode: Mode) -> FeatureMap {
        let y = output.featureMap(channels: x.channels, height: 1, width: 1, batch: x.batch)
        let n = x.batch, pixels = x.height * x.width
        let inv = 1 / Float(pixels)
        engine.chunks(x.channels, work: x.count) { channels in
            for c in channels {
                let out = y.pointer + c * n
                let src = x.pointer + c * x.plane
                out.update(from: src, count: n)
                for p in 1..<max(pixels, 1) { Vector.add(src + p * n, into: out, count: n) }
                for j in 0..<n { out[j] *= inv }
            }
        }
        inputShape = mode == .training ? (x.channels, x.height, x.width, x.batch) : nil
        return y
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap {
        guard let s = inputShape else { preconditionFailure("GlobalAveragePool: backward without a training forward") }
        let dx = gradInputBuffer.featureMap(channels: s.channels, height: s.height, width: s.width, batch: s.batch)
        let n = s.batch, pixels = s.height * s.width
        let inv = 1 / Float(pixels)
        engine.chunks(s.channels, work: dx.count) { channels in
            for c in channels {
                let g = dy.pointer + c * n
                let dst = dx.pointer + c * dx.plane
                for j in 0..<n { dst[j] = g[j] * inv }
                for p in 1..<max(pixels, 1) { (dst + p * n).update(from: dst, count: n) }
            }
        }
        return dx
    }
}

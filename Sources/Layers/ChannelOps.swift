import TensorCore

// Channel split / concat / shuffle on channel-major maps. A split is free (a channel
// sub-range view, `FeatureMap.channels(_:)`); concat and shuffle copy whole planes.

/// Concatenates maps along channels: out = [a; b; ...]. Backward is free: the gradient of
/// each input is a channel slice of the output gradient.
public final class ChannelConcat {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    private let output: ScratchBuffer
    private var widths: [Int] = []

    public init(engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
    }

    public func forward(_ inputs: [FeatureMap]) -> FeatureMap {
        let first = inputs[0]
        let total = inputs.reduce(0) { $0 + $1.channels }
        let y = output.featureMap(channels: total, height: first.height, width: first.width, batch: first.batch)
        var offset = 0
        for x in inputs {
            precondition(x.height == first.height && x.width == first.width && x.batch == first.batch,
                         "concat: \(x.shapeDescription) vs \(first.shapeDescription)")
            Elementwise.copy(x.pointer, y.pointer + offset * y.plane, count: x.count, engine: engine)
            offset += x.channels
        }
        widths = inputs.map(\.channels)
        return y
    }

    public func backward(_ dy: FeatureMap) -> [FeatureMap] {
        var offset = 0
        return widths.map { w in
            defer { offset += w }
            return dy.channels(offset..<(offset + w))
        }
    }
}

/// ShuffleNet channel shuffle: view C as [groups, C/groups], transpose, flatten.
/// Output channel j * groups + i is input channel i * (C/groups) + j.
public final class ChannelShuffle {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    public let groups: Int
    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer

    public init(groups: Int = 2, engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
        gradInputBuffer = scratch.gradientBuffer()
        precondition(groups >= 1, "shuffle groups \(groups)")
        self.groups = groups
    }

    public func forward(_ x: FeatureMap) -> FeatureMap {
        precondition(x.channels % groups == 0, "shuffle: \(x.channels) channels not divisible by \(groups) groups")
        let y = output.featureMap(channels: x.channels, height: x.height, width: x.width, batch: x.batch)
        permute(from: x, to: y, inverse: false)
        return y
    }

    public func backward(_ dy: FeatureMap) -> FeatureMap {
        let dx = gradInputBuffer.featureMap(channels: dy.channels, height: dy.height, width: dy.width, batch: dy.batch)
        permute(from: dy, to: dx, inverse: true)
        return dx
    }

    private func permute(from src: FeatureMap, to dst: FeatureMap, inverse: Bool) {
        let per = src.channels / groups, plane = src.plane, g = groups
        engine.chunks(src.channels, work: src.count, minWork: 1 << 17) { outs in
            for o in outs {
                // forward: dst[j*g + i] = src[i*per + j]
                let i = o % g, j = o / g
                let a = i * per + j
                let (from, to) = inverse ? (o, a) : (a, o)
                (dst.pointer + to * plane).update(from: src.pointer + from * plane, count: plane)
            }
        }
    }
}

/// shuffle(concat(a, b), groups: 2) in one pass, for the ShuffleNetV2 stride-1 block:
/// output channel 2i is a_i, 2i+1 is b_i (a and b have equal widths). Backward splits
/// the gradient the same way, writing the `a` half straight into a caller's buffer.
public final class ChannelInterleave {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    private let output: ScratchBuffer
    private let gradSecond: ScratchBuffer

    public init(engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
        gradSecond = scratch.gradientBuffer()
    }

    public func forward(_ a: FeatureMap, _ b: FeatureMap) -> FeatureMap {
        precondition(a.sameShape(b), "interleave: \(a.shapeDescription) vs \(b.shapeDescription)")
        let y = output.featureMap(channels: 2 * a.channels, height: a.height, width: a.width, batch: a.batch)
        let plane = a.plane
        engine.chunks(y.channels, work: y.count, minWork: 1 << 17) { outs in
            for o in outs {
                let src = (o % 2 == 0 ? a : b).pointer + (o / 2) * plane
                (y.pointer + o * plane).update(from: src, count: plane)
            }
        }
        return y
    }

    /// Writes d(loss)/d(a) into `gradFirst` and returns d(loss)/d(b) (in an owned buffer).
    public func backward(_ dy: FeatureMap, gradFirst: FeatureMap) -> FeatureMap {
        let half = dy.channels / 2
        precondition(gradFirst.channels == half && gradFirst.plane == dy.plane, "interleave backward: \(gradFirst.shapeDescription) for \(dy.shapeDescription)")
        let db = gradSecond.featureMap(channels: half, height: dy.height, width: dy.width, batch: dy.batch)
        let plane = dy.plane
        engine.chunks(dy.channels, work: dy.count, minWork: 1 << 17) { ins in
            for o in ins {
                let dst = (o % 2 == 0 ? gradFirst : db).pointer + (o / 2) * plane
                dst.update(from: dy.pointer + o * plane, count: plane)
            }
        }
        return db
    }
}
